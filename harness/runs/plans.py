"""A run's options, validated, as the plan it runs: the command line's choices, checked before
anything starts (one line for bad input), and the backend chosen."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import interrupts
from harness.backends.base import Backend
from harness.backends.choice import choose_backend
from harness.backends.registry import AUTO, entry
from harness.cpu import CpuBudget
from harness.errors import OptionError
from harness.load.shape import DEFAULT_SHAPE, QUICK_SHAPE, LoadShape
from harness.manifests.manifest import all_stages, select
from harness.manifests.rung import Rung
from harness.measure.idle import IdleCheck
from harness.measure.profiler import py_spy
from harness.network.emulator import DEFAULT_RTT_MS, NetworkPlan
from harness.runs.capacity import CapacityPlan
from harness.runs.ladder import SAME_TRAFFIC_BY_DEFAULT, RunPlan


@dataclass(frozen=True)
class RunOptions:
    """What a ladder run (run-all, rtt-sweep) is asked for, as the command line gave it; the
    plan functions validate it. The flags' names live in cli.py only."""
    stages: list[str] | None = None
    quick: bool = False
    users: int | None = None
    duration: float | None = None
    warmup: float | None = None
    backend: str = "auto"
    server_cpus: str | None = None
    load_cpus: str | None = None
    cpu_quota: float | None = None
    repeat: int = 1
    idle_threshold: float = 15.0
    idle_timeout: float = 30.0
    ceiling: bool = True
    load_processes: int = 1
    rtt_ms: float = DEFAULT_RTT_MS
    rate: float = 0.0
    same_traffic: bool | None = None
    same_traffic_rate: float | None = None
    profiled: bool = False
    # your own service (its service file, or the folder holding it) and its variants (refs or folders)
    service: Path | None = None
    variants: list[str] | None = None

    @property
    def network(self) -> NetworkPlan:
        return NetworkPlan(self.rtt_ms)


def ladder_plan(options: RunOptions, say: Callable[[str], None]) -> RunPlan:
    """The options of a ladder run (run-all, rtt-sweep), validated, as a RunPlan (a service's
    variants: harness.service.plan)."""
    if options.variants:
        raise OptionError("{0} names a service's variants: give the service with {1}", "variants", "service")
    selected = select(all_stages(), options.stages)
    budget, shape = checked(options, say)
    chosen = choose_backend(options.backend, selected, say, options.network, options.profiled)
    return planned(options, selected, budget, shape, chosen)


def checked(options: RunOptions, say: Callable[[str], None], users: int | None = None,
            mix: str = "saas") -> tuple[CpuBudget, LoadShape]:
    """The budget and the load the options ask for, each option checked (one line for bad input);
    `users`: the subject's own default number of users."""
    if options.same_traffic_rate is not None and options.same_traffic_rate <= 0:
        raise OptionError(f"{{0}} must be positive, got {options.same_traffic_rate:g}", "same_traffic_rate")
    if options.profiled:
        py_spy()  # missing: one line now, not a failed stage later
    base = QUICK_SHAPE if options.quick else DEFAULT_SHAPE
    shape = LoadShape(users=options.users if options.users is not None else users or base.users,
                          warmup=options.warmup if options.warmup is not None else base.warmup,
                          duration=options.duration if options.duration is not None else base.duration,
                          processes=options.load_processes, rate=options.rate, mix=mix)
    budget = CpuBudget.from_options(options.server_cpus, options.load_cpus, options.cpu_quota)
    if options.load_processes > len(budget.load):
        if options.backend == AUTO or not entry(options.backend).load_elsewhere:
            raise OptionError(f"{{0}} {options.load_processes} needs as many load CPUs; the load has "
                              f"{len(budget.load)} ({budget.as_record()['load_cpus']})", "load_processes")
        # its workers run on the load nodes: those on this one share its load CPUs
        say(f"load: {options.load_processes} workers on the nodes labelled ladder.tier=load; on this host they "
            f"share {len(budget.load)} load CPU(s) ({budget.as_record()['load_cpus']}), and the generator's share "
            "of them is in every verdict")
    if options.idle_timeout < 0 or not 0 < options.idle_threshold <= 100:
        raise OptionError("{0} must be in (0, 100] and {1} not negative", "idle_threshold", "idle_timeout")
    return budget, shape


def planned(options: RunOptions, rungs: Sequence[Rung], budget: CpuBudget, shape: LoadShape, backend: Backend,
            **subject: Any) -> RunPlan:
    """The plan, once its rungs and backend are chosen (`subject`: RunPlan's subject, for a service)."""
    interrupts.install()
    same_traffic = options.same_traffic
    if same_traffic is None:
        same_traffic = SAME_TRAFFIC_BY_DEFAULT and not options.quick
    # the ceiling is a closed-loop figure (what the framework serves flat out): not part of an open run;
    # and an open run is already the same traffic
    passes = (same_traffic or options.same_traffic_rate) and not options.rate
    return RunPlan(rungs, budget, shape, backend, options.repeat,
                   IdleCheck(options.idle_threshold, options.idle_timeout), options.ceiling and not options.rate,
                   options.network, same_traffic=(options.same_traffic_rate or 0.0) if passes else None,
                   profiled=options.profiled, **subject)


def sweep_options(options: RunOptions, rtts: list[float]) -> RunOptions:
    """An RTT sweep's ladders: one repeat, no ceiling, one load process, the largest RTT's wire."""
    return replace(options, repeat=1, ceiling=False, load_processes=1, rtt_ms=max(rtts))


def capacity_plan(options: RunOptions, target_p95: float, steps: str, rates: str | None,
                  say: Callable[[str], None]) -> CapacityPlan:
    """The options of a capacity search (the run's options, and its own: the p95 target, the
    steps of users or rates), validated, as a CapacityPlan."""
    try:
        rate_steps = tuple(sorted({float(r) for r in rates.split(",")})) if rates else ()
    except ValueError:
        raise OptionError(f"{{0}} must be requests/s separated by commas, got {rates!r}", "rates") from None
    if any(r <= 0 for r in rate_steps):
        raise OptionError("{0} must be positive", "rates")
    try:
        user_steps = tuple(sorted({int(s) for s in steps.split(",")}))
    except ValueError:
        raise OptionError(f"{{0}} must be whole numbers separated by commas, got {steps!r}", "steps") from None
    if not user_steps or user_steps[0] < 1 or target_p95 <= 0:
        raise OptionError("{0} must be positive and {1} above 0", "steps", "target_p95")
    duration, warmup = options.duration or 10.0, options.warmup if options.warmup is not None else 3.0
    LoadShape(users=user_steps[0], warmup=warmup, duration=duration)  # validates the window
    selected = select(all_stages(), options.stages)
    budget = CpuBudget.from_options(options.server_cpus, options.load_cpus, options.cpu_quota)
    interrupts.install()
    return CapacityPlan(selected, budget, choose_backend(options.backend, selected, say, options.network), user_steps,
                        target_p95, warmup, duration, options.network, rate_steps)
