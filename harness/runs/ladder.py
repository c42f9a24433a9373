"""`harness run-all`: the ladder, stage by stage, under one budget and one load.

Per stage: fresh database → start → verify → warm-up → measure → teardown. A stage that
fails is recorded with its logs and the next one runs. Tables are rewritten after every
stage, so a crash or Ctrl-C later loses nothing already measured.
"""

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import httpx

from harness import interrupts
from harness.backends.base import Backend, RunEnvironment, RunningStage
from harness.backends.local import LocalBackend
from harness.cpu import CpuBudget
from harness.errors import PartLost, StageFailed, UserError
from harness.kinds import Kind, folder_name, measurement_id
from harness.load.shape import LoadShape
from harness.manifests.rung import Rung
from harness.measure.idle import IdleCheck, wait_until_idle
from harness.measure.window import measure
from harness.network.emulator import NetworkPlan
from harness.reporting import analysis, html_report, plots, report
from harness.run_folder import new_run_dir, read_stage, run_header, stage_dir, utc_now, write_json
from harness.runs.order import BlockOrder
from harness.runs.skeleton import recorded_run
from harness.runs.subject import LADDER, Subject
from harness.settings import HarnessSettings
from harness.verify.script import Transcript, compare


class Progress(Protocol):
    def stage(self, index: int, total: int, stage_id: str) -> None: ...
    def phase(self, name: str, seconds_left: float | None = None) -> None: ...
    def stage_done(self, stage_id: str, row: dict[str, Any] | None, error: str | None) -> None: ...


class SilentProgress:
    def stage(self, index: int, total: int, stage_id: str) -> None:
        pass

    def phase(self, name: str, seconds_left: float | None = None) -> None:
        pass

    def stage_done(self, stage_id: str, row: dict[str, Any] | None, error: str | None) -> None:
        pass


@dataclass(frozen=True)
class RunPlan:
    stages: Sequence[Rung]
    budget: CpuBudget
    shape: LoadShape
    backend: Backend = field(default_factory=LocalBackend)
    repeat: int = 1
    idle: IdleCheck = field(default_factory=IdleCheck)
    ceiling: bool = True  # also measure static JSON on the last stage: the framework's ceiling
    network: NetworkPlan = field(default_factory=NetworkPlan)  # an RTT between the tiers, or loopback
    # after the ladder, every stage again under the same arrivals (open model): at this rate, or
    # (0) at SAME_TRAFFIC_SHARE of the last stage's closed-loop throughput; None: no such pass
    same_traffic: float | None = None
    # each stage also measured with py-spy attached (harness.measure.profiler), right beside its
    # plain measurement: the profile says where the CPU goes, the pair what profiling cost
    profiled: bool = False
    subject: Subject = LADDER  # the ladder's stages, or a service's variants (harness.service)
    # how many blocks (repeats) to measure: `repeat` of them, or as many as a gate's rule asks for
    # (harness.runs.gate), decided after each block
    blocks: "Blocks | None" = None
    # every stage of a block measured at once on the budget, in one window (harness gate)
    side_by_side: bool = False


class Blocks(Protocol):
    """Decides, after each block, whether the run measures another."""

    @property
    def expected(self) -> int:
        """How many blocks the run expects to measure (for its progress)."""
        ...

    def another(self, run_dir: Path, measured: int, run: dict[str, Any]) -> bool:
        """Whether to measure block `measured + 1`; may record its reasons in `run`."""
        ...


@dataclass(frozen=True)
class FixedBlocks:
    count: int

    @property
    def expected(self) -> int:
        return self.count

    def another(self, run_dir: Path, measured: int, run: dict[str, Any]) -> bool:
        return measured < self.count


