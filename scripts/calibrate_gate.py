"""The gate's calibration: `harness gate` run as a user runs it, on the test service
(tests/service_fixture.py), many times over two kinds of pair —
- `aa`: two refs of identical code (the base and an empty commit on it): every call of slower or
  faster is a false alarm;
- `effect`: the base and a candidate whose every signed-in request does a fixed amount of extra
  work, sized to cost EFFECT_PCT % of the base's CPU per request (the work timed alone on the
  budget's CPU, the base's CPU per request from the round's first A/A gate; both stated).
The base (`--base`) is `calm` by default: *after* with a connection pool as large as its
threadpool, so the work cannot make the pool overflow and open connections — its cost is then the
work's own, and the service's, not PostgreSQL's connection churn (`after` itself: the first round).
The kinds alternate, so the host's moods fall on both. One row per gate run is appended to
calibration.csv; calibration.md and calibration.png summarize it, a line per round.

    python scripts/calibrate_gate.py OUT [--runs 8] [--effect-pct 5] [--base calm] [any option of harness gate]
    python scripts/calibrate_gate.py OUT --summarize      # redraw the page from calibration.csv

A benchmark to run, not a test: each gate takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.service_fixture import add_calm_branch, add_same_branch, add_slower_branch, make_repository  # noqa: E402

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
           "wall_s", "setup_s", "host_speed", "iterations", "work_us", "base_cpu_ms", "results", "sized", "options",
           "base", "round"]


def gate(repo: Path, base: str, candidate: str, results: Path, options: list[str]) -> dict[str, object]:
    """One `harness gate BASE CANDIDATE` through the installed command; its row. Ctrl-C reaches the
    gate as the interrupt it handles (so it stops what it started), never as a kill."""
    started = time.monotonic()
    gate = subprocess.Popen([str(HARNESS), "gate", base, candidate, "--service", str(repo), *options],
                            env={**os.environ, "LADDER_RESULTS_DIR": str(results)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = gate.communicate()
    except KeyboardInterrupt:
        gate.send_signal(signal.SIGINT)
        gate.wait(timeout=120)
        raise
    wall = time.monotonic() - started
    print(stdout[-600:], stderr[-600:], flush=True)
    run = max(results.iterdir(), key=lambda p: p.stat().st_mtime)
    record = json.loads((run / "run.json").read_text())["gate"]
    last = (record.get("looks") or [{}])[-1]
    per = pd.read_csv(run / "measurements.csv")
    return {"call": record.get("call"), "exit": gate.returncode, "change_pct": last.get("change_pct"),
            "low_pct": last.get("low_pct"), "high_pct": last.get("high_pct"), "confidence": last.get("confidence"),
            "pairs": record.get("decided_at"), "wall_s": round(wall, 1), "setup_s": record.get("setup_s"),
            "host_speed": float(per["host_speed"].median()),
            "base_cpu_ms": float(per.loc[per["stage"] == base, "cpu_s_per_1k"].median()), "results": run.name}


def us_per_iteration(cpu: int) -> float:
    """The extra work's cost per iteration, timed alone on the budget's CPU with the services' Python."""
    done = subprocess.run(["/usr/bin/python3.11", "-c", WORK.format(cpu=cpu)], capture_output=True, text=True,
                          check=True)
    return float(done.stdout.strip())


def calibrate(out: Path, runs: int, effect_pct: float, cpu: int, options: list[str], kinds: list[str],
              iterations: int, sized: str, base: str) -> None:
    """Runs of `kinds` alternating, `runs` of each, appended to OUT/calibration.csv (numbered on)."""
    out.mkdir(parents=True, exist_ok=True)
    table = out / "calibration.csv"
    rows: list[dict[str, object]] = pd.read_csv(table).to_dict("records") if table.is_file() else []
    first = len(rows)
    round_number = 1 + max((int(r["round"]) for r in rows if pd.notna(r.get("round"))), default=0)
    with tempfile.TemporaryDirectory(prefix="gate-calibration-") as folder:
        repo = make_repository(Path(folder) / "notes")
        if base == "calm":
            add_calm_branch(repo)
        add_same_branch(repo, base)
        results = Path(folder) / "results"
        work_us = 0.0
        if iterations:
            add_slower_branch(repo, iterations, base)
        for k in range(len(kinds) * runs):
            kind = kinds[k % len(kinds)]
            if kind == "effect" and not iterations:
                # sized on the first A/A gate's base: EFFECT_PCT % of its CPU per request
                base_ms = float(rows[first]["base_cpu_ms"])  # type: ignore[arg-type]
                per_iteration = us_per_iteration(cpu)
                iterations = round(effect_pct / 100 * base_ms * 1000 / per_iteration)
                work_us = round(iterations * per_iteration, 1)
                print(f"extra work: {iterations} iterations = {work_us} us alone, {effect_pct} % of {base_ms} ms",
                      flush=True)
                add_slower_branch(repo, iterations, base)
            row = {"run": first + k + 1, "kind": kind, "effect_pct": effect_pct if kind == "effect" else 0.0,
                   **gate(repo, base, "same" if kind == "aa" else "slower", results, options),
                   "iterations": iterations if kind == "effect" else 0, "work_us": work_us if kind == "effect" else 0,
                   "sized": sized if kind == "effect" else "", "options": " ".join(options), "base": base,
                   "round": round_number}
            rows.append(row)
            pd.DataFrame(rows, columns=COLUMNS).to_csv(table, index=False)
            print(row, flush=True)
    summarize(out)


