"""The wire's accuracy, measured as a client sees it: ping-pongs through the wire's echo route.

A process of its own (pinned to the load CPUs, like the wire), single-threaded with blocking
sockets, so a reply wakes it at once; a thread in the harness would wait for the GIL behind the
telemetry sampler and read its own queueing as the wire's. Every `interval` it times one
exchange on a kept-alive connection through the delayed echo (`data`, expected: 1 RTT) and one
through the wire's undelayed echo (`direct`: the relay's and the probe's own overhead, which
the harness subtracts to get the RTT the wire added), and every `connect_every`-th time a new
connection's connect + first exchange (`connect`, expected: 2 RTT, handshake included). Each
line of the output: wall-clock time, kind, microseconds. It stops by itself.

    python -m harness.network.probe --port 40002 --direct-port 40003 --out probe.csv --max-seconds 600
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

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


def run(host: str, port: int, direct_port: int, out: Path, interval: float, connect_every: int,
        max_seconds: float) -> None:
    stop_at = time.monotonic() + max_seconds
    kept, direct = _connect(host, port), _connect(host, direct_port)
    _exchange(kept)  # their own set-up is not a sample
    _exchange(direct)
    with open(out, "a", buffering=1) as lines:
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
    parser.add_argument("--direct-port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--connect-every", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=3600)
    args = parser.parse_args(argv)
    run(args.host, args.port, args.direct_port, args.out, args.interval, args.connect_every, args.max_seconds)


if __name__ == "__main__":
    main()
