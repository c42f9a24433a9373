"""Every backend, registered in one place: its name (what `--backend` takes), where its class
lives (imported only when chosen: the docker SDK is not every run's), one line for `--help`, and
what it changes for the rest of the harness. Adding a backend is a module with a class that meets
harness.backends.base.Backend, and one entry here; nothing outside backends/ names it.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import UserError

if TYPE_CHECKING:  # the interface only: `--help` imports no backend, nor what they need (psycopg, docker)
    from harness.backends.base import Backend


@dataclass(frozen=True)
class BackendEntry:
    name: str
    target: str  # "module:Class"
    about: str
    # builds its own images of this repository's stages (a stage outside it cannot run there)
    images: bool = False
    # its load workers may run on other machines: --load-processes may exceed this host's load CPUs
    load_elsewhere: bool = False
    # with --rtt 0 its tiers may talk over a real network, which its probe measures
    real_network: bool = False
    # its services are processes of this host, on the interpreter that runs the harness
    this_interpreter: bool = False

    def load(self) -> "Callable[..., Backend]":
        module, _, name = self.target.partition(":")
        factory: Callable[..., Backend] = getattr(importlib.import_module(module), name)
        return factory


BACKENDS: dict[str, BackendEntry] = {b.name: b for b in (
    BackendEntry("local", "harness.backends.local:LocalBackend",
                 "processes on this host, pinned to the budget's CPUs, with its own PostgreSQL", this_interpreter=True),
    BackendEntry("docker", "harness.backends.docker_backend:DockerBackend",
                 "a container per service and for PostgreSQL, pinned by cpuset", images=True),
    BackendEntry("swarm", "harness.backends.swarm:SwarmBackend",
                 "Docker Swarm services placed by node label (the engine must be a swarm manager)",
                 images=True, load_elsewhere=True, real_network=True),
)}
AUTO = "auto"


def entry(name: str) -> BackendEntry:
    """The registered backend called `name` (one line naming the known ones otherwise)."""
    if name not in BACKENDS:
        raise UserError(f"unknown backend {name!r}: use {', '.join([AUTO, *BACKENDS])}")
    return BACKENDS[name]


def entry_of(backend: Any) -> BackendEntry:
    """The entry of a backend object (by its `name`)."""
    return BACKENDS[str(backend.name)]


def help_text() -> str:
    return (f"{AUTO} (local where PostgreSQL is installed, else docker), or "
            + "; ".join(f"{b.name}: {b.about}" for b in BACKENDS.values()) + ".")
