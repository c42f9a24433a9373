"""The network between the tiers, for real: the wire's RTT against a real echo server, a wire
saturated by real traffic, and a stage run end to end through the installed `harness` command."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from statistics import median

import pandas as pd
import psutil
import pytest

from harness.measure.telemetry import tree_cpu_seconds
from harness.network.emulator import DIRECT_ROUTE, probe_samples, running_wire, tolerance_ms, window_record
from tests.conftest import REPO

HARNESS_COMMAND = Path(sys.executable).with_name("harness")  # the console script users run

ECHO_SERVER = """
import socket, socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := self.request.recv(65536):
            self.request.sendall(data)
class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
with Server(("127.0.0.1", 0), Echo) as server:
    print(server.server_address[1], flush=True)
    server.serve_forever()
"""

FLOOD = """
import socket, sys, threading, time
port, threads, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
def ping():
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        s.sendall(b"x" * 64)
        got = 0
        while got < 64:
            got += len(s.recv(64 - got))
for t in [threading.Thread(target=ping) for _ in range(threads)]:
    t.start()
"""


@pytest.fixture
def echo_port() -> Iterator[int]:
    """A real TCP echo server in a process of its own."""
    server = subprocess.Popen([sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield int(server.stdout.readline())
    finally:
        server.kill()
        server.wait()


def exchange_ms(sock: socket.socket, payload: bytes = b"0123456789abcdef") -> float:
    t0 = time.perf_counter()
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        got += sock.recv(len(payload) - len(got))
    return (time.perf_counter() - t0) * 1000


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


# The wire's accuracy is a timing claim about one Python process on a shared, noisy host: a
# neighbour taking the core for a few milliseconds moves a median of 150 sub-millisecond exchanges.
# So the claim is that it holds the RTT when it has its core: up to 3 measurements, and one must hold
# every figure (a wrong wire fails all three; a window where it did not hold is flagged in a run).
ATTEMPTS = 3


@pytest.mark.parametrize("rtt_ms", [0.5, 2.0])
def test_the_wire_adds_the_rtt_asked_for_to_a_real_echo_server(rtt_ms: float, echo_port: int,
                                                                tmp_path: Path) -> None:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _measure_the_wire(rtt_ms, echo_port, tmp_path / f"attempt{attempt}")
            return
        except AssertionError:
            if attempt == ATTEMPTS:
                raise


def _measure_the_wire(rtt_ms: float, echo_port: int, tmp_path: Path) -> None:
    """One measurement of the wire against the echo server; raises on any figure out of tolerance."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    with connect(echo_port) as direct:
        loopback = median(exchange_ms(direct) for _ in range(50))
    assert loopback < 0.3  # the echo server alone is fast: what follows is the wire's doing
    with running_wire(rtt_ms, {"echo": ("127.0.0.1", echo_port)}, frozenset({0}), tmp_path) as wire:
        port = wire.ports["echo"]
        with connect(port) as sock, connect(wire.ports[DIRECT_ROUTE]) as undelayed:
            exchange_ms(sock)
            exchange_ms(undelayed)
            through, relay = [], []
            for _ in range(150):  # interleaved, so both see the same moments of the machine
                through.append(exchange_ms(sock))
                relay.append(exchange_ms(undelayed))
            # back-to-back chunks are each delayed RTT/2 from their own arrival: they do not add up
            for _ in range(5):
                sock.sendall(b"z" * 16)
                time.sleep(0.0002)
            last_sent = time.perf_counter()
            got = 0
            while got < 80:
                got += len(sock.recv(80 - got))
            after_last = (time.perf_counter() - last_sent) * 1000
        setups, direct_setups = [], []
        for _ in range(10):  # interleaved: a set-up through the wire, one to the echo server directly
            for target, into in ((port, setups), (echo_port, direct_setups)):
                t0 = time.perf_counter()
                with connect(target) as fresh:
                    exchange_ms(fresh)
                into.append((time.perf_counter() - t0) * 1000)
    added = median(through) - median(relay)
    assert abs(added - rtt_ms) <= tolerance_ms(rtt_ms), (added, median(through), median(relay))
    assert median(relay) < 0.5  # the relay's own two loopback hops stay well under a millisecond
    # connect + first exchange: the handshake's round trip, then the data's — beyond what the same
    # set-up costs without the wire (this test's own connect and exchange, slow on a slow host)
    added_setup = median(setups) - median(direct_setups)
    assert abs(added_setup - 2 * rtt_ms) <= 2 * tolerance_ms(rtt_ms) + median(relay), (setups, direct_setups)
    # the last of five chunks comes back one RTT after it was sent, not five
    assert after_last < rtt_ms + tolerance_ms(rtt_ms) + median(relay) + 0.5, after_last


def test_a_saturated_wire_is_flagged(echo_port: int, tmp_path: Path) -> None:
    """Real traffic far beyond what one Python relay can carry (64 connections ping-ponging
    without pause): the window's record must say the RTT was not held."""
    with running_wire(0.5, {"echo": ("127.0.0.1", echo_port)}, frozenset({0}), tmp_path) as wire:
        time.sleep(0.5)  # the probe's first samples
        flood = [subprocess.Popen([sys.executable, "-c", FLOOD, str(wire.ports["echo"]), "32", "6"])
                 for _ in range(2)]
        try:
            time.sleep(1.0)
            start, before, cpu_before = time.time(), wire.stats(), tree_cpu_seconds([wire.pid])
            time.sleep(4.0)
            end, after, cpu_after = time.time(), wire.stats(), tree_cpu_seconds([wire.pid])
        finally:
            for f in flood:
                f.wait(timeout=30)
        record = window_record(0.5, before, after, cpu_after - cpu_before, probe_samples(wire.probe_path,
                                                                                         (start, end)), end - start)
    assert not record["held"], record
    assert record["problems"]


def test_a_stage_end_to_end_with_the_network_on(results_dir: Path) -> None:
    done = subprocess.run(
        [str(HARNESS_COMMAND), "run-all", "--backend", "local", "--quick", "--stages", "s3-pooled", "--rtt", "2",
         "--no-ceiling"], cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "LADDER_RESULTS_DIR": str(results_dir), "COLUMNS": "200"}, check=False)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "2 ms RTT between the tiers" in done.stdout
    assert "wire 2 ms asked" in done.stdout
    (run_dir,) = list(results_dir.iterdir())
    assert json.loads((run_dir / "run.json").read_text())["network"]["rtt_ms"] == 2.0
    network = json.loads((run_dir / "stages" / "s3-pooled" / "measurement.json").read_text())["network"]
    assert network["held"], network
    # what the wire added (the probe through it less through its undelayed route): what `held` judges
    assert abs(network["added_rtt_ms"] - 2.0) <= tolerance_ms(2.0), network
    # the pooled stage keeps its connections: its requests cross statements and hops, few set-ups
    assert network["routes"]["postgres"]["turns"] > 0 and network["routes"]["jobs"]["turns"] > 0
    summary = pd.read_csv(run_dir / "summary.csv").set_index("stage")
    assert summary.loc["s3-pooled", "rtt_ms"] == 2.0
    assert summary.loc["s3-pooled", "db_rtts_per_req"] > 1
    assert "## Network" in (run_dir / "report.md").read_text()
    # everything the run started, it stopped: no wire or probe is left writing into its folder
    leftover = [p for p in psutil.process_iter(["cmdline"]) if str(run_dir) in " ".join(p.info["cmdline"] or [])]
    assert not leftover
