"""The `harness` command: the commands, each a thin Typer wrapper over library functions; how
they print is harness/console.py.

UserError is caught here and only here: one line on stderr, exit code 2. What pulls in pandas,
matplotlib, the docker SDK or the stages' own code is imported by the command that needs it, after
its options are checked: `--help` and a line of bad input answer without paying for them.
"""

import errno
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from harness import interrupts, ownership
from harness.backends import registry
from harness.manifests import manifest

try:  # recent typer carries its own copy of click
    from typer._click.exceptions import UsageError as ClickUsageError
except ImportError:  # older typer runs on click itself
    from click.exceptions import UsageError as ClickUsageError  # type: ignore[assignment]
from harness import console as screen
from harness.console import console, err, say
from harness.cpu import CpuBudget
from harness.errors import OptionError, RunInterrupted, UserError
from harness.manifests.diff import stage_diff
from harness.network.emulator import DEFAULT_RTT_MS, NetworkPlan
from harness.settings import HarnessSettings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Reproduce 'Scaling FastAPI from 180 to 1300 req/s' one fix at a time.")
F = TypeVar("F", bound=Callable[..., Any])

ServerCpus = Annotated[str | None, typer.Option(
    "--server-cpus", help="CPUs of the server side (app + PostgreSQL), e.g. 1 or 2-3. Default: the last CPU.")]
LoadCpus = Annotated[str | None, typer.Option(
    "--load-cpus", help="CPUs of the load generator, disjoint from the server's. Default: the others.")]
CpuQuota = Annotated[float | None, typer.Option(
    "--cpu-quota", help="CPU quota of the server side in CPUs (cgroups), e.g. 0.5.")]
Stages = Annotated[list[str] | None, typer.Argument(help="Stage ids (default: the whole ladder).")]
StageIds = Annotated[list[str] | None, typer.Option(
    "--stages", help="Stage ids to run (repeatable or comma-separated; default: all).")]
Quick = Annotated[bool, typer.Option("--quick", help="Short profile for CI: few users, seconds-long windows.")]
Users = Annotated[int | None, typer.Option(help="Concurrent users (no think time).")]
Duration = Annotated[float | None, typer.Option(help="Measured seconds per stage.")]
Warmup = Annotated[float | None, typer.Option(help="Warm-up seconds per stage, excluded from the stats.")]
IdleThreshold = Annotated[float, typer.Option(
    help="Before each measurement, wait until every budget and load CPU is below this % busy.")]
IdleTimeout = Annotated[float, typer.Option(
    help="Give up waiting for a quiet machine after this many seconds (recorded; 0: no check).")]
Backend = Annotated[str, typer.Option(help=registry.help_text())]
Rtt = Annotated[float, typer.Option(
    "--rtt", help="Round-trip time in ms between the tiers (edge, services, PostgreSQL each on a host of its "
    "own), emulated on the load CPUs; 0: loopback.")]


# the flag of each option as the code names it (RunOptions' fields and the commands' parameters):
# `--` and the name with dashes, but for these
FLAG_EXCEPTIONS = {"rtt_ms": "--rtt", "profiled": "--profile"}


def flag(option: str) -> str:
    return FLAG_EXCEPTIONS.get(option, "--" + option.replace("_", "-"))


