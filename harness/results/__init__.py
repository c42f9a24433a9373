"""What a run leaves: its folder and files, the analysis that reads them into tables, the charts
and report drawn from those tables, and the comparison of two runs."""