def run_all(plan: RunPlan, settings: HarnessSettings, progress: Progress | None = None,
            run_dir: Path | None = None) -> Path:
    """One ladder run into `run_dir` (new and empty; default: a fresh folder under results/)."""
    progress = progress or SilentProgress()
    run_dir = run_dir or new_run_dir(settings.results_dir)
    run: dict[str, Any] = {
        **run_header("ladder", plan.backend.name, {**plan.budget.as_record(), "enforced": "affinity"}),
        "load": plan.shape.as_record(), "stages": [s.id for s in plan.stages], "repeat": plan.repeat,
        "network": plan.network.as_record(),
        "idle_check": {"threshold_pct": plan.idle.threshold_pct, "timeout_s": plan.idle.timeout_s},
        **plan.subject.record(),
    }
    started: list[str] = []
    with recorded_run(run_dir, run, where=lambda: _where(run_dir, started), finish=lambda: finish(run_dir)):
        try:
            _measure_ladder(plan, settings, progress, run_dir, run, started)
        except PartLost as died:
            # the system under test failed, not the harness: one line, the cause recorded, and what
            # was not measured named (every measurement planned and not started)
            run["status"] = "failed"
            run["failed_stages"] = sorted({d.name for d in (run_dir / "stages").iterdir() if _status(d) != "ok"})
            run["not_run"] = [m for m in _planned(plan) if m not in started]
            run["not_run_because"] = str(died)
            raise UserError(f"{died}; not run: {', '.join(run['not_run']) or 'nothing'} "
                            f"(results so far in {run_dir})") from None
        except UserError as refused:  # the set-up refused (a variant that cannot be made): said in run.json too
            run["status"], run["failed_because"] = "failed", str(refused)
            raise
        failed = sorted({d.name for d in (run_dir / "stages").iterdir() if _status(d) != "ok"})
        run["status"] = "complete" if not failed else "complete-with-failures"
        run["failed_stages"] = failed
    return run_dir


def _planned(plan: RunPlan) -> list[str]:
    """Every measurement the plan asks for, in order (the same-traffic pass's, if any, by stage)."""
    kinds = [Kind.LADDER, *([Kind.PROFILED] if plan.profiled else [])]
    names = [folder_name(s.id, kind, r) for r in range(1, plan.repeat + 1) for s in plan.stages for kind in kinds]
    if plan.ceiling and plan.stages:
        names.append(folder_name(plan.stages[-1].id, Kind.CEILING))
    if plan.same_traffic is not None:
        names += [folder_name(s.id, Kind.SAME_TRAFFIC) for s in plan.stages]
    return names


def _measure_ladder(plan: RunPlan, settings: HarnessSettings, progress: Progress, run_dir: Path,
                    run: dict[str, Any], started: list[str]) -> None:
    """The ladder, its ceiling and the same-traffic pass inside one environment (database, budget)."""
    with plan.backend.environment(plan.budget, settings, run_dir / "setup") as env:
        prepare(plan, env, settings, progress, run_dir, run)
        progress.phase("statements per endpoint")
        if probed := plan.subject.before_windows(plan.backend, env, run_dir, settings.start_timeout_seconds):
            run["statements"] = probed
            write_json(run_dir / "run.json", run)
        reference: list[Transcript] = []
        blocks = plan.blocks or FixedBlocks(plan.repeat)
        total = len(plan.stages) * blocks.expected
        # repeats are blocks, every stage once per block in a balanced random order
        # (harness.runs.order), so drift on a shared machine hits all of them alike
        order = BlockOrder(plan.stages, seed := random.SystemRandom().randrange(2**32))
        run["order"] = {"seed": seed, "blocks": []}
        broken: set[str] = set()  # a stage that failed once is not started again in a later block
        repeat = 0
        while blocks.another(run_dir, repeat, run):
            repeat += 1
            block = [s for s in order.block(repeat) if s.id not in broken]
            run["order"]["blocks"].append([s.id for s in block])
            write_json(run_dir / "run.json", run)
            if plan.side_by_side:
                interrupts.check()
                progress.stage(repeat, blocks.expected, " + ".join(s.id for s in block))
                started += [folder_name(s.id, Kind.LADDER, repeat) for s in block]
                if not _run_side_by_side(env, block, plan, run_dir, reference, settings, progress, repeat):
                    broken.update(s.id for s in block)
                continue
            for index, stage in enumerate(block, start=1):
                interrupts.check()
                progress.stage((repeat - 1) * len(plan.stages) + index, total, stage.id)
                if not measure_stage(env, stage, plan, run_dir, reference, settings, progress, repeat, started):
                    broken.add(stage.id)
        if plan.ceiling and plan.stages:
            interrupts.check()
            progress.stage(total, total, f"{plan.stages[-1].id} ceiling")
            started.append(folder_name(plan.stages[-1].id, Kind.CEILING))
            _run_stage(env, plan.stages[-1], plan, run_dir, reference, settings, progress, 1, Kind.CEILING)
        if plan.same_traffic is not None and plan.stages:
            rate, rule = same_traffic_rate(run_dir, plan)
            run["same_traffic"] = {"rate": rate, "rule": rule}
            write_json(run_dir / "run.json", run)
            for index, stage in enumerate(plan.stages if rate else [], start=1):
                interrupts.check()
                progress.stage(index, len(plan.stages), f"{stage.id} at {rate:,.0f} req/s")
                started.append(folder_name(stage.id, Kind.SAME_TRAFFIC))
                _run_stage(env, stage, plan, run_dir, reference, settings, progress, 1, Kind.SAME_TRAFFIC, rate)


