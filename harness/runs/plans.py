"""A run's options, validated, as the plan it runs: the command line's choices, checked before
anything starts (one line for bad input), and the backend chosen."""

from collections.abc import Callable

from harness import interrupts
from harness.backends.choice import choose_backend
from harness.cpu import CpuBudget
from harness.errors import UserError
from harness.load.profile import DEFAULT_PROFILE, QUICK_PROFILE, LoadProfile
from harness.manifests.manifest import all_stages, select
from harness.measure.idle import IdleCheck
from harness.measure.profiler import py_spy
from harness.network.emulator import NetworkPlan
from harness.runs.capacity import CapacityPlan
from harness.runs.ladder import SAME_TRAFFIC_BY_DEFAULT, RunPlan


def ladder_plan(stages: list[str] | None, quick: bool, users: int | None, duration: float | None,
                warmup: float | None, backend: str, server_cpus: str | None, load_cpus: str | None,
                cpu_quota: float | None, repeat: int, idle_threshold: float, idle_timeout: float, ceiling: bool,
                load_processes: int, network: NetworkPlan, say: Callable[[str], None], rate: float = 0.0,
                same_traffic: bool | None = None, same_traffic_rate: float | None = None,
                profiled: bool = False) -> RunPlan:
    """The options of a ladder run (run-all, rtt-sweep), validated, as a RunPlan."""
    if same_traffic_rate is not None and same_traffic_rate <= 0:
        raise UserError(f"--same-traffic-rate must be positive, got {same_traffic_rate:g}")
    if profiled:
        py_spy()  # missing: one line now, not a failed stage later
    base = QUICK_PROFILE if quick else DEFAULT_PROFILE
    profile = LoadProfile(users=users if users is not None else base.users,
                          warmup=warmup if warmup is not None else base.warmup,
                          duration=duration if duration is not None else base.duration,
                          processes=load_processes, rate=rate)
    selected = select(all_stages(), stages)
    budget = CpuBudget.from_options(server_cpus, load_cpus, cpu_quota)
    if load_processes > len(budget.load):
        if backend != "swarm":
            raise UserError(f"--load-processes {load_processes} needs as many load CPUs; the load has "
                            f"{len(budget.load)} ({budget.as_record()['load_cpus']})")
        # on a swarm the workers run on the load nodes: those on this one share its load CPUs
        say(f"load: {load_processes} workers on the nodes labelled ladder.tier=load; on this host they share "
            f"{len(budget.load)} load CPU(s) ({budget.as_record()['load_cpus']}), and the generator's share "
            "of them is in every verdict")
    if idle_timeout < 0 or not 0 < idle_threshold <= 100:
        raise UserError("--idle-threshold must be in (0, 100] and --idle-timeout not negative")
    interrupts.install()
    chosen = choose_backend(backend, selected, say, network, profiled)
    if same_traffic is None:
        same_traffic = SAME_TRAFFIC_BY_DEFAULT and not quick
    # the ceiling is a closed-loop figure (what the framework serves flat out): not part of an open run;
    # and an open run is already the same traffic
    passes = (same_traffic or same_traffic_rate) and not rate
    return RunPlan(selected, budget, profile, chosen, repeat, IdleCheck(idle_threshold, idle_timeout),
                   ceiling and not rate, network, same_traffic=(same_traffic_rate or 0.0) if passes else None,
                   profiled=profiled)


def capacity_plan(stages: list[str] | None, target_p95: float, steps: str, duration: float, warmup: float,
                  backend: str, server_cpus: str | None, load_cpus: str | None, cpu_quota: float | None,
                  network: NetworkPlan, rates: str | None, say: Callable[[str], None]) -> CapacityPlan:
    """The options of a capacity search, validated, as a CapacityPlan."""
    try:
        rate_steps = tuple(sorted({float(r) for r in rates.split(",")})) if rates else ()
    except ValueError:
        raise UserError(f"--rates must be requests/s separated by commas, got {rates!r}") from None
    if any(r <= 0 for r in rate_steps):
        raise UserError("--rates must be positive")
    try:
        user_steps = tuple(sorted({int(s) for s in steps.split(",")}))
    except ValueError:
        raise UserError(f"--steps must be whole numbers separated by commas, got {steps!r}") from None
    if not user_steps or user_steps[0] < 1 or target_p95 <= 0:
        raise UserError("--steps must be positive and --target-p95 above 0")
    LoadProfile(users=user_steps[0], warmup=warmup, duration=duration)  # validates the window
    selected = select(all_stages(), stages)
    budget = CpuBudget.from_options(server_cpus, load_cpus, cpu_quota)
    interrupts.install()
    return CapacityPlan(selected, budget, choose_backend(backend, selected, say, network), user_steps, target_p95,
                        warmup, duration, network, rate_steps)
