"""Which backend a run takes: `auto` takes the local one wherever it can — it starts in seconds,
builds no images, and measures the code with nothing of the engine's beside the budget — else
Docker; `docker` and `swarm` only for this repository's stages (the images hold nothing else)."""

from collections.abc import Callable

from harness.backends.base import Backend
from harness.errors import UserError
from harness.manifests.manifest import StageManifest
from harness.network.emulator import LOOPBACK, NetworkPlan
from harness.paths import REPO_ROOT
from harness.settings import HarnessSettings

AUTO_RULE = ("local backend: PostgreSQL is installed here, so no images to build "
             "(--backend docker runs the same stages in containers)")


def choose_backend(name: str, stages: list[StageManifest], say: Callable[[str], None],
                   network: NetworkPlan = LOOPBACK, profiled: bool = False) -> Backend:
    """The backend `name` (auto, local, docker, swarm) for `stages`; `say` gets its one line of why.
    `network` and `profiled`: what the run asks of it (a swarm refuses what its placement cannot measure)."""
    if name not in ("auto", "local", "docker", "swarm"):
        raise UserError(f"unknown backend {name!r}: use auto, local, docker or swarm")
    from harness.backends.images import docker_reachable
    from harness.backends.local import LocalBackend
    if name == "local":
        return LocalBackend()
    outside = [s.id for s in stages if not s.folder.resolve().is_relative_to(REPO_ROOT)]
    if name == "auto":
        if outside or HarnessSettings().database_url or _postgres_installed():
            say(f"local backend: {', '.join(outside)} outside this repository (the docker backend "
                "builds only its Dockerfile's targets)" if outside else AUTO_RULE)
            return LocalBackend()
        if not docker_reachable():
            raise UserError("neither PostgreSQL nor a Docker engine here: install PostgreSQL (make setup) "
                            "or start Docker")
        say("docker backend: no PostgreSQL installed here, a Docker engine reachable")
    elif outside:
        raise UserError(f"the docker backend builds only this repository's stages (its Dockerfile's targets); "
                        f"{', '.join(outside)} live outside it: use --backend local")
    def images(text: str) -> None:
        say(f"images: {text}")
    if name == "swarm":
        from harness.backends.swarm import SwarmBackend
        return SwarmBackend(stages, say=images, network=network, profiled=profiled)
    from harness.backends.docker_backend import DockerBackend
    return DockerBackend(stages, say=images)


def _postgres_installed() -> bool:
    from harness.backends.postgres import find_bindir
    try:
        find_bindir()
    except UserError:
        return False
    return True
