"""The `harness` command: thin Typer wrappers over library functions.

UserError is caught here and only here: one line on stderr, exit code 2.

What pulls in pandas, matplotlib, the docker SDK or the stages' own code (FastAPI, SQLAlchemy) is
imported by the command that needs it, after its options are checked, not at the top: every
command, `--help` and each line of bad input paid for them before saying anything (on a host at a
third of its usual speed, `import harness.cli` took 2.9 s and a line of bad input 3.9 s; since,
0.76 s and 1.0 s).
"""

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from harness import interrupts, ownership
from harness.ladder import manifest

try:  # recent typer carries its own copy of click
    from typer._click.exceptions import UsageError as ClickUsageError
except ImportError:  # older typer runs on click itself
    from click.exceptions import UsageError as ClickUsageError  # type: ignore[assignment]
from harness.cpu import CpuBudget, format_cpus
from harness.errors import RunInterrupted, UserError
from harness.ladder.diff import stage_diff
from harness.load.profile import DEFAULT_PROFILE, QUICK_PROFILE, LoadProfile
from harness.measure import waiting
from harness.measure.idle import IdleCheck
from harness.measure.profiler import py_spy
from harness.network.emulator import DEFAULT_RTT_MS, LOOPBACK, NetworkPlan
from harness.paths import REPO_ROOT
from harness.settings import HarnessSettings

if TYPE_CHECKING:
    import pandas as pd

    from harness.backends.base import Backend
    from harness.ladder.verify_ladder import StageVerification
    from harness.runs.ladder import RunPlan

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Reproduce 'Scaling FastAPI from 180 to 1300 req/s' one fix at a time.")


