"""The swarm backend with a tier on another node: this engine the manager, a second engine in a
network namespace of this machine the node labelled for PostgreSQL, then for the application
tier, whose run ends with the node's link cut (tests/integration/second_engine.py says what the
second engine is and is not).

The engine is made a swarm manager on the link to the second node only when it is in no swarm,
and everything is left as found: the node leaves, the swarm is left, the namespace removed."""

import json
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import docker
import pandas as pd
import pytest

from tests.conftest import HARNESS, NOTHING_LEFT, REPO, owned_left, run_harness
from tests.integration.second_engine import CGROUP_PARENT, HOST_ADDRESS, HOST_SIDE, NETNS, SecondEngine, second_engine

STAGE = "s4-queries"


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[docker.DockerClient, SecondEngine]]:
    manager = docker.from_env()
    assert manager.info()["Swarm"]["LocalNodeState"] == "inactive", \
        "the two-node test makes its own swarm: this engine must be in none"
    had_gateway_bridge = bool(manager.networks.list(names=["docker_gwbridge"]))
    # the images first, on both engines: a node with no registry runs only what was loaded on it
    built = run_harness("images", STAGE, timeout=1800)
    assert built.returncode == 0, built.stdout + built.stderr
    with second_engine(tmp_path_factory.mktemp("node")) as node:
        node.load([f"ladder-{STAGE}:latest", "ladder-wire:latest", "ladder-postgres:bookworm"])
        # heartbeats each second (Swarm's default: 5 s), so the manager marks a lost node down, and
        # removes what was left there once it is back, within seconds: the drill waits for both
        manager.swarm.init(advertise_addr=HOST_ADDRESS, dispatcher_heartbeat_period=1_000_000_000)
        try:
            manager.swarm.reload()
            node.client.swarm.join([f"{HOST_ADDRESS}:2377"], manager.swarm.attrs["JoinTokens"]["Worker"],
                                   advertise_addr=node.address)
            yield manager, node
        finally:
            node.client.swarm.leave(force=True)
            manager.swarm.leave(force=True)
            assert manager.info()["Swarm"]["LocalNodeState"] == "inactive"
            if not had_gateway_bridge:
                for bridge in manager.networks.list(names=["docker_gwbridge"]):
                    bridge.remove()
    # the second engine, its namespace, link and cgroups gone with it
    assert not Path(f"/var/run/netns/{NETNS}").exists()
    assert not list(Path("/sys/fs/cgroup").glob(f"*{CGROUP_PARENT}")), "the second engine's cgroups are left"


def _label(manager: docker.DockerClient, node: SecondEngine, tier: str) -> None:
    (joined,) = [n for n in manager.nodes.list() if n.attrs["Description"]["Hostname"] == node.hostname]
    spec = joined.attrs["Spec"]
    joined.update({**spec, "Labels": {**spec.get("Labels", {}), "ladder.tier": tier}})


def _nothing_left(manager: docker.DockerClient, node: SecondEngine) -> None:
    """Nothing of the run on either engine (the other node removes its containers once their
    services are gone, a moment later)."""
    assert owned_left(manager) == NOTHING_LEFT
    deadline = time.monotonic() + 30
    while owned_left(node.client) != NOTHING_LEFT and time.monotonic() < deadline:
        time.sleep(0.5)
    assert owned_left(node.client) == NOTHING_LEFT


