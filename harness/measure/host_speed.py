"""How fast the host's CPU is while a stage is measured: a fixed sliver of Python work, timed
again and again on the budget's CPUs.

On a shared VM the same request costs different CPU time from one second to the next. On the
reference machine a pinned, otherwise idle vCPU flips between two speeds about 2× apart every
few seconds (a neighbour on the sibling hyperthread, most likely), and in the reference runs
every stage kept its budget CPU 100 % busy while its CPU-ms per request swung by a third
between repeats. An idle check cannot see that: it sees a quiet CPU, not a slow one. Timing
before and after a window cannot either, because the speed changes within it.

So a watcher per budget CPU wakes every INTERVAL_S, times UNITS units of stage-like work
(dicts, JSON in and out, formatting, sorting) in its own CPU time, and writes one line. It
takes ~1.4 % of the budget CPU in every stage alike, recorded as `host_speed` in measurement.json.
CPU time rather than wall time: a burst preempted by the server does not count the wait.
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from harness.processes import terminate

INTERVAL_S = 0.2
UNITS = 20  # ~3 ms of CPU at the reference machine's slow speed


def _unit(i: int) -> int:
    """One unit of stage-like work: a small document built, encoded, decoded and summarised."""
    rows = [{"id": i * 31 + k, "name": f"user-{k}", "score": (k * 7919) % 1000 / 10, "tags": ["a", "b", str(k)]}
            for k in range(20)]
    text = json.dumps({"rows": rows, "total": len(rows)})
    back = json.loads(text)
    ranked = sorted(back["rows"], key=lambda r: (r["score"], r["id"]))
    return len(text) + sum(len(r["name"]) for r in ranked[:5])


def burst(units: int = UNITS) -> float:
    """Units per CPU-second of one burst, in this process's CPU time."""
    t = time.process_time()
    for i in range(units):
        _unit(i)
    return units / max(time.process_time() - t, 1e-9)


def watch(out: Path, interval: float = INTERVAL_S, units: int = UNITS) -> None:
    """Write `t,units_per_s` every `interval` until SIGTERM."""
    stop = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness stops it, after the window
    burst(units)  # imports and first-call costs are not the host's speed
    with open(out, "w", buffering=1) as f:
        f.write("t,units_per_s\n")
        while not stop:
            f.write(f"{time.time():.3f},{burst(units):.1f}\n")
            time.sleep(interval)


def _start(cpu: int, out: Path) -> "subprocess.Popen[bytes]":
    # its own output files, never the harness's: a watcher orphaned by a killed harness must not
    # hold the harness's stdout pipe open for whoever reads it
    with open(out.with_suffix(".log"), "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "harness.measure.host_speed", str(out)],
                                preexec_fn=lambda: os.sched_setaffinity(0, {cpu}), start_new_session=True,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


@dataclass
class Watchers:
    """One watcher process per budget CPU, each pinned to its CPU."""

    processes: list[subprocess.Popen[bytes]]

    @classmethod
    def start(cls, cpus: frozenset[int], out_dir: Path) -> "Watchers":
        return cls([_start(cpu, out_dir / f"host_speed.cpu{cpu}.csv") for cpu in sorted(cpus)])

    def stop(self) -> None:
        terminate(self.processes, grace=5)


def window_speed(out_dir: Path, window: tuple[float, float], units: int = UNITS) -> dict[str, float | int]:
    """The host's speed inside the window: the mean of the bursts (they are evenly spaced, so
    the mean weighs each moment alike, as the server's throughput does), with its range, and
    the share of the budget's CPU time the bursts took from the stage."""
    speeds = []
    files = sorted(out_dir.glob("host_speed.cpu*.csv"))
    for path in files:
        for line in path.read_text().splitlines()[1:]:
            t, _, value = line.partition(",")
            if value and window[0] <= float(t) <= window[1]:
                speeds.append(float(value))
    if not speeds:
        return {"samples": 0}
    cpu_seconds = sum(units / v for v in speeds if v > 0)
    return {"samples": len(speeds), "mean": round(sum(speeds) / len(speeds), 1),
            "min": round(min(speeds), 1), "max": round(max(speeds), 1),
            "budget_share_pct": round(100 * cpu_seconds / (window[1] - window[0]) / len(files), 2)}


if __name__ == "__main__":
    watch(Path(sys.argv[1]))
