"""The gate's calibration: `harness gate` run as a user runs it, on the test service
(tests/service_fixture.py), many times over two kinds of pair —
- `aa`: two refs of identical code (*after* and an empty commit on it): every call of slower or
  faster is a false alarm;
- `effect`: *after* and a candidate whose every signed-in request does a fixed amount of extra
  work, sized to cost EFFECT_PCT % of *after*'s CPU per request (the work timed alone on the
  budget's CPU, *after*'s CPU per request from the first A/A gate's base windows; both stated).
The kinds alternate, so the host's moods fall on both. One row per gate run goes to
calibration.csv; calibration.md and calibration.png summarize it.

    python scripts/calibrate_gate.py OUT [--runs 8] [--effect-pct 5] [any option of harness gate]
    python scripts/calibrate_gate.py OUT --summarize      # redraw the page from calibration.csv

A benchmark to run, not a test: each gate takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.service_fixture import add_same_branch, add_slower_branch, make_repository  # noqa: E402

HARNESS = ROOT / ".venv" / "bin" / "harness"
WORK = """
import os, time
os.sched_setaffinity(0, {{{cpu}}})
def extra_work(iterations):
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total
extra_work(1000)
t = time.process_time()
for _ in range(500):
    extra_work(1000)
print((time.process_time() - t) / 500 / 1000 * 1e6)
"""
COLUMNS = ["run", "kind", "effect_pct", "call", "exit", "change_pct", "low_pct", "high_pct", "confidence", "pairs",
           "wall_s", "setup_s", "host_speed", "iterations", "work_us", "base_cpu_ms", "results"]


def gate(repo: Path, candidate: str, results: Path, options: list[str]) -> dict[str, object]:
    """One `harness gate after CANDIDATE` through the installed command; its row."""
    started = time.monotonic()
    done = subprocess.run([str(HARNESS), "gate", "after", candidate, "--service", str(repo), *options],
                          env={**os.environ, "LADDER_RESULTS_DIR": str(results)}, capture_output=True, text=True,
                          check=False)
    wall = time.monotonic() - started
    print(done.stdout[-600:], done.stderr[-600:], flush=True)
    run = max(results.iterdir(), key=lambda p: p.stat().st_mtime)
    record = json.loads((run / "run.json").read_text())["gate"]
    last = (record.get("looks") or [{}])[-1]
    per = pd.read_csv(run / "measurements.csv")
    return {"call": record.get("call"), "exit": done.returncode, "change_pct": last.get("change_pct"),
            "low_pct": last.get("low_pct"), "high_pct": last.get("high_pct"), "confidence": last.get("confidence"),
            "pairs": record.get("decided_at"), "wall_s": round(wall, 1), "setup_s": record.get("setup_s"),
            "host_speed": float(per["host_speed"].median()),
            "base_cpu_ms": float(per.loc[per["stage"] == "after", "cpu_s_per_1k"].median()), "results": run.name}


def us_per_iteration(cpu: int) -> float:
    """The extra work's cost per iteration, timed alone on the budget's CPU with the services' Python."""
    done = subprocess.run(["/usr/bin/python3.11", "-c", WORK.format(cpu=cpu)], capture_output=True, text=True,
                          check=True)
    return float(done.stdout.strip())


def calibrate(out: Path, runs: int, effect_pct: float, cpu: int, options: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="gate-calibration-") as folder:
        repo = make_repository(Path(folder) / "notes")
        add_same_branch(repo)
        results = Path(folder) / "results"
        iterations, work_us = 0, 0.0
        for k in range(2 * runs):
            kind = "aa" if k % 2 == 0 else "effect"
            if kind == "effect" and not iterations:
                # sized on the first A/A gate's base: EFFECT_PCT % of its CPU per request
                base_ms = float(rows[0]["base_cpu_ms"])  # type: ignore[arg-type]
                per_iteration = us_per_iteration(cpu)
                iterations = round(effect_pct / 100 * base_ms * 1000 / per_iteration)
                work_us = round(iterations * per_iteration, 1)
                print(f"extra work: {iterations} iterations = {work_us} us alone, {effect_pct} % of {base_ms} ms",
                      flush=True)
                add_slower_branch(repo, iterations)
            row = {"run": k + 1, "kind": kind, "effect_pct": effect_pct if kind == "effect" else 0.0,
                   **gate(repo, "same" if kind == "aa" else "slower", results, options),
                   "iterations": iterations if kind == "effect" else 0, "work_us": work_us if kind == "effect" else 0}
            rows.append(row)
            pd.DataFrame(rows, columns=COLUMNS).to_csv(out / "calibration.csv", index=False)
            print(row, flush=True)
    (out / "options.txt").write_text(" ".join(["harness gate after CANDIDATE --service REPO", *options]) + "\n")
    summarize(out)


