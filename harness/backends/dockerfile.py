"""The Dockerfile, derived from the stage manifests: one target per stage, `FROM` the stage it
extends (or the one before it in the ladder: a stage may import the code of those before it) and
adding its own folder, between the runtime every stage shares and the wire's and the
load's targets. A stage is its folder: `harness images` builds from this rendering (a new stage's
target exists as soon as its manifest does), and the committed Dockerfile is the same text for
`docker build --target <stage> .` by hand (a test keeps it current; `harness images --write`
rewrites it).
"""

from pathlib import Path

from harness.manifests.manifest import StageManifest
from harness.paths import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
HEAD = """# One image per stage: `docker build --target s3-pooled .`
# Targets differ only in the code the stage adds; the runtime below is shared.
#
# BASE_IMAGE: a standard Python image where a registry is reachable (the default), or the
# local Debian base that `harness images` builds with mmdebstrap where none is.
# Python packages come from wheels in .cache/wheels when present (offline builds: the
# host downloads them), else from the package index.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
COPY deploy/requirements-services.txt .cache/wheel[s] /tmp/install/
RUN python3 -m venv /opt/venv \\
 && if ls /tmp/install/*.whl >/dev/null 2>&1; then \\
      pip install --no-cache-dir --no-index --find-links /tmp/install -r /tmp/install/requirements-services.txt; \\
    else \\
      pip install --no-cache-dir -r /tmp/install/requirements-services.txt; \\
    fi \\
 && rm -rf /tmp/install
WORKDIR /app
COPY domain/ domain/
# containers never run as root
USER 10001:10001

"""
TAIL = """# The network between the tiers (harness/network/wire.py, standard library only): a container of
# its own on the stage's network, pinned to the load CPUs, outside the server budget. The swarm's
# node reader (harness/backends/node_reader.py) and the probe of a swarm's real network between the
# tiers (harness/network/probe.py beside the wire as an echo), standard library only, run from it too.
FROM runtime AS wire
COPY harness/__init__.py harness/
COPY harness/network/__init__.py harness/network/wire.py harness/network/probe.py harness/network/
COPY harness/backends/__init__.py harness/backends/node_reader.py harness/backends/

# Locust's workers as swarm services (`--backend swarm --load-processes N`): the locustfile and
# what it imports, on the runtime (the domain's seed). The master runs beside the harness.
FROM runtime AS load
USER root
COPY deploy/requirements-load.txt .cache/wheel[s] /tmp/install/
RUN if ls /tmp/install/*.whl >/dev/null 2>&1; then \\
      pip install --no-cache-dir --no-index --find-links /tmp/install -r /tmp/install/requirements-load.txt; \\
    else \\
      pip install --no-cache-dir -r /tmp/install/requirements-load.txt; \\
    fi \\
 && rm -rf /tmp/install
USER 10001:10001
COPY harness/__init__.py harness/cpu.py harness/errors.py harness/processes.py harness/
COPY harness/load/ harness/load/
"""


def _folder(stage: StageManifest) -> str:
    return stage.folder.resolve().relative_to(REPO_ROOT).as_posix()


def stage_target(stage: StageManifest, before: list[StageManifest]) -> str:
    """`FROM <the stage it extends, or the one before it> AS <id>` and its folder (and the stages
    package, for the first stage of the ladder to live in it)."""
    folder = _folder(stage)
    lines = [f"FROM {stage.extends or (before[-1].id if before else 'runtime')} AS {stage.id}"]
    if folder.startswith("stages/") and not any(_folder(b).startswith("stages/") for b in before):
        lines.append("COPY stages/__init__.py stages/")
    lines.append(f"COPY {folder}/ {folder}/")
    return "\n".join(lines)


def render(stages: list[StageManifest]) -> str:
    """The Dockerfile for `stages` (this repository's, in ladder order)."""
    targets = []
    for index, stage in enumerate(stages):
        if stage.beyond_case_study and (index == 0 or not stages[index - 1].beyond_case_study):
            targets.append("# beyond the case study: each rung adds its folder to the one it extends")
        targets.append(stage_target(stage, stages[:index]) + "\n")
    return HEAD + "\n".join(targets) + "\n" + TAIL.rstrip("\n") + "\n"


def is_current(stages: list[StageManifest], path: Path = DOCKERFILE) -> bool:
    return path.is_file() and path.read_text() == render(stages)


def write(stages: list[StageManifest], path: Path = DOCKERFILE) -> Path:
    path.write_text(render(stages))
    return path
