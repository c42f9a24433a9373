"""The wire's accuracy, measured as a client sees it: ping-pongs through the wire's echo route.

A process of its own (pinned to the load CPUs, like the wire), single-threaded with blocking
sockets, so a reply wakes it at once; a thread in the harness would wait for the GIL behind the
telemetry sampler and read its own queueing as the wire's. Every `interval` it times one
exchange on a kept-alive connection through the delayed echo (`data`, expected: 1 RTT) and one
through the wire's undelayed echo (`direct`: the relay's and the probe's own overhead, which
the harness subtracts to get the RTT the wire added), and every `connect_every`-th time a new
connection's connect + first exchange (`connect`, expected: 2 RTT, handshake included). Each
line of the output: wall-clock time, kind, microseconds (`--out -`: standard output, for a probe
running as a swarm service, whose log the manager reads on any node). It stops by itself.

The direct echo may be on another host than the delayed one (`--direct-host`): the real network's
probe (harness.network.real) exchanges with an echo across the network and with one on its own
loopback. At start it waits up to `--wait` seconds for both to answer (a service's name
resolves on an overlay only once its task runs).

    python -m harness.network.probe --port 40002 --direct-port 40003 --out probe.csv --max-seconds 600
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
import time
from pathlib import Path
from typing import TextIO

PAYLOAD = b"ladder-probe-16b"


def _exchange(sock: socket.socket) -> None:
    sock.sendall(PAYLOAD)
    got = b""
    while len(got) < len(PAYLOAD):
        chunk = sock.recv(len(PAYLOAD) - len(got))
        if not chunk:
            raise ConnectionError("the wire closed the probe's connection")
        got += chunk


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _connect_when_up(host: str, port: int, wait: float) -> socket.socket:
    deadline = time.monotonic() + wait
    while True:
        try:
            return _connect(host, port)
        except OSError:  # not resolvable or not listening yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _output(out: str) -> contextlib.AbstractContextManager[TextIO]:
    if out == "-":
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        return contextlib.nullcontext(sys.stdout)
    return open(Path(out), "a", buffering=1)


def run(host: str, port: int, direct_host: str, direct_port: int, out: str, interval: float, connect_every: int,
        max_seconds: float, wait: float = 0.0) -> None:
    stop_at = time.monotonic() + max_seconds
    kept, direct = _connect_when_up(host, port, wait), _connect_when_up(direct_host, direct_port, wait)
    _exchange(kept)  # their own set-up is not a sample
    _exchange(direct)
    with _output(out) as lines:
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            for kind, sock in (("data", kept), ("direct", direct)):
                t0 = time.perf_counter()
                _exchange(sock)
                lines.write(f"{time.time():.6f},{kind},{(time.perf_counter() - t0) * 1e6:.1f}\n")
            if n % connect_every == 0:
                t0 = time.perf_counter()
                with _connect(host, port) as fresh:
                    _exchange(fresh)
                    lines.write(f"{time.time():.6f},connect,{(time.perf_counter() - t0) * 1e6:.1f}\n")
            time.sleep(interval)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--direct-host", help="the undelayed echo's host (default: --host)")
    parser.add_argument("--direct-port", type=int, required=True)
    parser.add_argument("--out", required=True, help="a file to append to, or - for standard output")
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--connect-every", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=3600)
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait for the echoes to answer")
    args = parser.parse_args(argv)
    run(args.host, args.port, args.direct_host or args.host, args.direct_port, args.out, args.interval,
        args.connect_every, args.max_seconds, args.wait)


if __name__ == "__main__":
    main()