def summarize(out: Path) -> None:
    """calibration.md (the table and the checks) and calibration.png (each run's interval)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pd.read_csv(out / "calibration.csv")
    options = (out / "options.txt").read_text().strip() if (out / "options.txt").is_file() else "harness gate"
    aa, effect = table[table["kind"] == "aa"], table[table["kind"] == "effect"]
    false_calls = int(aa["call"].isin(["slower", "faster"]).sum())
    detected = int((effect["call"] == "slower").sum())
    asked = float(effect["effect_pct"].iloc[0]) if len(effect) else float("nan")
    lines = [
        "# The gate's calibration",
        "",
        f"`harness gate` on the test service, run {len(table)} times as a user runs it — "
        f"`{options}` — on the gate's defaults otherwise (CPU per request, ±3 % threshold, 95 % confidence "
        "over all looks, 15 s windows side by side), the two kinds alternating. Made by "
        "`python scripts/calibrate_gate.py`; every row is one gate run.",
        "",
        f"- **A/A** (two refs of identical code): {len(aa)} runs, **{false_calls} called slower or faster** "
        f"(calls: {', '.join(f'{c} {n}' for c, n in aa['call'].value_counts().items())})",
        f"- **+{asked:g} %** (extra work per request: {int(effect['iterations'].max()) if len(effect) else 0} "
        f"iterations, {effect['work_us'].max() if len(effect) else 0:g} µs timed alone, against *after*'s "
        f"{table['base_cpu_ms'].iloc[0]:.2f} ms of CPU per request): {len(effect)} runs, **{detected} called "
        f"slower**; median estimate {effect['change_pct'].median():+.1f} %",
        f"- wall time per gate run, set-up included: median **{table['wall_s'].median():.0f} s** "
        f"(min {table['wall_s'].min():.0f}, max {table['wall_s'].max():.0f}); pairs of windows: median "
        f"{table['pairs'].median():.0f}",
        f"- the smallest change the A/A runs could have seen (their interval's far end): median "
        f"{aa[['low_pct', 'high_pct']].abs().max(axis=1).median():.1f} %",
        "",
        "![each run's interval](calibration.png)",
        "",
        "| run | kind | call | change | interval | pairs | wall s | host speed |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {r.run} | {r.kind} | {r.call} | {r.change_pct:+.1f} % | [{r.low_pct:+.1f}, {r.high_pct:+.1f}] | "
          f"{r.pairs} | {r.wall_s:.0f} | {r.host_speed:,.0f} |" for r in table.itertuples()),
        "",
    ]
    (out / "calibration.md").write_text("\n".join(lines))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in table.itertuples():
        colour = "tab:blue" if r.kind == "aa" else "tab:red"
        ax.errorbar([r.run], [r.change_pct], yerr=[[r.change_pct - r.low_pct], [r.high_pct - r.change_pct]],
                    fmt="o", color=colour, capsize=3)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axhspan(-3, 3, color="grey", alpha=0.12, lw=0)
    if len(effect):
        ax.axhline(asked, color="tab:red", lw=0.8, ls="--")
    ax.set_xlabel(f"gate run (blue: A/A, red: +{asked:g} % work)")
    ax.set_ylabel("CPU per request, candidate vs base (%)")
    ax.set_title("Each gate run's estimate and its interval at its last look")
    fig.tight_layout()
    fig.savefig(out / "calibration.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--runs", type=int, default=8, help="gate runs of each kind")
    parser.add_argument("--effect-pct", type=float, default=5.0)
    parser.add_argument("--cpu", type=int, default=os.cpu_count() - 1 if os.cpu_count() else 0,
                        help="the budget's CPU, where the work is timed alone")
    parser.add_argument("--summarize", action="store_true", help="only redraw the page from calibration.csv")
    args, gate_options = parser.parse_known_args()  # the rest goes to every `harness gate` (e.g. --budget 400)
    if args.summarize:
        summarize(args.out)
    else:
        calibrate(args.out, args.runs, args.effect_pct, args.cpu, gate_options)


if __name__ == "__main__":
    main()
