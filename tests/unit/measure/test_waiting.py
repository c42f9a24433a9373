"""Evidence of where a stage waits, from real sockets and from recorded window figures."""

import math
import os
import socket
import subprocess
import sys

from harness.measure.waiting import (
    accept_queue,
    busiest_others,
    cpu_shares,
    evidence,
    run_tree,
    waiting_figures,
    window_evidence,
)
from harness.reporting.analysis import bound_by


def test_the_accept_queue_counts_connections_the_server_has_not_accepted() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    port = server.getsockname()[1]
    clients = []
    try:
        assert accept_queue(os.getpid(), port) == 0
        for _ in range(3):  # the kernel completes the handshakes; nobody calls accept()
            client = socket.create_connection(("127.0.0.1", port))
            clients.append(client)
        assert accept_queue(os.getpid(), port) == 3
        server.accept()[0].close()
        assert accept_queue(os.getpid(), port) == 2
    finally:
        for client in clients:
            client.close()
        server.close()
    assert accept_queue(os.getpid(), port) is None  # nothing listens there any more


def test_cpu_shares_from_two_readings_of_proc_stat() -> None:
    before = {1: {"user": 100.0, "system": 10.0, "softirq": 1.0, "steal": 0.0, "idle": 500.0}}
    after = {1: {"user": 106.0, "system": 11.0, "softirq": 2.0, "steal": 0.5, "idle": 502.0}}
    shares = cpu_shares(before, after, span=10.0)
    assert shares["cpus"] == 1
    assert math.isclose(shares["busy_pct"], 80.0)  # 6 + 1 + 1 s of 10
    assert math.isclose(shares["softirq_pct"], 10.0)
    assert math.isclose(shares["steal_pct"], 5.0)


# a window's records as the window writes them: s1-like (a blocked edge with the budget idle),
# s4-like (budget-bound), and one whose generator ran out of CPU
WAITING = {"budget_cpus": {"cpus": 1, "busy_pct": 61.0, "softirq_pct": 3.0, "steal_pct": 0.0},
           "load_cpus": {"cpus": 1, "busy_pct": 30.0, "softirq_pct": 1.0, "steal_pct": 0.0},
           "edge_queue_mean": 186.0, "edge_queue_max": 226.0, "db_active_mean": 0.4, "db_idle_in_tx_mean": 0.1,
           "db_lock_waits_mean": 0.0, "service_cpu_pct": {"core-api": 21.0, "jobs": 18.5, "user": 9.0}}


def test_a_stage_with_an_idle_budget_is_waiting_and_says_where() -> None:
    row = {"generator_bound": False, "net_held": True, "server_busy_pct": 55.0}
    row.update(waiting_figures(WAITING, server_busy_pct=55.0, generator_cores=0.05, wire_cores=0.12))
    assert bound_by(row) == "waiting"
    assert math.isclose(row["budget_other_pct"], 6.0)
    assert math.isclose(row["load_other_pct"], 13.0)  # 0.30 cores busy, 0.17 of them generator and wire
    assert row["busiest_service"] == "core-api"
    text = evidence(row)
    assert "budget 55 % busy, 6 % more outside the stage" in text
    assert "edge accept queue 186 (max 226)" in text
    assert "busiest service core-api 21 % of a CPU" in text
    assert "load CPUs 13 % busy beyond generator and wire" in text


def test_a_busy_budget_and_a_saturated_generator_are_named_as_such() -> None:
    busy = {"generator_bound": False, "net_held": True, "server_busy_pct": 97.0}
    busy.update(waiting_figures(WAITING, 97.0, 0.1, 0.1))
    assert bound_by(busy) == "budget"
    generator = {"generator_bound": True, "net_held": True, "server_busy_pct": 60.0}
    assert bound_by(generator) == "generator"
    # runs recorded before the evidence existed still get a verdict and a line
    old = {"generator_bound": False, "net_held": True, "server_busy_pct": 40.0, **waiting_figures(None, 40.0, 0, 0)}
    assert bound_by(old) == "waiting" and evidence(old) == "budget 40 % busy"


def test_per_second_samples_summarise_over_the_window_only() -> None:
    rows = [{"t": float(t), "edge_queue": float(q), "db_active": 1.0, "cpu_s:jobs": 0.5 * t}
            for t, q in [(0, 900), (10, 4), (11, 8), (12, 6), (20, 900)]]
    out = window_evidence(rows, (10.0, 12.0))
    assert out["edge_queue_mean"] == 6.0 and out["edge_queue_max"] == 8.0
    assert out["db_active_mean"] == 1.0
    assert out["service_cpu_pct"] == {"jobs": 50.0}


def test_the_busiest_processes_outside_the_run_are_named_and_the_runs_own_left_out() -> None:
    before = {1: ("dockerd", 10.0), 2: ("fuse-overlayfs", 50.0), 3: ("uvicorn", 100.0), 4: ("fuse-overlayfs", 5.0),
              5: ("sshd", 1.0)}
    after = {1: ("dockerd", 10.5), 2: ("fuse-overlayfs", 54.0), 3: ("uvicorn", 190.0), 4: ("fuse-overlayfs", 6.0),
             5: ("sshd", 1.0), 6: ("new", 9.0)}  # a process born in the window has no start: left out
    others = busiest_others(before, after, ours={3}, span=50.0)
    assert others == [("fuse-overlayfs", 10.0), ("dockerd", 1.0), ("sshd", 0.0)]
    row = {"server_busy_pct": 80.0, **waiting_figures({"other_processes": others}, 80.0, 0, 0)}
    assert "busiest processes outside the run fuse-overlayfs 10 %; dockerd 1 %" in evidence(row)


def test_the_run_tree_holds_this_process_and_its_children() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert {os.getpid(), child.pid} <= run_tree([os.getpid()])
    finally:
        child.kill()
        child.wait()
