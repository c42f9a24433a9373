"""Same behaviour in every stage: the request script each stage answers (compared across stages),
the mechanism counters per endpoint, the schema fuzzer, and the ladder's verification run."""
