"""What a run's rungs are of: the ladder's stages, or the variants of a service of your own
(harness.service). The run, its window and its tables are the same for both; a subject says what
differs — how each rung is verified before it is timed, which answers are acknowledged writes, and
what run.json records of it."""

from pathlib import Path
from typing import Any, Protocol

import httpx

from harness.backends.base import RunEnvironment
from harness.manifests.rung import Rung
from harness.measure.writes import LADDER_WRITES, WritesRule
from harness.verify.script import Script, Transcript


class Subject(Protocol):
    writes: WritesRule
    # the load's users (harness.load.shape.LoadShape.mix) and the path the ceiling asks for
    mix: str

    def transcript(self, client: httpx.Client, env: RunEnvironment, rung: Rung) -> Transcript:
        """Every request the rung must answer as the others do, as it answered them."""
        ...

    def before_windows(self, backend: Any, env: RunEnvironment, run_dir: Path, start_timeout: float) -> dict[str, Any]:
        """What the subject measures once before any window (a service: its statements per
        endpoint); what run.json records of it."""
        ...

    def record(self) -> dict[str, Any]:
        """What run.json keeps of the subject (none for the ladder: its stages are the run's)."""
        ...


class Ladder:
    """The case study's ladder: its request script, its exports as writes."""
    writes = LADDER_WRITES
    mix = "saas"

    def transcript(self, client: httpx.Client, env: RunEnvironment, rung: Rung) -> Transcript:
        return Script(client, env.token_secret).run(rung.id)

    def before_windows(self, backend: Any, env: RunEnvironment, run_dir: Path, start_timeout: float) -> dict[str, Any]:
        return {}  # the ladder's statements per request are verify's (harness verify)

    def record(self) -> dict[str, Any]:
        return {}


LADDER = Ladder()