def prepare(plan: RunPlan, env: RunEnvironment, settings: HarnessSettings, progress: Progress, run_dir: Path,
            run: dict[str, Any]) -> None:
    """What every run records of its environment before its first window, and its load path."""
    run["database"] = {"kind": env.database_kind, "seed_rows": env.seed_rows}
    run["budget"]["enforced"] = env.details.pop("enforced", "affinity")
    run.update(env.details)
    progress.phase("choosing the load path")
    run["load_path"] = plan.backend.choose_load_path(
        env, plan.shape, plan.budget.load, run_dir / "load-path", settings.start_timeout_seconds)
    write_json(run_dir / "run.json", run)


def measure_stage(env: RunEnvironment, stage: Rung, plan: RunPlan, run_dir: Path, reference: list[Transcript],
                  settings: HarnessSettings, progress: Progress, repeat: int, started: list[str]) -> bool:
    """One stage's measurement of one block (repeat), and its profiled one with --profile; whether
    each was measured."""
    # with --profile, the plain and the profiled measurement take turns going first,
    # so neither always meets the host a few minutes later than the other
    pair = [Kind.LADDER, Kind.PROFILED] if repeat % 2 else [Kind.PROFILED, Kind.LADDER]
    measured = True
    for kind in pair if plan.profiled else [Kind.LADDER]:
        interrupts.check()
        started.append(folder_name(stage.id, kind, repeat))
        measured = _run_stage(env, stage, plan, run_dir, reference, settings, progress, repeat, kind) and measured
    return measured


def finish(run_dir: Path, charts: bool = True) -> None:
    """Tables, charts and reports from whatever the run wrote (`charts` off: the tables and
    report.md only)."""
    if not (run_dir / "stages").is_dir():
        return
    if analysis.figures_available(run_dir) or not (run_dir / "summary.csv").is_file():
        analysis.write_tables(run_dir)
    # else: a committed run keeps its derived tables only; charts and report are drawn from them
    if charts:
        plots.draw_all(run_dir, subtitle=run_dir.name)
    # the report also when nothing was measured: it says which stages failed, and why
    report.write_report(run_dir)
    if charts:
        html_report.write_html_report(run_dir)


def measurement_ended(run_dir: Path, out: Path) -> dict[str, Any] | None:
    """What a run does as each measurement ends: its figures recorded from its samples (the one
    time they are parsed), then the run's tables rewritten from every measurement's figures, so a
    run stopped later keeps them (the profile's tables, from py-spy's raw files, at the end).
    Returns the measurement's row, None when it did not measure."""
    measured = read_stage(out)["status"] == "ok"
    if measured:
        analysis.recorded(out)  # recorded here, unless a table of the run already did
    analysis.write_tables(run_dir, profiles=False)
    return {str(k): v for k, v in analysis.measurement_row(out).items()} if measured else None


