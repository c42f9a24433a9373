"""What runs a stage: the backends (local processes, Docker containers) and their helpers.

The house is moving here (see the open layout issue); modules that are new go here from the start.
"""
