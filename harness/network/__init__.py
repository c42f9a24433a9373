"""The network between the tiers: the wire (a userspace relay adding a round-trip time to every
connection between separate hosts of a stage), its probe, and what each window measured of it."""
