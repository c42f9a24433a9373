import subprocess
import sys

from harness.ownership import alive, owner


def test_an_owner_is_alive_only_with_its_own_pid_and_start_time() -> None:
    me = owner()
    assert alive(me)
    pid, started = me.split("-")
    assert not alive(f"{pid}-{int(started) + 1}")  # the same pid, reused by a later process
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not alive(f"{child.pid}-{started}")  # gone
    assert not alive(None) and not alive("") and not alive("garbage")
