"""`harness capacity`: the highest throughput each stage sustains with p95 ≤ a target.

The case study's own framing ("1300 req/s at under 200 ms p95"). Each stage is started
once, then loaded at increasing numbers of concurrent users; every step is a normal
measurement (raw samples, telemetry) under stages/<id>/u<users>/, with the ladder's figures —
CPU per request, the mechanisms, the network, and what bound it — so a capacity says whether
the code's CPU, a wait, the generator or the wire set it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from harness import interrupts  # noqa: E402
from harness.backends.base import Backend  # noqa: E402
from harness.cpu import CpuBudget  # noqa: E402
from harness.errors import StageFailed, UserError  # noqa: E402
from harness.load.shape import LoadShape  # noqa: E402
from harness.manifests.manifest import StageManifest  # noqa: E402
from harness.measure.waiting import bound_note  # noqa: E402
from harness.measure.window import measure  # noqa: E402
from harness.network.emulator import LOOPBACK, NetworkPlan  # noqa: E402
from harness.reporting.analysis import budget_cpus, record  # noqa: E402
from harness.reporting.capacity_report import best_step, write_capacity_report  # noqa: E402
from harness.reporting.plots import plain_log
from harness.reporting.png import save_chart  # noqa: E402
from harness.run_folder import load_run, new_run_dir, run_header, write_json  # noqa: E402
from harness.runs.skeleton import recorded_run  # noqa: E402
from harness.settings import HarnessSettings  # noqa: E402

DEFAULT_STEPS = (2, 5, 10, 20, 40, 80, 160)


@dataclass(frozen=True)
class CapacityPlan:
    stages: list[StageManifest]
    budget: CpuBudget
    backend: Backend
    steps: tuple[int, ...] = DEFAULT_STEPS
    target_p95_ms: float = 200.0
    warmup: float = 3.0
    duration: float = 10.0
    network: NetworkPlan = LOOPBACK
    # open model: each step offers one of these rates (req/s) from a pool of max(steps) users, and
    # latency is measured from each request's due time; empty: closed-loop steps of `steps` users
    rates: tuple[float, ...] = ()


def capacity_of(steps: pd.DataFrame, target_p95_ms: float) -> dict[str, Any]:
    """The best step whose p95 meets the target (none: the stage never meets it). In the open
    model a step only counts where the generator held its rate (the stage was offered it)."""
    best = best_step(steps, target_p95_ms)
    out: dict[str, Any] = ({"capacity_rps": 0.0, "at_users": None, "p95_ms": None} if best is None else
                           {"capacity_rps": float(best["rps"]), "at_users": int(best["users"]),
                            "p95_ms": float(best["p95_ms"])})
    if "bound_by" in steps:  # what bound the capacity step (steps measured before the verdict have none)
        out["bound_by"] = None if best is None else best["bound_by"]
    return out


def step_loads(plan: CapacityPlan) -> list[tuple[int, float]]:
    """(users, offered rate) per step: users alone in the closed loop; in the open model the
    rates, each served by a pool of max(steps) users."""
    if plan.rates:
        return [(max(plan.steps), rate) for rate in plan.rates]
    return [(users, 0.0) for users in plan.steps]


def run_capacity(plan: CapacityPlan, settings: HarnessSettings,
                 say: Callable[[str], None] = lambda _: None) -> Path:
    run_dir = new_run_dir(settings.results_dir)
    run: dict[str, Any] = {
        **run_header("capacity", plan.backend.name, plan.budget.as_record()),
        "target_p95_ms": plan.target_p95_ms, "steps": list(plan.steps), "rates": list(plan.rates),
        "load": {"warmup": plan.warmup, "duration": plan.duration}, "network": plan.network.as_record(),
    }
    rows: list[dict[str, Any]] = []
    stage_now: list[str] = []
    cpus = budget_cpus(run["budget"])

    def tables() -> None:
        if rows:
            write_capacity_tables(run_dir, rows, plan.target_p95_ms)
    # the same skeleton as run-all's: complete, interrupted (in which stage), crashed
    with recorded_run(run_dir, run, where=lambda: f"capacity search of {stage_now[-1]}" if stage_now
                      else "set-up", finish=tables), plan.backend.environment(plan.budget, settings) as env:
        run["load_path"] = plan.backend.choose_load_path(
            env, LoadShape(users=max(plan.steps), warmup=plan.warmup, duration=plan.duration),
            plan.budget.load, run_dir / "load-path", settings.start_timeout_seconds)
        write_json(run_dir / "run.json", run)
        for stage in plan.stages:
            interrupts.check()
            stage_now.append(stage.id)
            stage_rows: list[dict[str, Any]] = []
            try:
                with plan.backend.stage(env, stage, run_dir / "stages" / stage.id / "logs",
                                        settings.start_timeout_seconds, plan.network) as running:
                    for users, rate in step_loads(plan):
                        out = run_dir / "stages" / stage.id / (f"r{rate:g}" if rate else f"u{users}")
                        out.mkdir(parents=True, exist_ok=True)
                        shape = LoadShape(users=users, warmup=plan.warmup, duration=plan.duration, rate=rate)
                        measure(running, env.admin_url, env.database_pids, shape,
                                    plan.budget.load, out, server_cpus=plan.budget.server)
                        stats = record(out, cpus)
                        stage_rows.append({"stage": stage.id, "order": stage.order, "users": users,
                                           "offered_rps": rate or None, **stats})
                        say(f"{stage.id}: " + (f"{rate:g} req/s offered" if rate else f"{users} users")
                            + f" → {stats['rps']:,.0f} req/s, p95 {stats['p95_ms']:,.0f} ms, "
                            + f"bound by {stats['bound_by']} ({bound_note(stats)})"
                            + ("" if stats.get("rate_held", True) else " (not offered the rate)"))
                        if stats["p95_ms"] > 4 * plan.target_p95_ms and stats["rps"] < max(
                                r["rps"] for r in stage_rows):
                            break  # past the knee: more users only add queueing
            except StageFailed as failed:
                say(f"{stage.id}: failed: {failed}")
            rows += stage_rows
            write_capacity_tables(run_dir, rows, plan.target_p95_ms)
    return run_dir


def write_capacity_tables(run_dir: Path, rows: list[dict[str, Any]], target_p95_ms: float) -> pd.DataFrame:
    steps = pd.DataFrame(rows)
    steps.to_csv(run_dir / "capacity_steps.csv", index=False, float_format="%.4g")
    return capacities(run_dir, steps, target_p95_ms)


def capacities(run_dir: Path, steps: pd.DataFrame, target_p95_ms: float) -> pd.DataFrame:
    """capacity.csv, capacity.png and report.md from the steps' table."""
    summary = pd.DataFrame([{"stage": stage, **capacity_of(group, target_p95_ms)}
                            for stage, group in steps.groupby("stage", sort=False)])
    summary.to_csv(run_dir / "capacity.csv", index=False, float_format="%.4g")
    capacity_chart(steps, summary, target_p95_ms, run_dir / "capacity.png")
    write_capacity_report(run_dir, steps, summary, target_p95_ms)
    return summary


