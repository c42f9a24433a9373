import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from harness.measure.host_speed import Watchers, burst, window_speed
from harness.reporting.analysis import with_host_speed


def test_a_burst_is_timed_in_cpu_time_not_wall_time() -> None:
    # a burst sharing its CPU with a spinning process is off the CPU about half its wall time: timed
    # in CPU time its speed stays that of a burst alone; timed by the wall clock it would halve
    cpu = max(os.sched_getaffinity(0))
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        alone = burst(20_000)
        spinner = subprocess.Popen([sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{cpu}}})\n"
                                    "while True: pass"])
        try:
            time.sleep(0.2)
            wall, used = time.monotonic(), time.process_time()
            shared = burst(20_000)
            wall, used = time.monotonic() - wall, time.process_time() - used
        finally:
            spinner.kill()
            spinner.wait()
    finally:
        os.sched_setaffinity(0, mine)
    assert wall > 1.4 * used  # the CPU was shared: a wall-clock timer would have seen this burst slower
    assert 0.7 < shared / alone < 1.4


def test_a_watcher_per_cpu_writes_pinned_bursts_until_stopped(tmp_path: Path) -> None:
    last = max(os.sched_getaffinity(0))
    watchers = Watchers.start(frozenset({last}), tmp_path)
    (proc,) = watchers.processes
    time.sleep(1.5)
    assert os.sched_getaffinity(proc.pid) == {last}
    watchers.stop()
    assert proc.returncode == 0  # SIGTERM is its normal stop, not a crash
    lines = (tmp_path / f"host_speed.cpu{last}.csv").read_text().splitlines()
    assert lines[0] == "t,units_per_s" and len(lines) >= 4
    times = [float(line.split(",")[0]) for line in lines[1:]]
    start, end = times[1], times[-2]
    inside = window_speed(tmp_path, (start, end))
    values = [float(line.split(",")[1]) for line in lines[2:-1]]  # the bursts inside the window
    # fails if the window's bounds or its mean take the wrong bursts (the first or last, outside it)
    assert inside["samples"] == len(values) == len(times) - 2
    assert inside["mean"] == round(sum(values) / len(values), 1)
    assert (inside["min"], inside["max"]) == (round(min(values), 1), round(max(values), 1))
    assert window_speed(tmp_path, (0, 1)) == {"samples": 0}


def test_speed_is_relative_to_the_stages_median_and_scales_throughput() -> None:
    per = pd.DataFrame({"stage": ["a", "a", "a", "b", "b"], "rps": [10.0, 24.0, 9.0, 100.0, 50.0],
                        "host_speed": [100.0, 200.0, 90.0, 50.0, np.nan]})
    out = with_host_speed(per)
    assert list(out["speed"].round(3)[:4]) == [1.0, 2.0, 0.9, 1.0]
    # a window on a host twice as fast counts at half its throughput; one never timed is left out
    assert list(out["rps_at_speed"].round(3)[:4]) == [10.0, 12.0, 10.0, 100.0]
    assert np.isnan(out["rps_at_speed"].iloc[4])
