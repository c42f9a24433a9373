"""The benchmark harness: discovers the ladder, starts stages, verifies, loads, reports."""