def redraw(run_dir: Path) -> pd.DataFrame:
    """A finished capacity run drawn again from capacity_steps.csv alone: a committed run keeps
    its derived tables, not the steps' raw samples, and the steps' figures are already in it."""
    steps_csv = run_dir / "capacity_steps.csv"
    if not steps_csv.is_file():
        raise UserError(f"{run_dir}: a capacity run without capacity_steps.csv (it measured no step)")
    return capacities(run_dir, pd.read_csv(steps_csv), float(load_run(run_dir)["target_p95_ms"]))


def capacity_chart(steps: pd.DataFrame, summary: pd.DataFrame, target_p95_ms: float, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 5.5))
    caps = dict(zip(summary["stage"], summary["capacity_rps"], strict=True))
    for stage, group in steps.groupby("stage", sort=False):
        cap = caps[str(stage)]
        ax.plot(group["rps"], group["p95_ms"], marker="o", label=f"{stage} (capacity {cap:,.0f} req/s)")
        for _, r in group.iterrows():
            label = f"{r['offered_rps']:g}/s" if r.get("offered_rps") == r.get("offered_rps") and r.get(
                "offered_rps") else str(int(r["users"]))
            ax.annotate(label, (r["rps"], r["p95_ms"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(target_p95_ms, color="black", linestyle="--", linewidth=1, label=f"p95 target {target_p95_ms:g} ms")
    ax.set_yscale("log")
    plain_log(ax.yaxis)
    ax.set_xlabel("throughput (req/s)")
    ax.set_ylabel("p95 latency (ms, log)")
    ax.set_title("Throughput against p95 as the load grows (labels: concurrent users, or offered req/s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_chart(fig, path)
    plt.close(fig)