def _where(run_dir: Path, measurements: list[str]) -> str:
    """Where a stop landed: '<measurement>: <phase>', between measurements, or in set-up."""
    if not measurements:
        return "set-up"
    folder = run_dir / "stages" / measurements[-1]
    meta = read_stage(folder) if (folder / "stage.json").is_file() else {"status": "interrupted", "phase": "start"}
    if meta["status"] == "interrupted":
        return f"{measurements[-1]}: {meta['phase']}"
    return f"{measurements[-1]}: {meta['phase']}, measured" if meta["phase"] == "teardown" \
        else f"after {measurements[-1]}"


def _status(measurement_dir: Path) -> str:
    return str(read_stage(measurement_dir)["status"]) if (measurement_dir / "stage.json").is_file() else "missing"


# the ceiling's window is capped: at thousands of req/s 40 s already holds ~10^5 requests, and
# its per-request samples.csv grows with the window (~27 MB per 40 s at 10,000 req/s)
CEILING_WINDOW_S = 40.0
# the same-traffic pass's window is capped too: it reads latency at a rate the generator holds
# whatever the host does, so its figures do not average host drift as the closed loop's
# throughput must (that is what the 90 s window is for); 30 s at the pass's rate is thousands of
# requests per stage, enough for a p99, and keeps the default run inside its time with the rungs
# beyond the case study
SAME_TRAFFIC_WINDOW_S = 30.0


def measured_shape(shape: LoadShape, kind: Kind, open_rate: float | None = None) -> LoadShape:
    """The run's load; for the ceiling its static-JSON mix in a window of at most CEILING_WINDOW_S;
    for the same-traffic pass the open model at `open_rate` in one of at most SAME_TRAFFIC_WINDOW_S."""
    if kind is Kind.SAME_TRAFFIC and open_rate:
        return replace(shape, rate=open_rate, duration=min(shape.duration, SAME_TRAFFIC_WINDOW_S))
    if kind is not Kind.CEILING:
        return shape
    return replace(shape, mix="ceiling", duration=min(shape.duration, CEILING_WINDOW_S))


# the same-traffic pass's rate by rule: this share of the anchor stage's closed-loop throughput, so
# that stage runs loaded but below its capacity and every other stage gets the same arrivals. The
# margin must exceed how far the host's speed wanders between the two passes (~10 %): at 80 % the
# anchor's open window could already be overloaded
SAME_TRAFFIC_SHARE = 0.7
# run-all makes the pass unless told not to (or --quick): the case study's latency claim is about
# the same traffic before and after, which a closed loop cannot show (README: what it costs)
SAME_TRAFFIC_BY_DEFAULT = True


def same_traffic_rate(run_dir: Path, plan: RunPlan) -> tuple[float, str]:
    """The pass's rate and the rule that gave it; 0 when there is none (the pass is skipped).

    The rule's stage is the case study's last in the run (the rungs beyond it would offer every
    case-study stage several times its capacity, and the pass reproduces the article's claim at
    one load), or the run's last stage when it has no case-study stage."""
    if plan.same_traffic:
        return plan.same_traffic, "given with --same-traffic-rate"
    case_study = [s for s in plan.stages if not s.beyond_case_study]
    anchor = (case_study or plan.stages)[-1]
    summary = analysis.read_summary(run_dir)  # written after every stage: the figure the report shows
    last = summary[(summary["stage"] == anchor.id) & (summary["status"] == "ok")]
    if last.empty:
        return 0.0, (f"skipped: {anchor.id} was not measured in the closed loop, so no rate follows "
                     "from the rule (give one with --same-traffic-rate)")
    rps = float(last["rps"].iloc[0])
    rate = max(1.0, round(SAME_TRAFFIC_SHARE * rps))
    where = " (where the case study ends)" if case_study and len(case_study) < len(plan.stages) else ""
    return rate, f"{SAME_TRAFFIC_SHARE:.0%} of {anchor.id}'s closed-loop throughput{where}, {rps:,.0f} req/s"


