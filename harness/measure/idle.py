"""Waiting for a quiet machine before measuring: the numbers of a noisy moment are noise."""

import time
from dataclasses import asdict, dataclass

import psutil


@dataclass(frozen=True)
class IdleCheck:
    threshold_pct: float = 15.0  # each watched CPU below this (1-second average)
    timeout_s: float = 30.0  # 0 disables the check


@dataclass(frozen=True)
class IdleResult:
    quiet: bool
    waited_s: float
    busiest_pct: float

    def as_record(self) -> dict[str, object]:
        return asdict(self)


def wait_until_idle(cpus: frozenset[int], check: IdleCheck) -> IdleResult:
    """Sample the watched CPUs each second until all are below the threshold, or time out."""
    if check.timeout_s <= 0:
        return IdleResult(quiet=True, waited_s=0.0, busiest_pct=float("nan"))
    started = time.monotonic()
    busiest = 100.0
    while True:
        per_cpu = psutil.cpu_percent(interval=1.0, percpu=True)
        busiest = max(per_cpu[c] for c in cpus if c < len(per_cpu))
        waited = time.monotonic() - started
        if busiest < check.threshold_pct:
            return IdleResult(True, round(waited, 1), busiest)
        if waited >= check.timeout_s:
            return IdleResult(False, round(waited, 1), busiest)