def user_errors(fn: F) -> F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OptionError as exc:  # a bad option's value, said with its flag
            said = exc.said_with({o: flag(o) for o in exc.options})
            err.print(f"[bold red]error:[/] {said}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except UserError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except OSError as full:
            if full.errno != errno.ENOSPC:
                raise
            # the disk filled under the run: everything it started is stopped by now (the context
            # managers unwound), and every file written before stays whole (writes are atomic)
            err.print(f"[bold red]error:[/] no space left on the disk of {full.filename or 'the results'}: "
                      "the run stopped; what it wrote before is kept (harness report RUN draws it again "
                      "from a disk with room)", highlight=False, soft_wrap=True)
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
    console.print(screen.stage_table(manifest.all_stages()))


@app.command()
@user_errors
def diff(a: str, b: str) -> None:
    """Show the code that changes between stage A and stage B."""
    first, second = manifest.select(manifest.all_stages(), [a, b]) if a != b else (None, None)
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
    selected = manifest.select(manifest.all_stages(), stages)
    budget = CpuBudget.from_options(server_cpus, load_cpus, None)
    interrupts.install()
    from harness.verify.stages import verify_ladder
    outcome = verify_ladder(selected, budget, HarnessSettings(), calls, screen.verified, fuzz)
    if not screen.verify_outcome(outcome, calls):
        raise typer.Exit(1)


@app.command()
@user_errors
def images(
    stages: Stages = None,
    offline: Annotated[bool | None, typer.Option(
        "--offline/--registry", help="Force the local Debian base (or the standard images).")] = None,
) -> None:
    """Build the images: one per stage, the wire's, the swarm load workers' (without a registry, a Debian base)."""
    from harness.backends.images import build_stage_images
    built = build_stage_images(manifest.select(manifest.all_stages(), stages), say, offline, with_load=True)
    say(f"base {built.base}, postgres {built.postgres}, wire {built.wire}, load {built.load}")


@app.command()
@user_errors
def compose(
    check: Annotated[bool, typer.Option(
        "--check", help="Only check docker-compose.yml and the Dockerfile are up to date.")] = False,
) -> None:
    """Write docker-compose.yml (one profile per stage) and the Dockerfile (one target per stage) from the
    manifests of this repository's stages."""
    from harness.backends import compose as compose_file
    from harness.backends import dockerfile
    stages = manifest.discover()  # the repository's: the images hold nothing else
    if check:
        say(compose_file.check(stages))
        if not dockerfile.is_current(stages):
            raise UserError("the Dockerfile is out of date with the manifests: run `harness compose`")
        say("the Dockerfile is up to date")
    else:
        say(f"wrote {compose_file.write(stages)} and {dockerfile.write(stages)}")


@app.command("run-all")
@user_errors
def run_all_command(
    stages: StageIds = None,
    quick: Quick = False,
    users: Users = None,
    duration: Duration = None,
    warmup: Warmup = None,
    backend: Backend = "auto",
    server_cpus: ServerCpus = None,
    load_cpus: LoadCpus = None,
    cpu_quota: CpuQuota = None,
    repeat: Annotated[int, typer.Option(
        min=1, help="Measure each stage N times, stages interleaved between repeats.")] = 1,
    idle_threshold: IdleThreshold = 15.0,
    idle_timeout: IdleTimeout = 30.0,
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
    service: Annotated[Path | None, typer.Option(
        help="Your own FastAPI service instead of the ladder: its service file (ladder.toml), or the folder "
        "holding it (`harness init` writes one).")] = None,
    variants: Annotated[list[str] | None, typer.Option(
        help="With --service: the git refs (or folders) to measure, in order, comma-separated; each is checked "
        "out outside your tree.")] = None,
) -> None:
    """Measure the whole ladder (or your service's variants) under one CPU budget; write results/<run>/."""
    from harness.runs.ladder import run_all
    from harness.runs.plans import RunOptions, ladder_plan
    options = RunOptions(stages, quick, users, duration, warmup, backend, server_cpus, load_cpus, cpu_quota, repeat,
                         idle_threshold, idle_timeout, ceiling, load_processes, rtt, rate, same_traffic,
                         same_traffic_rate, profile, service, variants)
    if service is not None:
        from harness.service.plan import service_plan
        plan = service_plan(options, say)
    else:
        plan = ladder_plan(options, say)
    screen.describe_plan(plan)
    with screen.RichProgress() as progress:
        run_dir = run_all(plan, HarnessSettings(), progress)
    if not screen.run_ended(run_dir):
        raise typer.Exit(1)


@app.command()
@user_errors
def gate(
    base: Annotated[str, typer.Argument(help="The base: a git ref (or folder) of your service, e.g. main.")],
    candidate: Annotated[str, typer.Argument(help="The candidate: the pull request's ref, e.g. HEAD.")],
    service: Annotated[Path, typer.Option(help="Your service's file (ladder.toml), or the folder holding it.")
                       ] = Path("."),
    budget: Annotated[float, typer.Option(
        help="Wall-clock seconds for the whole gate, set-up included; windows are added until the call is "
        "decided or this is spent.")] = 600.0,
    threshold: Annotated[float, typer.Option(
        help="The smallest change to call slower or faster (0.03 = 3 %).")] = 0.03,
    confidence: Annotated[float, typer.Option(
        help="Confidence of the call over all its looks (0.95: at most a 5 % chance of calling a change that "
        "is not there).")] = 0.95,
    figure: Annotated[str, typer.Option(
        help="What the call is on: cpu (CPU per request on the budget, host-speed corrected), rps or p95.")
                      ] = "cpu",
    users: Users = None,
    duration: Annotated[float | None, typer.Option(help="Measured seconds per window.")] = None,
    warmup: Warmup = None,
    server_cpus: ServerCpus = None,
    load_cpus: LoadCpus = None,
    rtt: Annotated[float, typer.Option(
        "--rtt", help="Round-trip time in ms between the service and PostgreSQL (0: loopback).")] = 0.0,
    idle_threshold: IdleThreshold = 15.0,
    idle_timeout: Annotated[float, typer.Option(
        help="Give up waiting for quiet CPUs before a window after this many seconds (0: no check).")] = 10.0,
    summary: Annotated[Path | None, typer.Option(
        help="Also append the verdict, in Markdown, to this file (in GitHub Actions: $GITHUB_STEP_SUMMARY).")
                       ] = None,
    fail_on_more_statements: Annotated[bool, typer.Option(
        help="Also fail (exit 1) when any endpoint runs more statements per request, whatever the timings "
        "say (counted exactly, one request at a time).")] = False,
) -> None:
    """Is CANDIDATE slower than BASE? Windows of each, interleaved in random order, until the call is
    decided with its confidence or the budget is spent. Exit 0: no regression; 1: slower; 2: could not
    run; 3: undecided within the budget."""
    from harness.runs.gate import gate_command
    from harness.service.plan import service_plan
    with screen.RichProgress() as progress:
        outcome = gate_command(base, candidate, service, budget, threshold, confidence, figure, users, duration,
                               warmup, server_cpus, load_cpus, rtt, idle_threshold, idle_timeout, say, progress,
                               service_plan, fail_on_more_statements)
    for line in screen.answer_lines(outcome.answer):
        console.print(line, highlight=False, soft_wrap=True)
    console.print(f"results: {outcome.run_dir}/ (compare.md, report.md, measurements.csv)", highlight=False)
    if summary is not None:
        with open(summary, "a") as out:
            out.write(outcome.answer.markdown())
    raise typer.Exit(int(outcome.exit))


@app.command()
@user_errors
def init(path: Annotated[Path, typer.Argument(help="Your service's folder (default: this one).")] = Path(".")) -> None:
    """Write a commented service file (ladder.toml) from what your FastAPI service's code shows, to finish
    by hand; then `harness run-all --service PATH --variants REF,REF`."""
    from harness.service.init import write_service_file
    written = write_service_file(path)
    console.print(f"wrote {written}: check the lines marked CHECK, then "
                  f"`harness run-all --service {path} --variants main,HEAD`", highlight=False)


@app.command("rtt-sweep")
@user_errors
def rtt_sweep_command(
    rtts: Annotated[str, typer.Option(help="RTTs in ms between the tiers, comma-separated (0: loopback).")
                    ] = "0,0.5,1,2,5",
    stages: StageIds = None,
    quick: Quick = False,
    users: Users = None,
    duration: Duration = None,
    warmup: Warmup = None,
    backend: Backend = "auto",
    server_cpus: ServerCpus = None,
    load_cpus: LoadCpus = None,
    cpu_quota: CpuQuota = None,
    idle_threshold: IdleThreshold = 15.0,
    idle_timeout: IdleTimeout = 30.0,
) -> None:
    """The ladder at several RTTs between the tiers: when each fix starts to pay, and why."""
    from harness.runs.plans import RunOptions, ladder_plan, sweep_options
    from harness.runs.rtt_sweep import parse_rtts, run_sweep
    rtt_list = parse_rtts(rtts)
    options = RunOptions(stages, quick, users, duration, warmup, backend, server_cpus, load_cpus, cpu_quota,
                         idle_threshold=idle_threshold, idle_timeout=idle_timeout)
    plan = ladder_plan(sweep_options(options, rtt_list), say)
    screen.describe_plan(plan)

    with screen.RichProgress() as progress:
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
    from harness.runs.redraw import redraw
    redraw(run, say)


@app.command()
@user_errors
def report(run: RunDir) -> None:
    """Rewrite report.md (and its tables and charts) from a results folder."""
    from harness.runs.redraw import redraw
    if redraw(run, say) == "ladder" and (run / "stages").is_dir():
        console.print(screen.summary_table(run))


@app.command()
@user_errors
def up(
    stage: Annotated[str, typer.Argument(help="The stage to bring up, e.g. s5-optimized.")],
    server_cpus: ServerCpus = None,
    load_cpus: LoadCpus = None,
    cpu_quota: CpuQuota = None,
    rtt: Rtt = DEFAULT_RTT_MS,
    backend: Backend = "auto",
) -> None:
    """One stage up as a run starts it (fresh database, budget, network, backend) until Ctrl-C;
    prints its URL, who can sign in and commands to load or profile it."""
    from harness.backends.choice import choose_backend
    from harness.runs.up import up as hold_stage
    (chosen,) = manifest.select(manifest.all_stages(), [stage])
    budget, network = CpuBudget.from_options(server_cpus, load_cpus, cpu_quota), NetworkPlan(rtt)
    interrupts.install()
    try:
        hold_stage(chosen, choose_backend(backend, [chosen], say, network), budget, network, HarnessSettings(), say)
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
    backend: Backend = "auto",
    server_cpus: ServerCpus = None,
    load_cpus: LoadCpus = None,
    cpu_quota: CpuQuota = None,
    rtt: Rtt = DEFAULT_RTT_MS,
    rates: Annotated[str | None, typer.Option(
        help="Open model: offered requests/s per step, comma-separated (served by a pool of the largest "
        "--steps users; latency from each request's due time). Default: closed-loop steps of users.")] = None,
) -> None:
    """The highest throughput each stage sustains with p95 ≤ the target, and the chart."""
    from harness.runs.capacity import run_capacity
    from harness.runs.plans import RunOptions, capacity_plan
    options = RunOptions(stages, duration=duration, warmup=warmup, backend=backend, server_cpus=server_cpus,
                         load_cpus=load_cpus, cpu_quota=cpu_quota, rtt_ms=rtt)
    plan = capacity_plan(options, target_p95, steps, rates, say)
    run_dir = run_capacity(plan, HarnessSettings(), say)
    console.print((run_dir / "capacity.csv").read_text(), highlight=False)
    console.print(f"results: {run_dir}/ (report.md, capacity.csv, capacity_steps.csv, capacity.png)", highlight=False)

