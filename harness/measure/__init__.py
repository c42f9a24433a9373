"""Measuring one stage: the window (sign-in, warm-up, the measured load, telemetry around it),
what is read beside it (the host's speed, where the stage waits, PostgreSQL's counters, a py-spy
profile) and what is checked after it (acknowledged writes against the database)."""
