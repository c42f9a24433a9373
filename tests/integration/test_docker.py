"""The Docker path for real: offline images, compose profiles by hand, the docker backend.

A missing engine is a failure here, not a skip (CI runs on a machine with one)."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import docker
import httpx
import pandas as pd
import pytest

from domain import seed
from harness.manifests.manifest import discover
from tests.conftest import HARNESS, REPO, leftover_processes, run_harness, stage_phase

STAGES = [s.id for s in discover()]


@pytest.fixture(scope="module")
def images() -> None:
    done = run_harness("images", timeout=1500)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "load ladder-load:latest" in done.stdout  # what a swarm's load nodes need (docs/containers.md)


def test_compose_file_is_generated_from_the_manifests() -> None:
    done = run_harness("compose", "--check")
    assert done.returncode == 0, done.stderr


def _compose(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker-compose", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _profile_containers(engine: docker.DockerClient, stage: str) -> list:  # type: ignore[type-arg]
    return [c for c in engine.containers.list(all=True)
            if c.labels.get("com.docker.compose.service", "").startswith(stage + "-")
            or c.labels.get("com.docker.compose.service") == "db"]


# every stage's profile is rendered from its manifest by one function (harness compose --check
# above sees them all); brought up by hand: the two shapes a profile takes, services that call each
# other in containers of their own (at its smallest, s1's four; s0's fourteen come up in the docker
# run below) and the last stage's one deployable
@pytest.mark.parametrize("stage", [STAGES[1], STAGES[-1]])
def test_a_stage_comes_up_by_hand_through_its_compose_profile(images: None, stage: str) -> None:
    engine = docker.from_env()
    up = _compose("--profile", stage, "up", "-d")
    try:
        assert up.returncode == 0, up.stderr
        deadline = time.monotonic() + 180
        while True:
            servers = [c for c in _profile_containers(engine, stage) if not c.name.endswith("-seed_1")]
            states = [c.attrs["State"].get("Health", {}).get("Status") for c in servers]
            if servers and all(s == "healthy" for s in states):
                break
            assert time.monotonic() < deadline, f"{stage} not healthy: {states}"
            time.sleep(2)
            for c in servers:
                c.reload()
        for c in servers:
            assert c.attrs["HostConfig"]["CpusetCpus"] == "1"
            ports = c.attrs["HostConfig"]["PortBindings"] or {}
            assert all(b["HostIp"] == "127.0.0.1" for bindings in ports.values() for b in bindings)
        with httpx.Client(base_url="http://127.0.0.1:8000", timeout=30) as http:
            login = http.post("/api/login", json={"email": seed.email_for(3), "password": seed.password_for(3)})
            assert login.status_code == 200, login.text
            token = login.json()["access_token"]
            dashboard = http.get("/api/dashboard", headers={"Authorization": f"Bearer {token}"})
            assert dashboard.status_code == 200
            assert dashboard.json()["user"]["report_count"] == 20
            assert http.get("/api/me", headers={"Authorization": "Bearer forged"}).status_code == 401
    finally:
        down = _compose("--profile", stage, "down", "-v")
        assert down.returncode == 0, down.stderr


def test_quick_profiled_run_all_on_the_docker_backend_leaves_nothing(images: None, results_dir: Path) -> None:
    """One docker run for the backend's mechanisms: both load paths, the wire between the tiers, the
    stage's mechanism in containers, and py-spy on the host reading the services inside their
    containers (their pids as the host sees them; the containers' copy of the repository, /app/...,
    still counts as the stage's own code). s5: four services calling each other across containers,
    in one stage."""
    done = run_harness("run-all", "--backend", "docker", "--quick", "--no-ceiling", "--profile",
                       "--stages", "s5-optimized", "--idle-timeout", "0",
                       env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = list(results_dir.iterdir())
    summary = pd.read_csv(run / "summary.csv")
    assert (summary["status"] == "ok").all() and (summary["requests"] > 0).all()
    assert (summary["failures"] == 0).all()
    meta = json.loads((run / "run.json").read_text())
    assert meta["backend"] == "docker"
    # both load paths were measured on static JSON, and the stages were loaded through the chosen one
    path = meta["load_path"]
    assert set(path["paths"]) == {"bridge", "published"}
    assert all(p["reachable"] and p["rps"] > 0 for p in path["paths"].values()), path
    assert path["paths"]["published"]["url"].startswith("http://127.0.0.1:")
    url = json.loads((run / "stages" / "s5-optimized" / "stage.json").read_text())["url"]
    assert url.startswith("http://127.0.0.1:") == (path["chosen"] == "published"), (url, path["chosen"])
    # the mechanism in containers: every API call crosses from the edge to another service's container
    assert summary.set_index("stage").loc["s5-optimized", "hops_per_req"] > 0.9  # one per API call
    # the network between the tiers, in containers too: the wire sat between the services and
    # PostgreSQL and added at least its RTT in every window (whether it held it within the tolerance
    # is a figure of the host's load, said in the run; tests/integration/test_network.py checks it idle)
    assert meta["network"]["rtt_ms"] == 1.0
    network = json.loads((run / "stages" / "s5-optimized" / "measurement.json").read_text())["network"]
    assert network["routes"]["postgres"]["turns"] > 0, network
    assert network["added_rtt_ms"] >= network["rtt_ms"] - network["tolerance_ms"], network
    # the profile of s5's services, each read through its container, and its layers adding up to
    # the profiled window's CPU
    by_stage = summary.set_index("stage")
    assert by_stage.loc[["s5-optimized", "s5-optimized.profiled"], "status"].eq("ok").all()
    profiled = run / "stages" / "s5-optimized.profiled"
    record = json.loads((profiled / "measurement.json").read_text())["profile"]
    assert set(record["services"]) == {"core-api", "identity", "user", "jobs"}
    assert all(s["file"] and s["measured_cpu_s"] > 0 for s in record["services"].values()), record
    layers = pd.read_csv(run / "layers.csv")
    cpu = layers[layers["stage"] == "s5-optimized"].set_index("layer")["cpu_ms_per_req"]
    assert cpu["app code"] > 0 and cpu["ORM"] > 0
    assert cpu.sum() == pytest.approx(by_stage.loc["s5-optimized.profiled", "cpu_s_per_1k"], rel=0.10)
    engine = docker.from_env()
    assert not engine.containers.list(all=True, filters={"label": "ladder.run"})
    assert not engine.networks.list(filters={"label": "ladder.run"})
    assert not leftover_processes()


def test_docker_backend_without_an_engine_is_one_line(results_dir: Path) -> None:
    done = run_harness("run-all", "--backend", "docker", "--quick",
                       env={"LADDER_RESULTS_DIR": str(results_dir), "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert done.returncode == 2
    assert "Docker is not reachable" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def _docker_run_in_measurement(results_dir: Path, stage: str) -> subprocess.Popen[str]:
    """A one-stage docker run-all in the background, returned once its measurement has begun."""
    proc = subprocess.Popen(
        [*HARNESS, "run-all", "--backend", "docker", "--no-same-traffic",
         "--stages", stage,
         "--users", "10", "--warmup", "0.5", "--duration", "30", "--no-ceiling", "--idle-timeout", "0"],
        cwd=REPO, env={**os.environ, "LADDER_RESULTS_DIR": str(results_dir), "COLUMNS": "200"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while stage_phase(results_dir, stage) != "measure":
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the run never reached its measurement: {proc.communicate()}")
        time.sleep(0.2)
    return proc


def test_ctrl_c_in_a_docker_measurement_removes_every_container_and_network(images: None, results_dir: Path) -> None:
    stage = STAGES[-1]  # the fewest containers: what is tested is their removal, not their number
    proc = _docker_run_in_measurement(results_dir, stage)
    try:
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)  # a second Ctrl-C while containers are being removed
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert f"interrupted in {stage}: measure" in " ".join(err.split())
    engine = docker.from_env()
    assert not engine.containers.list(all=True, filters={"label": "ladder.run"})
    assert not engine.networks.list(filters={"label": "ladder.run"})


def _dangling_volumes() -> set[str]:
    return {v.name for v in docker.from_env().volumes.list(filters={"dangling": True})}


def test_sweep_removes_the_containers_of_a_killed_docker_run(images: None, results_dir: Path) -> None:
    volumes_before = _dangling_volumes()
    proc = _docker_run_in_measurement(results_dir, STAGES[-1])  # one deployable: the fewest containers
    proc.kill()  # SIGKILL: the harness removes nothing
    proc.communicate(timeout=30)
    engine = docker.from_env()
    left = engine.containers.list(all=True, filters={"label": "ladder.run"})
    assert {c.labels["ladder.owner"].split("-")[0] for c in left} == {str(proc.pid)}
    assert len(left) == 3  # the database, the stage's one service and the wire between them
    swept = run_harness("cleanup", env={"LADDER_RESULTS_DIR": str(results_dir)}, timeout=180)
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert "containers: 3" in swept.stdout and "networks: 1" in swept.stdout, swept.stdout
    assert not engine.containers.list(all=True, filters={"label": "ladder.run"})
    assert not engine.networks.list(filters={"label": "ladder.run"})
    assert _dangling_volumes() <= volumes_before  # the database's data volume went with it
    (run,) = list(results_dir.iterdir())
    assert json.loads((run / "run.json").read_text())["status"] == "killed"