Docker = Annotated[bool, typer.Option(help="Also remove leftover containers, swarm services, networks and volumes.")]


@app.command()
@user_errors
def cleanup(docker: Docker = True) -> None:
    """Stop and remove what killed runs left behind (kill -9, a crash): processes, the embedded
    PostgreSQL and its folder, cgroups, containers, swarm services, networks, volumes; mark their runs
    killed and draw what they measured. Live runs are left alone."""
    from harness.runs.ladder import finish
    from harness.runs.leftovers import clean_up
    for line in screen.cleanup_lines(clean_up(HarnessSettings().results_dir, finish, docker=docker)):
        say(line)


@app.command(hidden=True)
@user_errors
def sweep(docker: Docker = True) -> None:
    """The old name of `cleanup`."""
    err.print("`harness sweep` is now `harness cleanup` (the old name goes in the next release)", highlight=False)
    cleanup(docker)


Target = Annotated[str, typer.Argument(help="A results folder, or RUN:STAGE for one stage (a service's variant).")]


@app.command("compare")
@user_errors
def compare_command(
    a: Target, b: Target,
    threshold: Annotated[float, typer.Option(help="The smallest change to call slower or faster (0.03 = 3 %).")
                         ] = 0.03,
    confidence: Annotated[float, typer.Option(help="Confidence of each change's interval (0.95).")] = 0.95,
    figure: Annotated[str, typer.Option(
        help="The figure a call is on: cpu (CPU per request, host-speed corrected), rps or p95.")] = "cpu",
) -> None:
    """Each stage's change B/A with its confidence interval, and a call. Exit 0: no regression; 1: a stage
    slower beyond the threshold; 2: bad input; 3: nothing could be called (fewer than 3 windows a side, or
    undecided). `harness compare RUN:before RUN:after` compares two variants of one run, window by window."""
    from harness.reporting.change import FIGURES, Rule
    from harness.reporting.compare import compare_answer, compare_runs, condition_differences, exit_code, target
    if figure not in FIGURES:
        raise OptionError(f"{{0}} {figure!r}: one of {', '.join(FIGURES)}", "figure")
    rule = Rule(threshold, confidence)
    (run_a, stage_a), (run_b, stage_b) = target(a), target(b)
    from harness.reporting.html_report import write_compare_page
    rows = compare_runs(run_a, run_b, rule, stage_a, stage_b, FIGURES[figure])
    differences = condition_differences(run_a, run_b)
    for line in screen.compare_lines(rows, run_a, run_b, differences):
        console.print(line, highlight=False, soft_wrap=True)
    page = write_compare_page(rows, run_a, stage_a, run_b, stage_b, differences)
    page.with_suffix(".md").write_text(compare_answer(rows, run_a, run_b).markdown())
    console.print(f"page: {page} (and {page.with_suffix('.md').name}, for a pull request)", highlight=False,
                  soft_wrap=True)
    raise typer.Exit(exit_code(rows))


def main() -> None:
    """The entry point. click's own usage errors (an unparsable value, an unknown option) are
    user errors too: one line and exit 2, like every other, instead of a framed panel."""
    ownership.claim()  # everything this process starts carries its pid, for `harness cleanup`
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
