"""A CPU quota for the local backend's server side, through cgroups (v1 or v2).

Server processes join the group from their preexec_fn, before exec, so everything they
fork later (PostgreSQL backends, gunicorn workers) is inside it too. The group is removed
when the run ends.
"""

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness import interrupts
from harness.errors import OptionError
from harness.ownership import owner

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


@dataclass(frozen=True)
class CpuQuotaGroup:
    path: Path
    version: int

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def join(self) -> None:
        """Move the calling process into the group (safe in a preexec_fn)."""
        with open(self.procs, "w") as f:
            f.write(str(os.getpid()))

    def describe(self) -> str:
        return f"cgroup v{self.version} {self.path}"


def _cgroup_v2() -> bool:
    return (ROOT / "cgroup.controllers").is_file() and "cpu" in (ROOT / "cgroup.controllers").read_text().split()


@contextlib.contextmanager
def cpu_quota_group(cpus: float) -> Iterator[CpuQuotaGroup]:
    """A cgroup limited to `cpus` CPUs' worth of time per period; removed on exit."""
    name = f"ladder-{owner()}-{secrets.token_hex(4)}"  # the owner, for `harness cleanup`
    quota = str(int(cpus * PERIOD_US))
    try:
        if _cgroup_v2():
            with contextlib.suppress(OSError):
                (ROOT / "cgroup.subtree_control").write_text("+cpu")
            group = CpuQuotaGroup(ROOT / name, 2)
            group.path.mkdir()
            (group.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            base = ROOT / "cpu"
            if not (base / "cpu.cfs_quota_us").exists():
                raise OptionError("{0} needs the cgroup cpu controller, which this machine does not offer", "cpu_quota")
            group = CpuQuotaGroup(base / name, 1)
            group.path.mkdir()
            (group.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group.path / "cpu.cfs_quota_us").write_text(quota)
    except PermissionError:
        raise OptionError("{0} needs permission to create cgroups (run as root)", "cpu_quota") from None
    try:
        yield group
    finally:
        with interrupts.deferred():
            _remove(group)


def _remove(group: CpuQuotaGroup, timeout: float = 10.0) -> None:
    """rmdir once the group is empty (its processes were stopped just before). A process still in
    it after half the timeout is one the run started (only the server side joins, and what it
    forks): killed, so the run leaves neither it nor the group behind."""
    deadline = time.monotonic() + timeout
    killed = False
    while group.path.exists():
        try:
            group.path.rmdir()
        except OSError:
            now = time.monotonic()
            if now > deadline:
                return
            if not killed and now > deadline - timeout / 2:
                killed = True
                with contextlib.suppress(OSError):
                    for pid in group.procs.read_text().split():
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.2)
