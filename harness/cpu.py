"""The CPU budget: which CPUs the server side and the load generator may use."""

import os
from dataclasses import dataclass
from typing import Protocol

from harness.errors import OptionError, UserError


def parse_cpus(spec: str) -> frozenset[int]:
    """`1`, `0-3`, `0,2-3` → a set of CPU numbers."""
    cpus: set[int] = set()
    try:
        for part in spec.split(","):
            lo, _, hi = part.strip().partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise UserError(f"invalid CPU list {spec!r}: use forms like 1, 0-3 or 0,2") from None
    if not cpus:
        raise UserError(f"invalid CPU list {spec!r}: empty")
    return frozenset(cpus)


def format_cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def available_cpus() -> frozenset[int]:
    return frozenset(os.sched_getaffinity(0))


@dataclass(frozen=True)
class CpuBudget:
    server: frozenset[int]
    load: frozenset[int]
    quota: float | None = None  # CPUs' worth of time for the server side (cgroup quota)

    @classmethod
    def default(cls) -> "CpuBudget":
        """Server on the last CPU, load on the others (2 cores: server 1, load 0)."""
        cpus = sorted(available_cpus())
        if len(cpus) < 2:
            return cls(server=frozenset(cpus), load=frozenset(cpus))
        return cls(server=frozenset(cpus[-1:]), load=frozenset(cpus[:-1]))

    @classmethod
    def from_options(cls, server: str | None, load: str | None, quota: float | None) -> "CpuBudget":
        default = cls.default()
        budget = cls(
            server=parse_cpus(server) if server else default.server,
            load=parse_cpus(load) if load else default.load,
            quota=quota,
        )
        budget.validate()
        return budget

    def validate(self) -> None:
        have = available_cpus()
        for role, cpus in (("server", self.server), ("load", self.load)):
            missing = cpus - have
            if missing:
                raise UserError(f"{role} CPUs {format_cpus(frozenset(missing))} do not exist here "
                                f"(available: {format_cpus(have)})")
        if self.server & self.load and len(have) > 1:
            raise UserError(f"server CPUs {format_cpus(self.server)} overlap the load generator's "
                            f"{format_cpus(self.load)}")
        if self.quota is not None and not 0 < self.quota <= len(self.server):
            raise OptionError(f"{{0}} must be in (0, {len(self.server)}] for "
                              f"{len(self.server)} server CPU(s), got {self.quota}", "cpu_quota")

    def as_record(self) -> dict[str, object]:
        return {"server_cpus": format_cpus(self.server), "load_cpus": format_cpus(self.load),
                "cpu_quota": self.quota}


def pin(cpus: frozenset[int]) -> None:
    """preexec_fn for children: children inherit the affinity, PostgreSQL backends too."""
    os.sched_setaffinity(0, cpus)


class Joinable(Protocol):
    def join(self) -> None: ...


@dataclass(frozen=True)
class ServerPlacement:
    """Where server processes run: pinned CPUs, and a quota group when one is enforced."""

    cpus: frozenset[int]
    quota_group: Joinable | None = None

    def enter(self) -> None:
        """preexec_fn: pin, then join the quota group; whatever the process forks inherits both."""
        pin(self.cpus)
        if self.quota_group is not None:
            self.quota_group.join()
