"""`harness run-all`: the ladder, stage by stage, under one budget and one load.

Per stage: fresh database → start → verify → warm-up → measure → teardown. A stage that
fails is recorded with its logs and the next one runs. Tables are rewritten after every
stage, so a crash or Ctrl-C later loses nothing already measured.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from harness import analysis, interrupts, plots, report
from harness.cpu import CpuBudget
from harness.errors import StageFailed
from harness.lifecycle import Backend, LocalBackend, RunEnvironment
from harness.load import LoadProfile
from harness.manifest import StageManifest
from harness.measure import measure
from harness.results import (
    SCHEMA_VERSION,
    git_commit,
    machine,
    new_run_dir,
    package_versions,
    stage_dir,
    utc_now,
    write_json,
)
from harness.settings import HarnessSettings
from harness.verify import Script, Transcript, compare


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
    stages: list[StageManifest]
    budget: CpuBudget
    profile: LoadProfile
    backend: Backend = field(default_factory=LocalBackend)


def run_all(plan: RunPlan, settings: HarnessSettings, progress: Progress | None = None) -> Path:
    progress = progress or SilentProgress()
    run_dir = new_run_dir(settings.results_dir)
    run: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "status": "running", "started_at": utc_now(),
        "git": git_commit(), "machine": machine(), "packages": package_versions(),
        "backend": plan.backend.name, "budget": {**plan.budget.as_record(), "enforced": "affinity"},
        "load": plan.profile.as_record(), "stages": [s.id for s in plan.stages],
    }
    write_json(run_dir / "run.json", run)
    try:
        with plan.backend.environment(plan.budget, settings) as env:
            run["database"] = {"kind": env.database_kind, "seed_rows": env.seed_rows}
            run["budget"]["enforced"] = env.details.pop("enforced", "affinity")
            run.update(env.details)
            write_json(run_dir / "run.json", run)
            reference: list[Transcript] = []
            for index, stage in enumerate(plan.stages, start=1):
                interrupts.check()
                progress.stage(index, len(plan.stages), stage.id)
                _run_stage(env, stage, plan, run_dir, reference, settings, progress)
        failed = [s.id for s in plan.stages if _status(run_dir, s.id) != "ok"]
        run["status"] = "complete" if not failed else "complete-with-failures"
        run["failed_stages"] = failed
    except KeyboardInterrupt:
        run["status"] = "interrupted"
        raise
    except BaseException:
        run["status"] = "crashed"
        raise
    finally:
        run["finished_at"] = utc_now()
        write_json(run_dir / "run.json", run)
        finish(run_dir)
    return run_dir


def finish(run_dir: Path) -> None:
    """Tables, charts and report from whatever the run wrote."""
    if not (run_dir / "stages").is_dir():
        return
    analysis.write_tables(run_dir)
    if plots.draw_all(run_dir, subtitle=run_dir.name):
        report.write_report(run_dir)


def _status(run_dir: Path, stage_id: str) -> str:
    from harness.results import read_json
    path = run_dir / "stages" / stage_id / "stage.json"
    return str(read_json(path)["status"]) if path.is_file() else "missing"


def _run_stage(env: RunEnvironment, stage: StageManifest, plan: RunPlan, run_dir: Path,
               reference: list[Transcript], settings: HarnessSettings, progress: Progress) -> None:
    out = stage_dir(run_dir, stage.id)
    meta: dict[str, Any] = {"id": stage.id, "order": stage.order, "title": stage.title, "fix": stage.fix,
                            "removes": stage.removes, "services": len(stage.services),
                            "status": "running", "phases": {}}
    write_json(out / "stage.json", meta)
    started = time.monotonic()
    row = None
    try:
        progress.phase("start")
        interrupts.check()
        with plan.backend.stage(env, stage, out / "logs", settings.start_timeout_seconds) as running:
            meta["phases"]["start_s"] = round(time.monotonic() - started, 2)
            progress.phase("verify")
            with httpx.Client(base_url=running.base_url, timeout=120) as client:
                transcript = Script(client, env.token_secret).run(stage.id)
            write_json(out / "verify.json", {"steps": transcript.steps, "problems": transcript.problems})
            differences = compare([*reference[:1], transcript])
            if transcript.problems or differences:
                raise StageFailed(f"{stage.id}: verify failed: {(transcript.problems + differences)[0]}")
            reference.append(transcript)
            interrupts.check()
            t = time.monotonic()
            measure(running, env.admin_url, env.database_pids(), plan.profile, plan.budget.load, out,
                    tick=progress.phase)
            meta["phases"]["load_s"] = round(time.monotonic() - t, 2)
            progress.phase("teardown")
            t = time.monotonic()
        meta["phases"]["teardown_s"] = round(time.monotonic() - t, 2)
        meta["status"] = "ok"
    except StageFailed as failed:
        meta["status"], meta["error"] = "failed", str(failed)
        logs = out / "logs"
        logs.mkdir(exist_ok=True)
        for name, text in failed.logs.items():
            (logs / f"{name}.tail.txt").write_text(text)
        meta["log_tail"] = _culprit_tail(str(failed), failed.logs)
    finally:
        meta["finished_at"] = utc_now()
        if meta["status"] == "running":
            meta["status"] = "interrupted"
        write_json(out / "stage.json", meta)
        summary = analysis.write_tables(run_dir)
        if meta["status"] == "ok":
            row = {str(k): v for k, v in summary[summary["stage"] == stage.id].iloc[0].items()}
        error = meta.get("error")
        if error and meta.get("log_tail"):
            error = f"{error}\n{meta['log_tail']}"
        progress.stage_done(stage.id, row, error)


def _culprit_tail(message: str, logs: dict[str, str], lines: int = 8) -> str:
    """The last log lines of the service the error names (else of the first with any)."""
    named = [name for name in logs if name in message]
    for name in named + list(logs):
        if logs[name].strip():
            tail = logs[name].strip().splitlines()[-lines:]
            return "\n".join(f"  {name} | {line}" for line in tail)
    return ""
