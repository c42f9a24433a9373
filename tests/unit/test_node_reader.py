"""The swarm's node reader finds a container's CPU counter under cgroup v1 and v2 layouts."""

from pathlib import Path

import pytest

from harness.backends.node_reader import container_cpu_seconds

ID = "b9b7ef36ede4aeeaa09d4b06c6810b69b037f2fcaa496bcf49662484c54424e0"


@pytest.mark.parametrize(("counter", "text", "seconds"), [
    (f"cpuacct/docker/{ID}/cpuacct.usage", "2500000000\n", 2.5),  # v1, cgroupfs driver: nanoseconds
    (f"cpu,cpuacct/system.slice/docker-{ID}.scope/cpuacct.usage", "1000000000\n", 1.0),  # v1, systemd
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
