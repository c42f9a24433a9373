"""Where a stage runs: the backend interface (base), local processes, Docker containers, and
what they share (the embedded PostgreSQL, cgroups, images, compose, the load path)."""
