"""Measuring one stage: the window (sign-in, warm-up, the measured load, telemetry around it)
and what is checked after it (acknowledged writes against the database)."""
