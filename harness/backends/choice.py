"""Which backend a run takes: `auto` takes the local one wherever it can — it starts in seconds,
builds no images, and measures the code with nothing of the engine's beside the budget — else
Docker; a backend that builds images runs only this repository's stages (the images hold
nothing else). The backends themselves are harness.backends.registry's."""

from collections.abc import Callable

from harness.backends.base import Backend
from harness.backends.registry import AUTO, entry
from harness.errors import OptionError, UserError
from harness.manifests.manifest import StageManifest
from harness.network.emulator import LOOPBACK, NetworkPlan
from harness.paths import REPO_ROOT
from harness.settings import HarnessSettings

AUTO_RULE = ("local backend: PostgreSQL is installed here, so no images to build "
             "(--backend docker runs the same stages in containers)")


def choose_backend(name: str, stages: list[StageManifest], say: Callable[[str], None],
                   network: NetworkPlan = LOOPBACK, profiled: bool = False) -> Backend:
    """The backend `name` (auto, or one of the registry's) for `stages`; `say` gets its one line of
    why. `network` and `profiled`: what the run asks of it (a swarm refuses what its placement
    cannot measure)."""
    if name != AUTO:
        entry(name)  # an unknown name: one line, before anything is imported
    outside = [s.id for s in stages if not s.folder.resolve().is_relative_to(REPO_ROOT)]
    if name == AUTO:
        from harness.backends.images import docker_reachable
        if outside or HarnessSettings().database_url or _postgres_installed():
            say(f"local backend: {', '.join(outside)} outside this repository (the docker backend "
                "builds only its Dockerfile's targets)" if outside else AUTO_RULE)
            name = "local"
        elif not docker_reachable():
            raise UserError("neither PostgreSQL nor a Docker engine here: install PostgreSQL (make setup) "
                            "or start Docker")
        else:
            say("docker backend: no PostgreSQL installed here, a Docker engine reachable")
            name = "docker"
    chosen = entry(name)
    if chosen.images and outside:
        raise OptionError(f"the {name} backend builds only this repository's stages (its Dockerfile's targets); "
                        f"{', '.join(outside)} live outside it: use {{0}} local", "backend")

    def images(text: str) -> None:
        say(f"images: {text}")
    return chosen.load()(stages=stages, say=images, network=network, profiled=profiled)


def _postgres_installed() -> bool:
    from harness.backends.postgres import find_bindir
    try:
        find_bindir()
    except UserError:
        return False
    return True
