"""The faults of a lab, drilled: each made for real in the middle of a measuring window, and what
the run kept, lost and said asserted (docs/drills.md has the table of what was measured).

- PostgreSQL restarted (fast shutdown, then started) on the local and the Docker backend;
- the results folder's disk filling up (a tmpfs of its own, filled in the second stage's window).
A locust worker killed is drilled on the swarm (test_swarm.py: its workers are services there, and
this machine's one load CPU takes one local process only), a node lost mid-window with the
two-node swarm (test_swarm_nodes.py)."""

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import docker
import pandas as pd
import pytest

from tests.conftest import HARNESS, NOTHING_LEFT, REPO, leftover_processes, owned_left, run_harness, stage_phase

STAGE = "s4-queries"


def _start(results: Path, *args: str, stages: str = STAGE) -> subprocess.Popen[str]:
    return subprocess.Popen([*HARNESS, "run-all", "--stages", stages, "--no-ceiling", "--no-same-traffic",
                             "--users", "10", "--warmup", "2", "--idle-timeout", "0", *args], cwd=REPO,
                            env={**os.environ, "LADDER_RESULTS_DIR": str(results), "COLUMNS": "200"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _in_window(proc: subprocess.Popen[str], results: Path, seconds_in: float = 2.0,
               measurement: str = STAGE) -> float:
    """Once `measurement`'s window is open (and `seconds_in` into it): when it opened."""
    deadline = time.monotonic() + 300
    while stage_phase(results, measurement) != "measure":
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    time.sleep(seconds_in)
    return time.time()


def _restart_drill(results: Path, backend: str, restart: Callable[[], None]) -> tuple[pd.Series, str, float]:
    proc = _start(results, "--backend", backend, "--duration", "14")
    try:
        _in_window(proc, results)
        began = time.monotonic()
        restart()
        restarted_in = time.monotonic() - began
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    (run,) = [p for p in results.iterdir() if (p / "summary.csv").is_file()]
    row = pd.read_csv(run / "summary.csv").set_index("stage").loc[STAGE]
    return row, out + (run / "report.md").read_text(), restarted_in


def test_postgresql_restarted_mid_window_on_the_local_backend(results_dir: Path) -> None:
    def restart() -> None:
        (data,) = [p / "data" for p in Path("/tmp").glob("ladder-pg-*") if (p / "data" / "postmaster.pid").is_file()]
        done = subprocess.run(["pg_ctl", "-D", str(data), "restart", "-m", "fast", "-w"], user="postgres",
                              capture_output=True, text=True, timeout=60, check=False,
                              env={**os.environ, "PATH": f"{_bindir()}:{os.environ['PATH']}"})
        assert done.returncode == 0, done.stdout + done.stderr
    row, said, took = _restart_drill(results_dir, "local", restart)
    print(f"\nlocal restart: pg_ctl took {took:.1f} s; down {row['db_down_s']} s; {row['failures']} failures; "
          f"{row['writes_acknowledged']} writes acknowledged, {row['writes_lost']} lost")
    # the window went on: the restart is recorded and said, the failures it caused counted, and every
    # write acknowledged before or after it is in the database
    assert row["status"] == "ok" and row["db_restarts"] == 1 and 0 < row["db_down_s"] < 15, row
    assert "PostgreSQL restarted once in the window" in said and "**PostgreSQL restarted**" in said
    assert row["writes_lost"] == 0 and row["writes_acknowledged"] > 0
    assert leftover_processes() == []  # the restarted server stopped with the run
    assert not list(Path("/tmp").glob("ladder-pg-*"))


def test_postgresql_restarted_mid_window_on_the_docker_backend(results_dir: Path) -> None:
    engine = docker.from_env()
    assert run_harness("images", STAGE, timeout=1800).returncode == 0

    def restart() -> None:
        (db,) = [c for c in engine.containers.list(filters={"label": "ladder.run"}) if "postgres" in c.image.tags[0]]
        db.restart(timeout=3)
    row, said, took = _restart_drill(results_dir, "docker", restart)
    print(f"\ndocker restart: docker restart took {took:.1f} s; down {row['db_down_s']} s; {row['failures']} "
          f"failures; {row['writes_acknowledged']} writes acknowledged, {row['writes_lost']} lost")
    assert row["status"] == "ok" and row["db_restarts"] == 1, row
    assert "PostgreSQL restarted once in the window" in said
    assert row["writes_lost"] == 0 and row["writes_acknowledged"] > 0
    assert owned_left(engine) == NOTHING_LEFT


def _bindir() -> str:
    return str(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])


@pytest.fixture
def own_disk(tmp_path: Path) -> Path:
    """A results folder on a tmpfs of its own, so that filling it fills nothing else."""
    folder = tmp_path / "own"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path) -> None:
    """Every byte left on the folder's disk taken by one file outside any run."""
    with open(folder / "filler", "wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError:
            pass


def test_the_results_disk_filling_up_is_one_line_and_keeps_what_was_written(own_disk: Path, tmp_path: Path) -> None:
    # the disk fills once the second stage's window is open: the first stage is whole by then
    proc = _start(own_disk, "--backend", "local", "--duration", "4", stages="s4-queries,s8-one-round-trip")
    try:
        _in_window(proc, own_disk, seconds_in=0, measurement="s8-one-round-trip")
        _fill(own_disk)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, out + err
    assert "no space left" in err.lower() and len(err.strip().splitlines()) == 1, err
    (run,) = [p for p in own_disk.iterdir() if p.is_dir()]
    stages = {d.name: json.loads((d / "stage.json").read_text()).get("status") for d in (run / "stages").iterdir()
              if (d / "stage.json").is_file()}
    print(f"\nfull disk: {err.strip()}; stages as written: {stages}")
    assert stages["s4-queries"] == "ok", stages
    # what was written before stays readable, and `harness report` draws it again elsewhere
    json.loads((run / "run.json").read_text())
    subprocess.run(["cp", "-r", str(run), str(tmp_path)], check=True)
    again = run_harness("report", str(tmp_path / run.name))
    assert again.returncode == 0, again.stderr
    assert leftover_processes() == []
