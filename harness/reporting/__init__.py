"""What a run's files become: its figures (each defined once, figures.py) read into tables, the
charts, report.md and report.html drawn from those tables, and the comparison of two runs. The
run's folder itself is harness/run_folder.py's."""