def _run_stage(env: RunEnvironment, stage: Rung, plan: RunPlan, run_dir: Path,
               reference: list[Transcript], settings: HarnessSettings, progress: Progress,
               repeat: int = 1, kind: Kind = Kind.LADDER, open_rate: float | None = None) -> bool:
    """One measurement; whether it measured."""
    out = stage_dir(run_dir, folder_name(stage.id, kind, repeat))
    meta = _meta(stage, kind, repeat, open_rate)
    write_json(out / "stage.json", meta)

    def enter(phase: str, seconds_left: float | None = None) -> None:
        # stage.json names the phase, so an interrupted stage says where it stopped
        if meta["phase"] != phase:
            meta["phase"] = phase
            write_json(out / "stage.json", meta)
        progress.phase(phase, seconds_left)

    started = time.monotonic()
    try:
        enter("start")
        interrupts.check()
        with plan.backend.stage(env, stage, out / "logs", settings.start_timeout_seconds, plan.network) as running:
            meta["phases"]["start_s"] = round(time.monotonic() - started, 2)
            meta["url"] = running.base_url  # what the load was sent to
            if repeat == 1 and kind is Kind.LADDER:
                enter("verify")
                _verify(running, stage, plan, env, out, reference)
            interrupts.check()
            enter("idle check")
            meta["idle"] = wait_until_idle(plan.budget.server | plan.budget.load, plan.idle).as_record()
            t = time.monotonic()
            measure(running, env.admin_url, env.database_pids, measured_shape(plan.shape, kind, open_rate),
                    plan.budget.load, out, tick=enter, server_cpus=plan.budget.server, profiled=kind is Kind.PROFILED,
                    writes=plan.subject.writes)
            meta["phases"]["load_s"] = round(time.monotonic() - t, 2)
            # measured: the status and the teardown phase go into stage.json in one write, so a
            # stop that lands from here on (even before the backend's teardown defers signals)
            # ends the run but keeps this measurement
            meta["status"] = "ok"
            enter("teardown")
            t = time.monotonic()
        meta["phases"]["teardown_s"] = round(time.monotonic() - t, 2)
    except StageFailed as failed:
        _failed(meta, out, failed)
        if isinstance(failed, PartLost):
            raise  # no later stage can run without it: run_all lists them as not run
    finally:
        _ended(meta, out, run_dir, progress)
    return bool(meta["status"] == "ok")


def _meta(stage: Rung, kind: Kind, repeat: int, open_rate: float | None = None) -> dict[str, Any]:
    """A measurement's stage.json as it starts."""
    # the ceiling, the same-traffic pass and the profiled measurements are rows of their own
    # (harness.kinds), never part of the ladder's ratios
    return {"id": measurement_id(stage.id, kind), "kind": kind.value, "order": kind.order_offset + stage.order,
            "repeat": repeat, "open_rate": open_rate, "title": stage.title, "fix": stage.fix, "part": stage.part,
            "removes": stage.removes, "services": len(stage.services), "status": "running",
            "started_at": utc_now(), "phase": "start", "phases": {}}


def _failed(meta: dict[str, Any], out: Path, failed: StageFailed) -> None:
    """A measurement that failed: its cause, and its services' last log lines kept beside it."""
    meta["status"], meta["error"] = "failed", str(failed)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    for name, text in failed.logs.items():
        (logs / f"{name}.tail.txt").write_text(text)
    meta["log_tail"] = _culprit_tail(str(failed), failed.logs)


def _ended(meta: dict[str, Any], out: Path, run_dir: Path, progress: Progress) -> None:
    """A measurement's end, however it came: stage.json final, the run's tables, its line."""
    meta["finished_at"] = utc_now()
    if meta["status"] == "running":
        meta["status"] = "interrupted"
    write_json(out / "stage.json", meta)
    row = measurement_ended(run_dir, out)
    # a stop or an error outside the stage (a port in use) has no message of its own: the line says where
    error = meta.get("error") or (f"stopped in {meta['phase']}" if meta["status"] == "interrupted" else None)
    if error and meta.get("log_tail"):
        error = f"{error}\n{meta['log_tail']}"
    progress.stage_done(meta["id"], row, error)


