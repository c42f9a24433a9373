"""The runs a user starts: the ladder (`run-all`), the capacity search, and the sweep of what
killed runs left behind."""
