"""The ladder itself: stage manifests (discovered, validated, `extends` resolved), the diff
between two stages, and verify (the request script and the mechanism counters)."""
