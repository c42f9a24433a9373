"""The runs a user starts: the ladder (`run-all`), the capacity search, the RTT sweep, a stage
held up for a user's own tools (`up`), the skeleton they share, and the sweep of what killed
runs left behind."""
