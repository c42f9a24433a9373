"""The swarm's node agent finds a container's CPU counter under cgroup v1 and v2 layouts, and pins
it by writing its cpuset."""

from pathlib import Path

import pytest

from harness.backends.node_reader import container_cpu_seconds, pin_container

ID = "b9b7ef36ede4aeeaa09d4b06c6810b69b037f2fcaa496bcf49662484c54424e0"


@pytest.mark.parametrize(("counter", "text", "seconds"), [
    (f"cpuacct/docker/{ID}/cpuacct.usage", "2500000000\n", 2.5),  # v1, cgroupfs driver: nanoseconds
    (f"cpu,cpuacct/system.slice/docker-{ID}.scope/cpuacct.usage", "1000000000\n", 1.0),  # v1, systemd
    (f"cpuacct/node2/{ID}/cpuacct.usage", "3000000000\n", 3.0),  # v1, an engine with its own cgroup-parent
    (f"system.slice/docker-{ID}.scope/cpu.stat", "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
     1.5),  # v2: usage_usec, not user_usec (the first line of a different order would pass a naive read)
])
def test_a_containers_cpu_in_seconds_whatever_the_layout(tmp_path: Path, counter: str, text: str,
                                                           seconds: float) -> None:
    path = tmp_path / counter
    path.parent.mkdir(parents=True)
    path.write_text(text)
    assert container_cpu_seconds(tmp_path, ID) == pytest.approx(seconds)
    assert container_cpu_seconds(tmp_path, "0" * 64) is None  # another node's container: not found here


def test_pinning_writes_the_containers_cpuset_and_only_its_own(tmp_path: Path) -> None:
    # fails if the agent writes another container's cpuset, or says it pinned one it did not find
    ours, other = tmp_path / f"cpuset/docker/{ID}/cpuset.cpus", tmp_path / f"cpuset/docker/{'1' * 64}/cpuset.cpus"
    for path in (ours, other):
        path.parent.mkdir(parents=True)
        path.write_text("0-1\n")
    assert pin_container(tmp_path, ID, "1") is True
    assert ours.read_text() == "1" and other.read_text() == "0-1\n"
    assert pin_container(tmp_path, "0" * 64, "1") is False
