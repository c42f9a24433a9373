"""Tables, charts and report of a results folder drawn again without rerunning, by the run's kind."""

from collections.abc import Callable
from pathlib import Path

from harness.errors import UserError
from harness.run_folder import load_run


def run_kind(run: Path) -> str:
    """What made a results folder (run.json's kind)."""
    return str(load_run(run)["kind"])


def redraw(run: Path, say: Callable[[str], None]) -> str:
    """Draw `run` again from its files; returns its kind."""
    from harness.runs.ladder import finish
    kind = run_kind(run)
    if kind == "capacity":
        from harness.runs.capacity import redraw as redraw_capacity
        redraw_capacity(run)
        say(f"redrawn: {run}/capacity.csv, capacity.png, report.md")
    elif kind == "up":
        raise UserError(f"{run} is a `harness up` session: it holds logs, not measurements, so nothing to draw")
    elif kind == "rtt-sweep":
        from harness.runs.rtt_sweep import finish_sweep
        for ladder in sorted(p for p in run.glob("rtt-*") if (p / "run.json").is_file()):
            finish(ladder)
        finish_sweep(run)
        say(f"redrawn: {run}/sweep.csv, steps.csv, sweep.png, sweep.md and every rtt-*/")
    else:
        finish(run)
        say(f"redrawn: {run}/report.md, report.html, ladder.png, latency.png, mechanisms.png")
    return kind