def test_postgresql_on_another_node_keeps_its_data_there_in_memory_and_is_read_there(
        two_nodes: tuple[docker.DockerClient, SecondEngine], results_dir: Path) -> None:
    manager, node = two_nodes
    _label(manager, node, "db")
    done = run_harness("run-all", "--backend", "swarm", "--quick", "--no-ceiling", "--rtt", "0", "--idle-timeout", "0",
                       "--stages", STAGE,
                       env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = [p for p in results_dir.iterdir() if (p / "summary.csv").is_file()]
    row = pd.read_csv(run / "summary.csv").set_index("stage").loc[STAGE]
    m = json.loads((run / "stages" / STAGE / "measurement.json").read_text())
    # PostgreSQL ran there (reached at the port its task published, pinned by that node's agent), the
    # stage's services here; its CPU is the other node's reading of it
    assert m["remote_tiers"] == {"postgres": node.hostname}, m
    assert m["db_cpu_seconds"] == pytest.approx(m["node_busy_seconds"][node.hostname]) and m["db_cpu_seconds"] > 0
    assert json.loads((run / "run.json").read_text())["swarm"]["postgres_data"] == "tmpfs on its node"
    assert row["status"] == "ok" and row["writes_lost"] == 0 and row["net_rtt_ms"] > 0
    _nothing_left(manager, node)


def test_the_application_tier_on_another_node_is_measured_over_the_real_network_until_the_node_is_lost(
        two_nodes: tuple[docker.DockerClient, SecondEngine], results_dir: Path) -> None:
    """One run with the application tier on the other node: its first repeat measured over the real
    network between the machines, then the drill (docs/drills.md): the second machine's link cut in
    the middle of the second repeat's window, while it runs the application tier."""
    manager, node = two_nodes
    _label(manager, node, "app")
    env = {"LADDER_RESULTS_DIR": str(results_dir)}
    # a wire would route the tiers through this node: refused in one line, before anything starts
    refused = run_harness("run-all", "--backend", "swarm", "--quick", "--stages", STAGE, env=env, timeout=120)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert f"app tier on {node.hostname}" in refused.stderr and "--rtt 0" in refused.stderr
    proc = subprocess.Popen([*HARNESS, "run-all", "--backend", "swarm", "--rtt", "0", "--stages", STAGE,
                             "--repeat", "2", "--users", "10", "--warmup", "1", "--duration", "6", "--no-ceiling",
                             "--no-same-traffic", "--idle-timeout", "0"], cwd=REPO,
                            env={**os.environ, **env, "COLUMNS": "200"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while not list(results_dir.glob(f"*/stages/{STAGE}.r2/stage.json")) or json.loads(next(
                results_dir.glob(f"*/stages/{STAGE}.r2/stage.json")).read_text())["phase"] != "measure":
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        time.sleep(2)
        cut, cut_at = time.monotonic(), time.time()
        subprocess.run(["ip", "link", "set", HOST_SIDE, "down"], check=True)
        out, err = proc.communicate(timeout=300)
        noticed = time.monotonic() - cut
    finally:
        if proc.poll() is None:
            proc.kill()
    try:
        (run,) = [p for p in results_dir.iterdir() if (p / "run.json").is_file()]
        _first_repeat_measured_over_the_real_network(run, node)
        assert proc.returncode == 2, out + err
        line = err.strip().splitlines()
        assert len(line) == 1 and f"node {node.hostname} (the application tier) lost during measure" in line[0], err
        assert json.loads((run / "run.json").read_text())["status"] == "failed"
        summary = pd.read_csv(run / "summary.csv").set_index("stage")
        assert summary.loc[STAGE, "status"] == "failed" and summary.loc[STAGE, "repeats"] == 1  # r1 kept
        assert json.loads((run / "stages" / STAGE / "stage.json").read_text())["status"] == "ok"
        assert owned_left(manager) == NOTHING_LEFT  # nothing of the run on the engine that remains
        # once the manager has marked the node down, cleanup says what to do about what is left there
        deadline = time.monotonic() + 60
        while manager.nodes.get(_node_id(manager, node)).attrs["Status"]["State"] != "down":
            assert time.monotonic() < deadline
            time.sleep(1)
        swept = run_harness("cleanup", env=env, timeout=120)
        assert f"node {node.hostname} is down" in swept.stdout, swept.stdout
        failed_at = datetime.fromisoformat(json.loads((run / "stages" / f"{STAGE}.r2" / "stage.json").read_text())[
            "finished_at"]).timestamp()
        print(f"\nnode lost: the stage failed {failed_at - cut_at:.1f} s after the link was cut, the run exited "
              f"{noticed:.1f} s after it")
    finally:
        subprocess.run(["ip", "link", "set", HOST_SIDE, "up"], check=False)
    # when it comes back, the swarm removes what the run left there (its services are gone)
    deadline = time.monotonic() + 120
    while owned_left(node.client)["containers"] and time.monotonic() < deadline:
        time.sleep(1)
    assert owned_left(node.client) == NOTHING_LEFT


def _first_repeat_measured_over_the_real_network(run: Path, node: SecondEngine) -> None:
    row = pd.read_csv(run / "summary.csv").set_index("stage").loc[STAGE]  # the first repeat's figures
    m = json.loads((run / "stages" / STAGE / "measurement.json").read_text())
    # every service of the stage ran on the other node, PostgreSQL here; fails if the label is ignored
    assert set(m["remote_tiers"].values()) == {node.hostname} and "postgres" not in m["remote_tiers"], m
    assert set(m["remote_tiers"]) == set(m["node_cpu_seconds"]) - {"postgres"}
    # their CPU is what the other node's reader read (this host sees none of their processes): the
    # server side's CPU is the readers' sum, the verdict's share the busiest node's
    assert m["server_cpu_read_by"] == "node readers" and all(s > 0 for s in m["node_cpu_seconds"].values()), m
    assert m["server_cpu_seconds"] == pytest.approx(sum(m["node_cpu_seconds"].values()))
    assert m["node_busy_seconds"][node.hostname] == pytest.approx(
        sum(s for t, s in m["node_cpu_seconds"].items() if t != "postgres"))
    busiest = max(m["node_busy_seconds"].values()) / m["window_seconds"] * 100
    assert row["server_busy_pct"] == pytest.approx(busiest, abs=0.01)
    # the probe ran on the other node and exchanged with the echo here, across the machines' link and
    # the overlay (~120 exchanges in a 6 s window); what that link adds over loopback there is
    # microseconds (a veth pair), within the probe's noise, so only its sum is asserted
    network = m["network"]
    assert network["real"] and network["probe_samples"] >= 60 and not network["problems"], network
    assert 0 < row["net_rtt_ms"] < 5.0 and not pd.isna(row["net_added_ms"]), network
    assert row["writes_lost"] == 0 and row["hops_per_req"] >= 1
    header = json.loads((run / "run.json").read_text())
    assert header["load_path"]["chosen"] == "published port", header["load_path"]
    report = (run / "report.md").read_text()
    assert "Network: **real**" in report and f"Tiers that may run elsewhere: app (on {node.hostname})" in report
    # this host's budget CPUs carried only PostgreSQL: their busy time is kept aside, not taken for the
    # budget's (the summary's budget_busy_pct stays empty)
    assert "budget_cpus" not in m["waiting"] and "this_host_budget_cpus" in m["waiting"], m["waiting"]
    assert pd.isna(row.get("budget_busy_pct")), row


def _node_id(manager: docker.DockerClient, node: SecondEngine) -> str:
    (joined,) = [n for n in manager.nodes.list() if n.attrs["Description"]["Hostname"] == node.hostname]
    return str(joined.id)