def _verify(running: RunningStage, stage: Rung, plan: RunPlan, env: RunEnvironment, out: Path,
            reference: list[Transcript]) -> None:
    """The rung answers the subject's requests as the first verified rung did, or it fails."""
    try:
        with httpx.Client(base_url=running.base_url, timeout=120) as client:
            transcript = plan.subject.transcript(client, env, stage)
    except httpx.HTTPError as broken:  # a reset, a timeout: the stage's failure, not the run's
        raise StageFailed(f"{stage.id}: verify failed: {type(broken).__name__}: {broken} "
                          f"({broken.request.method} {broken.request.url.path})", running.logs()) from None
    write_json(out / "verify.json", {"steps": transcript.steps, "problems": transcript.problems})
    differences = compare([*reference[:1], transcript])
    if transcript.problems or differences:
        raise StageFailed(f"{stage.id}: verify failed: {(transcript.problems + differences)[0]}", running.logs())
    reference.append(transcript)


def _run_side_by_side(env: RunEnvironment, stages: list[Rung], plan: RunPlan, run_dir: Path,
                      reference: list[Transcript], settings: HarnessSettings, progress: Progress,
                      repeat: int) -> bool:
    """One window of every stage of the block at once on the budget (harness.measure.side_by_side);
    whether it measured. A failure of one fails the window for all: none was measured alone."""
    from harness.measure.side_by_side import Side, measure_side_by_side
    outs = [stage_dir(run_dir, folder_name(s.id, Kind.LADDER, repeat)) for s in stages]
    metas = [{**_meta(s, Kind.LADDER, repeat), "side_by_side": [o.id for o in stages if o is not s]}
             for s in stages]

    def enter(phase: str, seconds_left: float | None = None) -> None:
        for meta, out in zip(metas, outs, strict=True):
            if meta["phase"] != phase:
                meta["phase"] = phase
                write_json(out / "stage.json", meta)
        progress.phase(phase, seconds_left)

    for meta, out in zip(metas, outs, strict=True):
        write_json(out / "stage.json", meta)
    started = time.monotonic()
    try:
        enter("start")
        interrupts.check()
        backend = plan.backend
        assert hasattr(backend, "side_by_side"), "side by side needs a service's backend"
        with backend.side_by_side(env, stages, [o / "logs" for o in outs], settings.start_timeout_seconds,
                                  plan.network) as running:
            for meta, side in zip(metas, running, strict=True):
                meta["phases"]["start_s"] = round(time.monotonic() - started, 2)
                meta["url"] = side.running.base_url
            if repeat == 1:
                enter("verify")
                for stage, out, side in zip(stages, outs, running, strict=True):
                    _verify(side.running, stage, plan, env, out, reference)
            interrupts.check()
            enter("idle check")
            idle = wait_until_idle(plan.budget.server | plan.budget.load, plan.idle).as_record()
            t = time.monotonic()
            measure_side_by_side([Side(side.running, out, side.admin_url, side.database_pids)
                                  for out, side in zip(outs, running, strict=True)],
                                 plan.shape, plan.budget.load, plan.budget.server, plan.subject.writes, tick=enter)
            for meta in metas:
                meta.update(idle=idle, status="ok")
                meta["phases"]["load_s"] = round(time.monotonic() - t, 2)
            enter("teardown")
    except StageFailed as failed:
        for meta, out in zip(metas, outs, strict=True):
            _failed(meta, out, failed)
    finally:
        for meta, out in zip(metas, outs, strict=True):
            _ended(meta, out, run_dir, progress)
    return all(meta["status"] == "ok" for meta in metas)


def _culprit_tail(message: str, logs: dict[str, str], lines: int = 8) -> str:
    """The last log lines of the service the error names (else of the first with any)."""
    named = [name for name in logs if name in message]
    for name in named + list(logs):
        if logs[name].strip():
            tail = logs[name].strip().splitlines()[-lines:]
            return "\n".join(f"  {name} | {line}" for line in tail)
    return ""
