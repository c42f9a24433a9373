"""Where the repository is: the one fact about the tree every floor needs (stages, migrations,
images, results), kept on the ground floor so that reading it imports nothing above."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # harness/paths.py → the repository