def _console(stderr: bool = False) -> Console:
    """Rich's console; piped or logged (tee, CI, nohup) there is no terminal to fit, so lines and
    tables are not cut to 80 columns (an explicit COLUMNS still wins)."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=1000 if wide else None)


console = _console()
err = _console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

ServerCpus = Annotated[str | None, typer.Option(
    "--server-cpus", help="CPUs of the server side (app + PostgreSQL), e.g. 1 or 2-3. Default: the last CPU.")]
LoadCpus = Annotated[str | None, typer.Option(
    "--load-cpus", help="CPUs of the load generator, disjoint from the server's. Default: the others.")]
CpuQuota = Annotated[float | None, typer.Option(
    "--cpu-quota", help="CPU quota of the server side in CPUs (cgroups), e.g. 0.5.")]
Stages = Annotated[list[str] | None, typer.Argument(help="Stage ids (default: the whole ladder).")]
Rtt = Annotated[float, typer.Option(
    "--rtt", help="Round-trip time in ms between the tiers (edge, services, PostgreSQL each on a host of its "
    "own), emulated on the load CPUs; 0: loopback.")]


def _ladder() -> list[manifest.StageManifest]:
    return manifest.discover(extra=HarnessSettings().extra_stage_dirs())


def user_errors(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except RunInterrupted as stop:
            err.print(f"interrupted in {stop.where}; everything it started is stopped, what it measured "
                      f"is in {stop.run_dir}/", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None
        except KeyboardInterrupt:
            err.print("interrupted; everything it started is stopped", highlight=False)
            raise typer.Exit(130) from None
    return wrapper  # type: ignore[return-value]


@app.command("list")
@user_errors
def list_stages() -> None:
    """Print the ladder: id, title, the fix, number of services."""
    table = Table("#", "id", "title", "fix", "services")
    for stage in _ladder():
        table.add_row(str(stage.order), stage.id, stage.title, stage.fix, str(len(stage.services)))
    console.print(table)


@app.command()
@user_errors
def diff(a: str, b: str) -> None:
    """Show the code that changes between stage A and stage B."""
    first, second = manifest.select(_ladder(), [a, b]) if a != b else (None, None)
    if first is None or second is None:
        raise UserError("diff needs two different stages")
    by_id = {s.id: s for s in (first, second)}
    sys.stdout.write(stage_diff(by_id[a], by_id[b]))


@app.command()
@user_errors
def verify(
    stages: Stages = None,
    server_cpus: ServerCpus = None,
    load_cpus: LoadCpus = None,
    calls: Annotated[int, typer.Option(min=0, help="Requests per endpoint for the mechanism counters (0: skip).")] = 5,
    fuzz: Annotated[int, typer.Option(
        min=0, help="Also fuzz each stage's public API with schemathesis: examples per operation and mode "
        "(positive and negative; no 5xx, answers as the schema declares). 0: no fuzzing.")] = 0,
) -> None:
    """Start each stage on a fresh database, run the request script, compare all stages."""
    selected = manifest.select(_ladder(), stages)
    budget = CpuBudget.from_options(server_cpus, load_cpus, None)
    interrupts.install()

    from harness.ladder.verify_ladder import verify_ladder

    def progress(result: "StageVerification") -> None:
        mark = "[green]ok[/]" if not result.problems else "[red]FAILED[/]"
        fuzzed = f" (fuzz: {result.fuzz.summary})" if result.fuzz is not None else ""
        console.print(f"{result.stage.id}: {mark}{fuzzed}", highlight=False)
        for problem in result.problems:
            console.print(f"  - {problem}", highlight=False)

    outcome = verify_ladder(selected, budget, HarnessSettings(), calls, progress, fuzz)
    if calls:
        console.print(mechanism_table(outcome.stages))
    for difference in outcome.differences:
        console.print(f"[red]difference:[/] {difference}", highlight=False)
    if outcome.ok:
        console.print(f"[green]verify: {len(selected)} stage(s) behave identically[/]")
    else:
        raise typer.Exit(1)


def mechanism_table(results: "list[StageVerification]") -> Table:
    table = Table("stage", "endpoint", "hops/req", "DB sessions/req", "statements/req", "loop blocked",
                  title="mechanism counters (per request, sequential calls; loop blocked: a /healthz's wait "
                  "beside 8 concurrent dashboards, as a share of their time)")
    for result in results:
        for c in result.counters:
            statements = "n/a" if c.statements is None else f"{c.statements:g}"
            blocked = "" if c.blocked is None else f"{c.blocked:.2f}"
            table.add_row(result.stage.id, c.endpoint, f"{c.hops:g}", f"{c.db_sessions:g}", statements, blocked)
        table.add_section()
    return table


class RichProgress:
    """Stage i/n, phase, time left; one line per finished stage."""

    def __init__(self) -> None:
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
                            console=console, transient=True)
        self.task = self.bar.add_task("starting", total=None)
        self.prefix = ""

    def __enter__(self) -> "RichProgress":
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def stage(self, index: int, total: int, stage_id: str) -> None:
        self.prefix = f"stage {index}/{total} {stage_id}"

    def phase(self, name: str, seconds_left: float | None = None) -> None:
        text = f"{self.prefix} — {name}" + (f" ({seconds_left:.0f} s left)" if seconds_left else "")
        self.bar.update(self.task, description=text)

    def stage_done(self, stage_id: str, row: dict[str, Any] | None, error: str | None) -> None:
        if row is None:
            # StageFailed messages lead with the stage id (they also stand alone in stage.json and logs);
            # the line already names the stage, so it is not printed twice.
            reason = (error or "").removeprefix(f"{stage_id}: ")
            console.print(f"[red]✗ {stage_id}[/]: {reason}", highlight=False, soft_wrap=True)
        else:
            before = int(row.get("failures_before_window") or 0)
            speed = row.get("host_speed", float("nan"))
            p95 = f"p95 {row['p95_ms']:,.0f} ms" if row["p95_ms"] == row["p95_ms"] else "no request answered"
            console.print(f"[green]✓ {stage_id}[/]: {row['rps']:,.0f} req/s, {p95}, "
                          + f"bound by {row.get('bound_by', '?')} ({waiting.bound_note(row)}), "
                          + open_note(row)
                          + f"{int(row['failures'])} failures" + (f" (+{before} before the window)" if before else "")
                          + (f"; host speed {speed:,.0f} units/s" if speed == speed else "")
                          + network_note(row), highlight=False, soft_wrap=True)


def open_note(row: dict[str, Any]) -> str:
    """'of 150 offered (149 sent, 0 late, 0 unanswered), ' for a measurement of the open model."""
    offered = row.get("offered_rps")
    if not offered or offered != offered:
        return ""
    note = (f"of {offered:,.0f} offered ({row['sent_rps']:,.0f} sent, {int(row['late_starts'])} late starts, "
            f"{int(row.get('dropped', 0))} dropped, {int(row['unanswered'])} unanswered)")
    return note + (", " if row.get("rate_held", True) else " [red]— NOT OFFERED THE RATE[/], ")


def network_note(row: "dict[str, Any] | pd.Series") -> str:
    """'; wire 1 ms asked, 1.02 added (1.12 through it), 9 % CPU, 31 round trips/req' (flagged when not held)."""
    rtt = row.get("rtt_ms", 0.0)
    if not rtt or rtt != rtt:
        return ""
    added, through = row.get("net_added_ms", float("nan")), row.get("net_rtt_ms", float("nan"))
    trips = (row.get("db_rtts_per_req", 0.0) or 0.0) + (row.get("hop_rtts_per_req", 0.0) or 0.0)
    note = (f"; wire {rtt:g} ms asked, {added:.2f} added ({through:.2f} through it), "
            f"{row.get('net_cpu_pct', 0.0):.0f} % CPU, {trips:.0f} round trips/req")
    return note if bool(row.get("net_held", True)) else note + " [red]— NOT HELD: not comparable[/]"


def summary_table(run_dir: Path) -> Table:
    from harness.results.analysis import read_summary
    summary = read_summary(run_dir)
    table = Table("stage", "status", "req/s", "p50 ms", "p95 ms", "p99 ms", "failures", "CPU-s/1k",
                  "gen CPU %", "bound by", "hops", "DB sess.", "stmts", "RTT ms", "RTTs/req",
                  title=f"results/{run_dir.name}")
    for _, r in summary.iterrows():
        def f(v: Any, d: int = 0) -> str:
            return "" if v != v else f"{v:,.{d}f}"  # NaN-safe
        before = r.get("failures_before_window", 0)
        failures = f(r["failures"]) + (f" (+{before:,.0f} before)" if before == before and before > 0 else "")
        table.add_row(r["stage"], r["status"], f(r["rps"]), f(r["p50_ms"]), f(r["p95_ms"]), f(r["p99_ms"]),
                      failures, f(r["cpu_s_per_1k"], 2), f(r["gen_cpu_pct"]),
                      r["bound_by"] if isinstance(r.get("bound_by"), str) else "",
                      f(r["hops_per_req"], 1),
                      f(r["db_sessions_per_req"], 2), f(r["statements_per_req"], 1), rtt_cell(r),
                      f(r.get("db_rtts_per_req", float("nan")) + r.get("hop_rtts_per_req", float("nan"))))
    return table


def rtt_cell(r: "pd.Series") -> str:
    """'1→1.02' (asked→added), '1→1.4 !' when the wire did not hold it, '0' on loopback."""
    rtt = r.get("rtt_ms", 0.0)
    if not rtt or rtt != rtt:
        return "0"
    measured = r.get("net_added_ms", float("nan"))
    return f"{rtt:g}→{measured:.2f}" + ("" if bool(r.get("net_held", True)) else " !")


# Why `auto` takes the local backend wherever it can: it starts in seconds, builds no images, and
# measures the code with nothing of the engine's beside the budget (docs/runs.md: how close the
# docker backend comes, and why it once did not)
AUTO_RULE = ("local backend: PostgreSQL is installed here, so no images to build "
             "(--backend docker runs the same stages in containers)")


def choose_backend(name: str, stages: list[manifest.StageManifest], network: NetworkPlan = LOOPBACK) -> "Backend":
    if name not in ("auto", "local", "docker", "swarm"):
        raise UserError(f"unknown backend {name!r}: use auto, local, docker or swarm")
    from harness.backends.base import LocalBackend
    from harness.backends.images import docker_reachable
    if name == "local":
        return LocalBackend()
    outside = [s.id for s in stages if not s.folder.resolve().is_relative_to(REPO_ROOT)]
    if name == "auto":
        if outside or HarnessSettings().database_url or _postgres_installed():
            console.print(f"local backend: {', '.join(outside)} outside this repository (the docker backend "
                          "builds only its Dockerfile's targets)" if outside else AUTO_RULE, highlight=False)
            return LocalBackend()
        if not docker_reachable():
            raise UserError("neither PostgreSQL nor a Docker engine here: install PostgreSQL (make setup) "
                            "or start Docker")
        console.print("docker backend: no PostgreSQL installed here, a Docker engine reachable", highlight=False)
    elif outside:
        raise UserError(f"the docker backend builds only this repository's stages (its Dockerfile's targets); "
                        f"{', '.join(outside)} live outside it: use --backend local")
    say = lambda text: console.print(f"images: {text}", highlight=False)  # noqa: E731
    if name == "swarm":
        from harness.backends.swarm import SwarmBackend
        return SwarmBackend(stages, say=say)
    from harness.backends.docker_backend import DockerBackend
    return DockerBackend(stages, say=say)


def _postgres_installed() -> bool:
    from harness.backends.postgres import find_bindir
    try:
        find_bindir()
    except UserError:
        return False
    return True


@app.command()
@user_errors
def images(
    stages: Stages = None,
    offline: Annotated[bool | None, typer.Option(
        "--offline/--registry", help="Force the local Debian base (or the standard images).")] = None,
) -> None:
    """Build the per-stage images (and, without a registry, the local Debian base)."""
    from harness.backends.images import build_stage_images
    built = build_stage_images(manifest.select(_ladder(), stages), lambda t: console.print(t, highlight=False),
                               offline)
    console.print(f"base {built.base}, postgres {built.postgres}", highlight=False)


@app.command()
@user_errors
def compose(
    check: Annotated[bool, typer.Option("--check", help="Only check docker-compose.yml is up to date.")] = False,
) -> None:
    """Write docker-compose.yml (one profile per stage) from the manifests."""
    from harness.backends import compose as compose_file
    ladder = _ladder()
    if check:
        if not compose_file.is_current(ladder):
            raise UserError("docker-compose.yml is out of date with the manifests: run `harness compose`")
        console.print("docker-compose.yml is up to date")
        return
    console.print(f"wrote {compose_file.write(ladder)}", highlight=False)


@app.command("run-all")
@user_errors
def run_all_command(
    stages: Annotated[list[str] | None, typer.Option(
        "--stages", help="Stage ids to run (repeatable or comma-separated; default: all).")] = None,
    quick: Annotated[bool, typer.Option(
        "--quick", help="Short profile for CI: few users, seconds-long windows.")] = False,
    users: Annotated[int | None, typer.Option(help="Concurrent users (no think time).")] = None,
    duration: Annotated[float | None, typer.Option(help="Measured seconds per stage.")] = None,
    warmup: Annotated[float | None, typer.Option(help="Warm-up seconds per stage, excluded from the stats.")] = None,
    backend: Annotated[str, typer.Option(
        help="auto (local where PostgreSQL is installed, else Docker), local, docker, or swarm "
             "(the stage's tiers as Docker Swarm services; the engine must be a swarm manager).")] = "auto",
    server_cpus: ServerCpus = None,
    load_cpus: LoadCpus = None,
    cpu_quota: CpuQuota = None,
    repeat: Annotated[int, typer.Option(
        min=1, help="Measure each stage N times, stages interleaved between repeats.")] = 1,
    idle_threshold: Annotated[float, typer.Option(
        help="Before each measurement, wait until every budget and load CPU is below this % busy.")] = 15.0,
    idle_timeout: Annotated[float, typer.Option(
        help="Give up waiting for a quiet machine after this many seconds (recorded; 0: no check).")] = 30.0,
    ceiling: Annotated[bool, typer.Option(
        help="Also measure static JSON on the last stage: what the framework serves on this budget.")] = True,
    load_processes: Annotated[int, typer.Option(
        help="Locust processes (--processes: a master and N workers), at most one per load CPU.")] = 1,
    rtt: Rtt = DEFAULT_RTT_MS,
    rate: Annotated[float, typer.Option(
        help="Open model: offer every stage this many requests/s whatever its responses (latency from each "
        "request's due time; --users is the pool that serves it). 0: closed loop.")] = 0.0,
    same_traffic: Annotated[bool | None, typer.Option(
        help="After the ladder, every stage again under the same arrivals (open model) at one rate: 70 % of "
        "the last stage's closed-loop throughput, or --same-traffic-rate. Default: on, off with --quick.",
        show_default=False)] = None,
    same_traffic_rate: Annotated[float | None, typer.Option(
        help="The same-traffic pass's rate in requests/s (default: by the rule above).")] = None,
    profile: Annotated[bool, typer.Option(
        "--profile", help="Also measure each stage with py-spy attached to every service (on the load CPUs): "
        "CPU per request by layer and function (layers.csv, functions.csv, speedscope files), and the "
        "profiler's own cost, beside the plain measurement.")] = False,
) -> None:
    """Measure the whole ladder under one CPU budget; write results/<run>/."""
    if same_traffic_rate is not None and same_traffic_rate <= 0:
        raise UserError(f"--same-traffic-rate must be positive, got {same_traffic_rate:g}")
    plan = ladder_plan(stages, quick, users, duration, warmup, backend, server_cpus, load_cpus, cpu_quota, repeat,
                       idle_threshold, idle_timeout, ceiling, load_processes, NetworkPlan(rtt), rate)
    from harness.runs.ladder import SAME_TRAFFIC_BY_DEFAULT, run_all
    if same_traffic is None:
        same_traffic = SAME_TRAFFIC_BY_DEFAULT and not quick
    if (same_traffic or same_traffic_rate) and not rate:  # an open run is already the same traffic
        plan = replace(plan, same_traffic=same_traffic_rate or 0.0)
    if profile:
        py_spy()  # missing: one line now, not a failed stage later
        plan = replace(plan, profiled=True)
    describe_plan(plan)
    with RichProgress() as progress:
        run_dir = run_all(plan, HarnessSettings(), progress)
    console.print(summary_table(run_dir))
    console.print(f"results: {run_dir}/ (summary.csv, report.md, ladder.png)", highlight=False)
    from harness.results.analysis import read_summary
    if (read_summary(run_dir)["status"] != "ok").any():
        raise typer.Exit(1)


def ladder_plan(stages: list[str] | None, quick: bool, users: int | None, duration: float | None,
                warmup: float | None, backend: str, server_cpus: str | None, load_cpus: str | None,
                cpu_quota: float | None, repeat: int, idle_threshold: float, idle_timeout: float, ceiling: bool,
                load_processes: int, network: NetworkPlan, rate: float = 0.0) -> "RunPlan":
    """The options of a ladder run (run-all, rtt-sweep), validated, as a RunPlan."""
    base = QUICK_PROFILE if quick else DEFAULT_PROFILE
    profile = LoadProfile(users=users if users is not None else base.users,
                          warmup=warmup if warmup is not None else base.warmup,
                          duration=duration if duration is not None else base.duration,
                          processes=load_processes, rate=rate)
    selected = manifest.select(_ladder(), stages)
    budget = CpuBudget.from_options(server_cpus, load_cpus, cpu_quota)
    if load_processes > len(budget.load):
        raise UserError(f"--load-processes {load_processes} needs as many load CPUs; the load has "
                        f"{len(budget.load)} ({budget.as_record()['load_cpus']})")
    if idle_timeout < 0 or not 0 < idle_threshold <= 100:
        raise UserError("--idle-threshold must be in (0, 100] and --idle-timeout not negative")
    interrupts.install()
    chosen = choose_backend(backend, selected, network)
    from harness.runs.ladder import RunPlan
    # the ceiling is a closed-loop figure (what the framework serves flat out): not part of an open run
    return RunPlan(selected, budget, profile, chosen, repeat, IdleCheck(idle_threshold, idle_timeout),
                   ceiling and not rate, network)


def describe_plan(plan: "RunPlan") -> None:
    budget, profile, network = plan.budget.as_record(), plan.profile, plan.network
    console.print(f"backend [bold]{plan.backend.name}[/]; server CPUs {budget['server_cpus']}, "
                  f"load CPUs {budget['load_cpus']}; "
                  + (f"{profile.rate:g} req/s offered (open model, a pool of {profile.users} users), " if profile.rate
                     else f"{profile.users} users, ")
                  + f"{profile.warmup:g} s warm-up, {profile.duration:g} s measured per stage; "
                  + (f"{network.rtt_ms:g} ms RTT between the tiers" if network.on else "loopback between the tiers")
                  + (f", {profile.processes} locust processes" if profile.processes > 1 else "")
                  + ("; each stage also profiled (py-spy)" if plan.profiled else "")
                  + ("; then every stage under the same arrivals (open model)" if plan.same_traffic is not None
                     else ""), highlight=False)
    if plan.backend.name == "local":
        from harness import interpreter
        record = interpreter.this_interpreter()
        note = interpreter.different_build_note(record)
        console.print(note or f"services run on {interpreter.summary(record)}", style="yellow" if note else "dim",
                      highlight=False)


@app.command("rtt-sweep")
@user_errors
def rtt_sweep_command(
    rtts: Annotated[str, typer.Option(help="RTTs in ms between the tiers, comma-separated (0: loopback).")
                    ] = "0,0.5,1,2,5",
    stages: Annotated[list[str] | None, typer.Option(
        "--stages", help="Stage ids to run (repeatable or comma-separated; default: all).")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Short profile: few users, seconds-long windows.")] = False,
    users: Annotated[int | None, typer.Option(help="Concurrent users (no think time).")] = None,
    duration: Annotated[float | None, typer.Option(help="Measured seconds per stage.")] = None,
    warmup: Annotated[float | None, typer.Option(help="Warm-up seconds per stage.")] = None,
    backend: Annotated[str, typer.Option(help="auto, local or docker (docker: --rtts 0 only).")] = "auto",
    server_cpus: ServerCpus = None,
    load_cpus: LoadCpus = None,
    cpu_quota: CpuQuota = None,
    idle_threshold: Annotated[float, typer.Option(help="Idle check: every CPU below this % busy.")] = 15.0,
    idle_timeout: Annotated[float, typer.Option(help="Idle check: give up after this many seconds.")] = 30.0,
) -> None:
    """The ladder at several RTTs between the tiers: when each fix starts to pay, and why."""
    from harness.runs.rtt_sweep import parse_rtts, run_sweep
    rtt_list = parse_rtts(rtts)
    plan = ladder_plan(stages, quick, users, duration, warmup, backend, server_cpus, load_cpus, cpu_quota, 1,
                       idle_threshold, idle_timeout, False, 1, NetworkPlan(max(rtt_list)))
    describe_plan(plan)

    with RichProgress() as progress:
        sweep_dir = run_sweep(plan, rtt_list, HarnessSettings(), lambda rtt: progress,
                              lambda text: console.print(f"[bold]{text}[/]", highlight=False))
    console.print((sweep_dir / "sweep.md").read_text(), highlight=False, soft_wrap=True)
    console.print(f"results: {sweep_dir}/ (sweep.csv, steps.csv, sweep.png, sweep.md; rtt-<ms>/ per ladder)",
                  highlight=False)


RunDir = Annotated[Path, typer.Argument(help="A results folder, e.g. results/reference.")]


@app.command()
@user_errors
def plot(run: RunDir) -> None:
    """Redraw the tables and charts of a results folder without rerunning (a sweep's too)."""
    _redraw(run)


@app.command()
@user_errors
def report(run: RunDir) -> None:
    """Rewrite report.md (and its tables and charts) from a results folder."""
    if _redraw(run) == "ladder" and (run / "stages").is_dir():
        console.print(summary_table(run))


def _redraw(run: Path) -> str:
    """Tables, charts and report of a results folder drawn again, by the run's kind; the kind."""
    from harness.runs.ladder import finish
    kind = _run_kind(run)
    if kind == "capacity":
        from harness.runs.capacity import redraw
        redraw(run)
        console.print(f"redrawn: {run}/capacity.csv, capacity.png, report.md", highlight=False)
    elif kind == "up":
        raise UserError(f"{run} is a `harness up` session: it holds logs, not measurements, so nothing to draw")
    elif kind == "rtt-sweep":
        from harness.runs.rtt_sweep import finish_sweep
        for ladder in sorted(p for p in run.glob("rtt-*") if (p / "run.json").is_file()):
            finish(ladder)
        finish_sweep(run)
        console.print(f"redrawn: {run}/sweep.csv, steps.csv, sweep.png, sweep.md and every rtt-*/", highlight=False)
    else:
        finish(run)
        console.print(f"redrawn: {run}/ladder.png, latency.png, mechanisms.png", highlight=False)
    return kind


def _run_kind(run: Path) -> str:
    """What made a results folder (run.json's kind; runs from before it was recorded are ladders)."""
    from harness.results.files import load_run
    return str(load_run(run).get("kind", "ladder"))


@app.command()
@user_errors
def up(
    stage: Annotated[str, typer.Argument(help="The stage to bring up, e.g. s5-optimized.")],
    server_cpus: ServerCpus = None,
    load_cpus: LoadCpus = None,
    cpu_quota: CpuQuota = None,
    rtt: Rtt = DEFAULT_RTT_MS,
) -> None:
    """One stage up as a run starts it (fresh database, budget, network), on the local backend,
    until Ctrl-C; prints its URL, who can sign in and commands to load or profile it."""
    from harness.runs.up import up as hold_stage
    (chosen,) = manifest.select(_ladder(), [stage])
    budget = CpuBudget.from_options(server_cpus, load_cpus, cpu_quota)
    network = NetworkPlan(rtt)
    interrupts.install()
    console.print(f"starting {chosen.id} (local backend; server CPUs {format_cpus(budget.server)}, "
                  + (f"{network.rtt_ms:g} ms RTT between the tiers" if network.on else "loopback") + ") …",
                  highlight=False)
    try:
        hold_stage(chosen, budget, network, HarnessSettings(),
                   lambda line: console.print(line, highlight=False, soft_wrap=True))
    except RunInterrupted as stop:  # Ctrl-C is how a held stage ends: said plainly, still 130
        err.print(f"stopped {chosen.id}; everything it started is stopped; logs in {stop.run_dir}/logs",
                  highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None


@app.command()
@user_errors
def capacity(
    stages: Annotated[list[str] | None, typer.Option("--stages", help="Stage ids (default: all).")] = None,
    target_p95: Annotated[float, typer.Option(help="p95 target in ms.")] = 200.0,
    steps: Annotated[str, typer.Option(help="Concurrent users per step, comma-separated.")] = "2,5,10,20,40,80,160",
    duration: Annotated[float, typer.Option(help="Measured seconds per step.")] = 10.0,
    warmup: Annotated[float, typer.Option(help="Warm-up seconds per step.")] = 3.0,
    backend: Annotated[str, typer.Option(help="auto, local or docker.")] = "auto",
    server_cpus: ServerCpus = None,
    load_cpus: LoadCpus = None,
    cpu_quota: CpuQuota = None,
    rtt: Rtt = DEFAULT_RTT_MS,
    rates: Annotated[str | None, typer.Option(
        help="Open model: offered requests/s per step, comma-separated (served by a pool of the largest "
        "--steps users; latency from each request's due time). Default: closed-loop steps of users.")] = None,
) -> None:
    """The highest throughput each stage sustains with p95 ≤ the target, and the chart."""
    network = NetworkPlan(rtt)
    try:
        rate_steps = tuple(sorted({float(r) for r in rates.split(",")})) if rates else ()
    except ValueError:
        raise UserError(f"--rates must be requests/s separated by commas, got {rates!r}") from None
    if any(r <= 0 for r in rate_steps):
        raise UserError("--rates must be positive")
    from harness.runs.capacity import CapacityPlan, run_capacity
    try:
        user_steps = tuple(sorted({int(s) for s in steps.split(",")}))
    except ValueError:
        raise UserError(f"--steps must be whole numbers separated by commas, got {steps!r}") from None
    if not user_steps or user_steps[0] < 1 or target_p95 <= 0:
        raise UserError("--steps must be positive and --target-p95 above 0")
    LoadProfile(users=user_steps[0], warmup=warmup, duration=duration)  # validates the window
    selected = manifest.select(_ladder(), stages)
    budget = CpuBudget.from_options(server_cpus, load_cpus, cpu_quota)
    interrupts.install()
    plan = CapacityPlan(selected, budget, choose_backend(backend, selected, network), user_steps, target_p95, warmup,
                        duration, network, rate_steps)
    run_dir = run_capacity(plan, HarnessSettings(), lambda t: console.print(t, highlight=False, soft_wrap=True))
    console.print((run_dir / "capacity.csv").read_text(), highlight=False)
    console.print(f"results: {run_dir}/ (report.md, capacity.csv, capacity_steps.csv, capacity.png)", highlight=False)


@app.command()
@user_errors
def sweep(
    docker: Annotated[bool, typer.Option(
        help="Also remove leftover containers, swarm services, networks and volumes.")] = True,
) -> None:
    """Stop and remove what killed runs left behind (kill -9, a crash): processes, the embedded
    PostgreSQL and its folder, cgroups, containers, swarm services, networks, volumes; mark their runs killed and draw
    what they measured. Live runs are left alone."""
    from harness.runs.ladder import finish
    from harness.runs.leftovers import sweep as sweep_leftovers
    found = sweep_leftovers(HarnessSettings().results_dir, finish, docker=docker)
    for kind, items in found.removed().items():
        if items:
            console.print(f"{kind}: {len(items)}", highlight=False)
            for item in items:
                console.print(f"  {item}", highlight=False, soft_wrap=True)
    for note in found.notes:
        console.print(note, highlight=False)
    if found.live_owners:
        pids = sorted({int(token.split("-")[0]) for token in found.live_owners})
        console.print(f"left alone: what live processes {', '.join(map(str, pids))} are running", highlight=False)
    if not any(found.removed().values()):
        console.print("nothing left behind")


@app.command("compare")
@user_errors
def compare_command(
    run_a: RunDir, run_b: RunDir,
    threshold: Annotated[float, typer.Option(help="Smallest relative change to call (0.10 = 10 %).")] = 0.10,
) -> None:
    """Per-stage throughput and p95 ratios B/A; exits 1 on a regression beyond threshold and noise."""
    from harness.results.compare import GENERATOR_BOUND, NETWORK_NOT_HELD, compare_runs, condition_differences
    if not 0 < threshold < 1:
        raise UserError("--threshold must be between 0 and 1")
    for run in (run_a, run_b):
        if (kind := _run_kind(run)) != "ladder":
            raise UserError(f"{run} is a {kind} run; compare takes two ladder runs (harness run-all)")
    rows = compare_runs(run_a, run_b, threshold)
    if not rows:
        raise UserError(f"{run_a} and {run_b} have no measured stage in common")
    table = Table("stage", "req/s A", "req/s B", "B/A", "throughput", "p95 A", "p95 B", "B/A", "p95",
                  title=f"{run_b.name} vs {run_a.name} (threshold {threshold:.0%})")
    for r in rows:
        table.add_row(r.stage, f"{r.rps_a:,.1f}", f"{r.rps_b:,.1f}", f"{r.rps_ratio:.2f}", r.rps_verdict,
                      f"{r.p95_a:,.0f}", f"{r.p95_b:,.0f}", f"{r.p95_ratio:.2f}", r.p95_verdict)
    console.print(table)
    if differences := condition_differences(run_a, run_b):
        console.print(f"[yellow]measured under different conditions:[/] {'; '.join(differences)}",
                      highlight=False, soft_wrap=True)
    if bound := [r.stage for r in rows if r.rps_verdict == GENERATOR_BOUND]:
        console.print(f"not called: {', '.join(bound)} (the load generator was saturated, so locust set "
                      "those numbers, not the stack)", highlight=False, soft_wrap=True)
    if unheld := [r.stage for r in rows if r.rps_verdict == NETWORK_NOT_HELD]:
        console.print(f"not called: {', '.join(unheld)} (the network emulator did not hold its RTT, so it set "
                      "those numbers, not the stack)", highlight=False, soft_wrap=True)
    regressions = [r.stage for r in rows if r.regressed]
    if regressions:
        console.print(f"[red]regression:[/] {', '.join(regressions)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print("no regression beyond threshold and noise")


def main() -> None:
    """The entry point. click's own usage errors (an unparsable value, an unknown option) are
    user errors too: one line and exit 2, like every other, instead of a framed panel."""
    ownership.claim()  # everything this process starts carries its pid, for `harness sweep`
    try:
        code = app(standalone_mode=False)
    except ClickUsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `harness`: the help, not an error
            exc.show()
        else:
            err.print(f"[bold red]error:[/] {exc.format_message()}", highlight=False, soft_wrap=True)
        code = exc.exit_code
    except typer.Abort:
        code = 130
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
