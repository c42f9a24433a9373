"""A CPU profile of a stage's server processes during one measuring window, by py-spy.

py-spy (a binary wheel on PyPI) samples a running CPython from outside: it reads the target's
memory, so the stage's code needs no change and no import, and `--nonblocking` never stops the
target to take a sample. One py-spy per service process (`--subprocesses` follows gunicorn's
workers), pinned to the load CPUs, so the profiler's own CPU lands beside the generator's and
not on the budget; it is measured like the generator's (`profiler_cpu_pct`). Each writes a
speedscope file (open it at https://www.speedscope.app), in which py-spy records on-CPU samples
only (no `--idle`), each weighing 1/rate seconds. py-spy's "active" is the kernel's runnable, so
on a busy budget the samples overstate CPU; harness.reporting.layers uses them for shares and
applies the shares to the CPU the kernel counted per service in the window (`measured_cpu_s`),
which the window reads beside its own readings and hands to `stop`: the profiler reads no CPU
of the services itself (py-spy starts after the window opens and outlives it while the load goes
on, so its own span is not the window's: read when `stop` returned, the layers came out 11 %
above the window's CPU per request on a 6 s window).

Both backends: on the Docker path the services' pids are the containers' processes as the host
sees them, which py-spy reads through /proc (root on the host).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cpu import pin
from harness.errors import OptionError
from harness.processes import terminate

# samples per second per service; a stage of 14 services shares ~1,000 between them, so the
# profilers' CPU on the load CPUs stays small beside the generator (measured per window)
RATE_HZ = 100
TOTAL_RATE_HZ = 1000
MIN_RATE_HZ = 20
PROFILE_DIR = "profile"
# --gil: only the thread holding the GIL is sampled, the one running Python (without it, the sync
# stages' thread pools put every thread waiting for the GIL in the profile); --nonblocking: the
# target is never stopped to be read (stopping it would bill the budget for the profiler)
PY_SPY_MODE = ("--gil", "--nonblocking")


def py_spy() -> str:
    """The py-spy executable beside this interpreter (installed with the harness), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.is_file() else shutil.which("py-spy")
    if not found:
        raise OptionError("{0} needs py-spy (pip install py-spy; it is among the harness's dependencies)", "profiled")
    return found


def rate_for(processes: int) -> int:
    return max(MIN_RATE_HZ, min(RATE_HZ, TOTAL_RATE_HZ // max(1, processes)))


@dataclass
class Profiler:
    """py-spy on every service of a stage for `seconds`, started at the window's opening."""

    services: dict[str, int]  # service name -> its main process's pid on this host
    seconds: float
    load_cpus: frozenset[int]
    out_dir: Path
    rate: int = 0
    _running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _own_cpu: dict[str, float] = field(default_factory=dict)
    _started: float = 0.0

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.rate = self.rate or rate_for(len(self.services))
        executable = py_spy()
        self._started = time.time()
        for name, pid in self.services.items():
            with open(self.out_dir / f"{name}.py-spy.log", "wb") as log:
                self._running[name] = subprocess.Popen(
                    [executable, "record", "--pid", str(pid), "--rate", str(self.rate), *PY_SPY_MODE,
                     "--subprocesses", "--format", "speedscope", "--duration", str(max(1, round(self.seconds))),
                     "--output", str(self.out_dir / f"{name}.speedscope.json")],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    preexec_fn=lambda: pin(self.load_cpus), start_new_session=True)

    def _reap(self) -> None:
        """Collect the py-spys that ended, with their own CPU time (wait4's rusage: an exited
        process has no /proc entry left to read)."""
        for name, process in self._running.items():
            if process.returncode is not None:
                continue
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                self._own_cpu[name] = usage.ru_utime + usage.ru_stime

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            self._reap()
            if all(p.returncode is not None for p in self._running.values()) or time.monotonic() > deadline:
                return
            time.sleep(0.1)

    def stop(self, grace: float = 20.0, window_cpu: Mapping[str, float] | None = None) -> dict[str, Any]:
        """Wait for every py-spy to write its file (they stop by themselves after `seconds`).
        `window_cpu`: each service's CPU over the measuring window, recorded beside its profile."""
        self._wait(grace)
        for process in self._running.values():
            if process.returncode is None:  # Ctrl-C: py-spy writes what it has on the way out
                process.send_signal(signal.SIGINT)
        self._wait(5.0)
        terminate([p for p in self._running.values() if p.returncode is None], grace=2)
        services = {}
        for name, pid in self.services.items():
            spy = self._running.get(name)
            path = self.out_dir / f"{name}.speedscope.json"
            services[name] = {
                "pid": pid, "file": path.name if path.is_file() else None,
                "exit_code": spy.returncode if spy else None,
                "profiler_cpu_s": round(self._own_cpu.get(name, 0.0), 3),
            }
            if window_cpu is not None:
                services[name]["measured_cpu_s"] = round(window_cpu.get(name, 0.0), 3)
        return {"tool": "py-spy", "rate_hz": self.rate, "seconds": self.seconds, "started_at": self._started,
                "mode": list(PY_SPY_MODE), "profiler_cpu_s": round(sum(self._own_cpu.values()), 3),
                "services": services}