def summarize(out: Path) -> None:
    """calibration.md (the checks, a line per round of runs, a row per run) and calibration.png
    (each run's interval). A round is one invocation of the script: one base, one sizing."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = pd.read_csv(out / "calibration.csv")
    table["base"] = table["base"].fillna("after")
    table["sized"] = table["sized"].fillna("")
    table["options"] = table["options"].fillna("")
    aa, effect = table[table["kind"] == "aa"], table[table["kind"] == "effect"]
    calls = table["call"].isin(["slower", "faster"])
    lines = [
        "# The gate's calibration",
        "",
        f"`harness gate BASE CANDIDATE --service REPO` on the test service, run {len(table)} times as a user runs it, "
        "on the gate's defaults otherwise (CPU per request, ±3 % threshold, 95 % confidence over all looks, "
        "15 s windows side by side). Made by `python scripts/calibrate_gate.py`; every row is one gate run, "
        "A/A and effect runs alternating so the host's moods fall on both.",
        "",
        f"- **A/A** (two refs of identical code): {len(aa)} runs, **{int(calls[aa.index].sum())} called slower "
        f"or faster** (calls: {', '.join(f'{c} {n}' for c, n in aa['call'].value_counts().items())})",
        f"- **effect** (extra work in every signed-in request): {len(effect)} runs, "
        f"**{int((effect['call'] == 'slower').sum())} called slower**",
        f"- wall time per gate run, set-up included: median **{table['wall_s'].median():.0f} s** "
        f"(min {table['wall_s'].min():.0f}, max {table['wall_s'].max():.0f}); pairs of windows: median "
        f"{table['pairs'].median():.0f}",
        f"- the smallest change the A/A runs could have seen (their interval's far end): median "
        f"{aa[['low_pct', 'high_pct']].abs().max(axis=1).median():.1f} %",
        "",
        "## Rounds",
        "",
        "| round | base | options | A/A runs | called | the effect's work | effect runs | called slower "
        "| median estimate | median wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for number, rows in table.groupby("round"):
        a, e = rows[rows["kind"] == "aa"], rows[rows["kind"] == "effect"]
        work = ""
        if len(e):  # one sizing per round, against its first A/A base: work = effect % of that base
            w = e.iloc[0]
            work = (f"+{w.effect_pct:g} %: {int(w.iterations)} iterations"
                    + (f", {w.work_us:g} µs alone of {w.work_us / w.effect_pct / 10:.2f} ms" if w.work_us else "")
                    + f" ({w.sized})")
        lines.append(f"| {int(number)} | {rows['base'].iloc[0]} | `{rows['options'].iloc[0] or 'defaults'}` | "
                     f"{len(a)} | {int(calls[a.index].sum())} | {work} | {len(e)} | "
                     f"{int((e['call'] == 'slower').sum())} | "
                     + (f"{e['change_pct'].median():+.1f} %" if len(e) else "") + f" | {rows['wall_s'].median():.0f} |")
    lines += [
        "",
        "![each run's interval](calibration.png)",
        "",
        "| run | base | kind | call | change | interval | pairs | wall s | host speed |",
        "|---|---|---|---|---|---|---|---|---|",
        *(f"| {r.run} | {r.base} | {r.kind} | {r.call} | {r.change_pct:+.1f} % | [{r.low_pct:+.1f}, {r.high_pct:+.1f}] "
          f"| {r.pairs} | {r.wall_s:.0f} | {r.host_speed:,.0f} |" for r in table.itertuples()),
        "",
    ]
    (out / "calibration.md").write_text("\n".join(lines))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for r in table.itertuples():
        colour = "tab:blue" if r.kind == "aa" else "tab:red"
        ax.errorbar([r.run], [r.change_pct], yerr=[[r.change_pct - r.low_pct], [r.high_pct - r.change_pct]],
                    fmt="o" if r.base == "calm" else "s", color=colour, capsize=3, alpha=1 if r.base == "calm" else 0.5)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axhspan(-3, 3, color="grey", alpha=0.12, lw=0)
    ax.axhline(5, color="tab:red", lw=0.8, ls="--")
    ax.set_xlabel("gate run (blue: A/A, red: +5 % work timed alone; squares: base after, dots: base calm)")
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
    parser.add_argument("--kinds", default="aa,effect", help="the kinds of pair, alternating: aa, effect or both")
    parser.add_argument("--iterations", type=int, default=0,
                        help="the extra work's iterations, sized beforehand (default: sized from EFFECT_PCT, the "
                             "work timed alone against the first A/A gate's base)")
    parser.add_argument("--sized", default="alone", help="how --iterations was sized, for the page")
    parser.add_argument("--base", default="calm", help="the base ref: calm (after with a pool that cannot "
                        "overflow, so the work's cost is its own) or after")
    parser.add_argument("--summarize", action="store_true", help="only redraw the page from calibration.csv")
    args, gate_options = parser.parse_known_args()  # the rest goes to every `harness gate` (e.g. --budget 400)
    if args.summarize:
        summarize(args.out)
    else:
        calibrate(args.out, args.runs, args.effect_pct, args.cpu, gate_options, args.kinds.split(","),
                  args.iterations, args.sized, args.base)


if __name__ == "__main__":
    main()
