"""A variant of a service as a rung of the run (harness.manifests.rung): named by its ref and
commit, its tree in the run's own folder, its environment and its database template made the
first time it starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.service.environments import ServiceEnvironment
from harness.service.variants import VariantSource


@dataclass(frozen=True)
class ServiceEdge:
    name: str
    port: int


@dataclass
class ServiceVariant:
    source: VariantSource
    order: int
    edge: ServiceEdge
    tree: Path  # the variant's copy of the repository (or folder)
    root: Path  # where the service runs from in it (the service file's `root`)
    environment: ServiceEnvironment | None = None
    template: str | None = None  # its database after the set-up commands, which every measurement copies
    failed: str | None = None  # why its set-up failed (it is not tried twice)

    @property
    def id(self) -> str:
        return self.source.id

    @property
    def title(self) -> str:
        return self.source.subject

    @property
    def fix(self) -> str:
        """What the variant is: the commit's first line (what the change says it does)."""
        where = f"{self.source.spec} at {self.source.commit[:10]}" if self.source.commit else self.source.subject
        return f"{self.source.subject} ({where})" if self.source.commit else f"the folder {where}"

    @property
    def removes(self) -> str:
        return ""

    @property
    def part(self) -> str:
        return "case-study"  # one line of variants: no rung is beyond another's story

    @property
    def services(self) -> list[ServiceEdge]:
        return [self.edge]

    @property
    def beyond_case_study(self) -> bool:
        return False

    def record(self) -> dict[str, Any]:
        return {**self.source.record(), "tree": str(self.tree),  # where its own code ran from (the profile's layer)
                "environment": self.environment.record() if self.environment else None}
