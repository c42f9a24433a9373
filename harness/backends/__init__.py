"""Where a stage runs: the backend interface (base), local processes, Docker containers, Swarm
services, the choice among them, and what they share (the embedded PostgreSQL, cgroups, images,
compose, the wire's container, the load path)."""
