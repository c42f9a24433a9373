"""The wire between the tiers: a userspace TCP relay that adds a round-trip time (RTT) to every
connection routed through it. Runs as its own process, on the load CPUs, outside the server budget.

Written here because nothing credible installs on this machine: the kernel has no `netem`
(`tc qdisc ... netem` is an unknown qdisc; only HTB, TBF and ingress are built) and no maintained
latency proxy is packaged on PyPI or Debian (Toxiproxy is a Go binary). Standard library only, so
the same file runs on the host and in the project's own images.

The model is Toxiproxy's latency toxic, per direction:
- every chunk read is stamped on arrival and released at arrival + RTT/2, so chunks sent back to
  back do not add their delays up (a wire has latency, not a per-chunk cost);
- connection set-up costs a round trip too: the kernel completes the client's handshake with the
  relay at once, so the client's first bytes are held until accept + 1.5 RTT, when they would
  have reached the server after a real handshake (SYN, SYN-ACK, then data);
- a close (FIN) travels like data: the peer sees it RTT/2 later.

Why not asyncio: Python's epoll and select timeouts are whole milliseconds, rounded up, so a
relay waking on them cannot hold a 0.5 ms RTT. Here a timerfd armed at the next release time
(absolute CLOCK_MONOTONIC, nanoseconds) wakes the same epoll on time; how late each release
actually was is counted in the stats, and harness.network.probe measures the RTT a client sees.

Counters for "what moved": per route, connections and turns (a client sending after the server
has answered starts a new exchange). Each costs one RTT of waiting, so (connections + turns) per
request is the number of round trips a request's work crossed.

    python -m harness.network.wire --rtt-ms 1 --stats wire.json \
        --route db=127.0.0.1:40001=127.0.0.1:5432 --route probe=127.0.0.1:40002=echo
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import heapq
import json
import os
import select
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_MONOTONIC = 1  # time.monotonic_ns() reads the same clock
TFD_TIMER_ABSTIME = 1
PR_SET_TIMERSLACK = 29
READ_SIZE = 65536
HIGH_WATER = 1 << 20  # bytes queued in one direction before the relay stops reading its source
STATS_EVERY_NS = 500_000_000
# lateness of a release past its due time, in microseconds: the buckets' upper bounds
LATE_BUCKETS_US = (25, 50, 100, 200, 500, 1000, 2000, 5000)
# The relay's own wake-up: between the timer's expiry and a chunk's send, the kernel wakes the
# process and Python runs the loop, ~50 us per release on a fast host and ~150 us on a slow one
# (CI's docker run: 1.21 ms added for 1 ms asked, its wire on a CPU shared with the generator).
# Every direction pays it, so it adds to every RTT. The wire learns it and arms the timer that
# much early (an integral controller on each release's signed lateness, 1/16 of the error per
# release), so releases land on their due time on average. Capped: a wake-up slower than this is
# a wire that cannot keep up, which the probe then reports as not held.
MAX_LEAD_NS = 200_000
LEAD_GAIN_SHIFT = 4
ECHO = "echo"
DIRECT_ECHO = "echo-direct"  # an echo with no delay: the probe's reference for the relay's own overhead


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class Timer:
    """A timerfd: readable at an absolute CLOCK_MONOTONIC time, to nanoseconds (Python 3.11 has
    no os.timerfd_*, so libc's through ctypes)."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._libc.timerfd_create(CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        # the default 50 us slack of a normal thread's timers would add to every release
        self._libc.prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0)
        self.armed: int | None = None

    def arm(self, when_ns: int | None) -> None:
        if when_ns == self.armed:
            return
        spec = _Itimerspec()
        if when_ns is not None:  # zero disarms; a time in the past fires at once
            spec.it_value.tv_sec, spec.it_value.tv_nsec = divmod(max(when_ns, 1), 1_000_000_000)
        if self._libc.timerfd_settime(self.fd, TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        self.armed = when_ns

    def clear(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)
        self.armed = None


@dataclass
class RouteStats:
    connections: int = 0
    turns: int = 0
    chunks: int = 0
    bytes: int = 0
    refused: int = 0


@dataclass
class Route:
    name: str
    listen: tuple[str, int]
    target: tuple[str, int] | None  # None: an echo, for the probe
    delayed: bool = True  # False: the undelayed echo
    stats: RouteStats = field(default_factory=RouteStats)
    half_ns: int = 0  # RTT/2 on this route, set by the wire


class Direction:
    """One way of one connection: chunks waiting for their release time, in arrival order."""

    __slots__ = ("link", "src", "dst", "queue", "queued_bytes", "pending", "blocked", "done", "eof_read",
                 "upstream")

    def __init__(self, link: Link, src: socket.socket | None, dst: socket.socket | None, upstream: bool) -> None:
        self.link, self.src, self.dst, self.upstream = link, src, dst, upstream
        self.queue: deque[tuple[int, bytes | None]] = deque()  # (release ns, data; None = close)
        self.queued_bytes = 0
        self.pending = b""  # the part of a released chunk the socket did not take yet
        self.blocked = upstream and dst is not None  # until the upstream connect completes
        self.done = False  # the close was delivered
        self.eof_read = False  # the source closed: nothing more to read


class Link:
    __slots__ = ("route", "client", "upstream", "up", "down", "hold_until", "last_up", "closed")

    def __init__(self, route: Route, client: socket.socket, upstream: socket.socket | None, hold_until: int) -> None:
        self.route, self.client, self.upstream = route, client, upstream
        self.up = Direction(self, client, upstream, upstream=True)
        self.down = Direction(self, upstream, client, upstream=False)
        self.hold_until = hold_until
        self.last_up = False  # the last chunk that arrived went client -> server
        self.closed = False


class Wire:
    def __init__(self, routes: list[Route], rtt_ms: float, stats_path: Path | None) -> None:
        self.routes = routes
        for route in routes:
            route.half_ns = int(rtt_ms * 1e6 / 2) if route.delayed else 0
        self.rtt_ms = rtt_ms
        self.stats_path = stats_path
        self.epoll = select.epoll()
        self.timer = Timer()
        self.epoll.register(self.timer.fd, select.EPOLLIN)
        self.heap: list[tuple[int, int, Direction]] = []
        self.seq = 0
        self.listeners: dict[int, tuple[socket.socket, Route]] = {}
        self.sockets: dict[int, Link] = {}
        self.masks: dict[int, int] = {}
        self.late_counts = [0] * (len(LATE_BUCKETS_US) + 1)
        self.late_sum_ns = 0
        self.late_max_ns = 0
        self.early = 0  # releases sent before their due time (the lead overshot)
        self.lead_ns = 0
        self.releases = 0
        self.started_ns = time.monotonic_ns()
        for route in routes:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(route.listen)  # port 0: the kernel picks one; the stats file says which
            route.listen = sock.getsockname()[:2]
            sock.listen(1024)
            sock.setblocking(False)
            self.listeners[sock.fileno()] = (sock, route)
            self.epoll.register(sock.fileno(), select.EPOLLIN)

    # -- scheduling -------------------------------------------------------------------------
    def _schedule(self, direction: Direction, when_ns: int) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (when_ns, self.seq, direction))

    def _interest(self, link: Link, sock: socket.socket | None) -> None:
        """What to wait for on one socket: reading while its outgoing queue is not too full,
        writing while a release to it is blocked."""
        if sock is None or link.closed:
            return
        reading = link.up if sock is link.client else link.down
        writing = link.down if sock is link.client else link.up
        mask = 0
        if not reading.eof_read and reading.queued_bytes < HIGH_WATER:
            mask |= select.EPOLLIN
        if writing.blocked:
            mask |= select.EPOLLOUT
        fd = sock.fileno()
        if self.masks.get(fd) != mask:  # one syscall only when the interest changes
            self.epoll.modify(fd, mask)
            self.masks[fd] = mask

    # -- events -----------------------------------------------------------------------------
    def _accept(self, listener: socket.socket, route: Route) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except BlockingIOError:
                return
            now = time.monotonic_ns()
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            upstream = None
            if route.target is not None:
                upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                upstream.setblocking(False)
                upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                code = upstream.connect_ex(route.target)
                if code not in (0, errno.EINPROGRESS):
                    route.stats.refused += 1
                    upstream.close()
                    _reset(client)
                    continue
            # the client's first bytes reach the server one handshake later (SYN, SYN-ACK)
            link = Link(route, client, upstream, hold_until=now + 3 * route.half_ns)
            route.stats.connections += 1
            self._register(link, client, select.EPOLLIN)
            if upstream is not None:
                self._register(link, upstream, select.EPOLLOUT)  # writable: connected

    def _register(self, link: Link, sock: socket.socket, mask: int) -> None:
        self.sockets[sock.fileno()] = link
        self.masks[sock.fileno()] = mask
        self.epoll.register(sock.fileno(), mask)

    def _readable(self, link: Link, sock: socket.socket) -> None:
        direction = link.up if sock is link.client else link.down
        if direction.eof_read:
            return
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(link)
            return
        now = time.monotonic_ns()
        release = now + link.route.half_ns
        if direction.upstream:
            release = max(release, link.hold_until)
            if data and not link.last_up:
                link.route.stats.turns += 1  # a new exchange: one more round trip to wait for
            link.last_up = True
        elif data:
            link.last_up = False
        if data:
            link.route.stats.chunks += 1
            link.route.stats.bytes += len(data)
            direction.queued_bytes += len(data)
        else:
            direction.eof_read = True
        was_empty = not direction.queue
        direction.queue.append((release, data or None))
        if was_empty and not direction.blocked:
            self._schedule(direction, release)
        self._interest(link, sock)

    def _writable(self, link: Link, sock: socket.socket) -> None:
        direction = link.down if sock is link.client else link.up
        if direction.upstream and direction.dst is sock and direction.blocked and not direction.pending:
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:  # the target refused or is gone: the client sees a reset, half an RTT later
                link.route.stats.refused += 1
                self._close(link)
                return
        direction.blocked = False
        self._flush(direction, time.monotonic_ns())
        self._interest(link, sock)

    def _flush(self, direction: Direction, now: int) -> None:
        link = direction.link
        if link.closed:
            return
        if direction.pending and not self._send(direction, direction.pending):
            return
        while direction.queue and direction.queue[0][0] <= now:
            release, data = direction.queue.popleft()
            self._count_late(time.monotonic_ns() - release)
            if data is None:
                direction.done = True
                if direction.dst is not None:
                    with contextlib.suppress(OSError):
                        direction.dst.shutdown(socket.SHUT_WR)
                else:  # echo: the close comes back
                    self._echo(link, None)
                if link.up.done and link.down.done:
                    self._close(link)
                return
            direction.queued_bytes -= len(data)
            if direction.dst is None:
                self._echo(link, data)
            elif not self._send(direction, data):
                break
        if direction.queue and not direction.blocked:
            self._schedule(direction, direction.queue[0][0])
        if direction.src is not None:
            self._interest(link, direction.src)

    def _echo(self, link: Link, data: bytes | None) -> None:
        back = link.down
        release = time.monotonic_ns() + link.route.half_ns
        was_empty = not back.queue
        back.queue.append((release, data))
        if data:
            back.queued_bytes += len(data)
        if was_empty and not back.blocked:
            self._schedule(back, release)

    def _send(self, direction: Direction, data: bytes) -> bool:
        """Write what the socket takes; keep the rest and wait until it is writable."""
        assert direction.dst is not None
        try:
            sent = direction.dst.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(direction.link)
            return False
        direction.pending = data[sent:]
        if direction.pending:
            direction.blocked = True
            self._interest(direction.link, direction.dst)
            return False
        if direction.blocked:
            direction.blocked = False
            self._interest(direction.link, direction.dst)
        return True

    def _close(self, link: Link) -> None:
        if link.closed:
            return
        link.closed = True
        for sock in (link.client, link.upstream):
            if sock is None:
                continue
            self.sockets.pop(sock.fileno(), None)
            self.masks.pop(sock.fileno(), None)
            with contextlib.suppress(OSError, ValueError):
                self.epoll.unregister(sock.fileno())
            sock.close()

    def _count_late(self, late_ns: int) -> None:
        """A release `late_ns` past its due time (negative: early); the lead follows the error."""
        self.releases += 1
        self.late_sum_ns += late_ns  # signed: the mean is the wire's bias
        self.lead_ns = min(MAX_LEAD_NS, max(0, self.lead_ns + (late_ns >> LEAD_GAIN_SHIFT)))
        if late_ns < 0:
            self.early += 1
            late_ns = 0
        self.late_max_ns = max(self.late_max_ns, late_ns)
        us = late_ns / 1000
        for i, bound in enumerate(LATE_BUCKETS_US):
            if us <= bound:
                self.late_counts[i] += 1
                return
        self.late_counts[-1] += 1

    # -- the loop ---------------------------------------------------------------------------
    def run(self, max_seconds: float) -> None:
        deadline = self.started_ns + int(max_seconds * 1e9)
        next_stats = 0
        while True:
            now = time.monotonic_ns()
            if now >= deadline:
                break
            # what falls due within the learnt wake-up cost goes now: by the time it is sent, it is due
            while self.heap and self.heap[0][0] <= now + self.lead_ns:
                _, _, direction = heapq.heappop(self.heap)
                self._flush(direction, now + self.lead_ns)
                now = time.monotonic_ns()
            if now >= next_stats:
                self.write_stats()
                next_stats = now + STATS_EVERY_NS
            self.timer.arm(self.heap[0][0] - self.lead_ns if self.heap else None)
            wait = min(next_stats, deadline) - now
            for fd, events in self.epoll.poll(max(wait, 0) / 1e9):
                if fd == self.timer.fd:
                    self.timer.clear()
                elif fd in self.listeners:
                    listener, route = self.listeners[fd]
                    self._accept(listener, route)
                elif (link := self.sockets.get(fd)) is not None:
                    end = link.client if link.client.fileno() == fd else link.upstream
                    assert end is not None
                    if events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR):
                        self._readable(link, end)
                    if not link.closed and events & select.EPOLLOUT:
                        self._writable(link, end)
        self.write_stats()

    def snapshot(self) -> dict[str, object]:
        return {
            "pid": os.getpid(), "rtt_ms": self.rtt_ms, "monotonic_ns": time.monotonic_ns(), "wall": time.time(),
            "open_connections": len(self.sockets), "releases": self.releases,
            "late_sum_us": self.late_sum_ns / 1000, "late_max_us": self.late_max_ns / 1000,
            "early": self.early, "lead_us": self.lead_ns / 1000,
            "late_buckets_us": list(LATE_BUCKETS_US), "late_counts": self.late_counts,
            "routes": {r.name: {"port": r.listen[1], **vars(r.stats)} for r in self.routes},
        }

    def write_stats(self) -> None:
        if self.stats_path is None:
            return
        tmp = self.stats_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.snapshot()))
        tmp.replace(self.stats_path)


def _reset(sock: socket.socket) -> None:
    """Close with RST, as a refused connection looks to the client."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def parse_route(spec: str) -> Route:
    """NAME=LISTEN_HOST:PORT=TARGET_HOST:PORT, or NAME=LISTEN_HOST:PORT=echo (or echo-direct: no delay)."""
    try:
        name, listen, target = spec.split("=")
        lhost, lport = listen.rsplit(":", 1)
        if target in (ECHO, DIRECT_ECHO):
            return Route(name, (lhost, int(lport)), None, delayed=target == ECHO)
        thost, tport = target.rsplit(":", 1)
        return Route(name, (lhost, int(lport)), (thost, int(tport)))
    except ValueError:
        raise SystemExit(f"invalid route {spec!r}: use NAME=HOST:PORT=HOST:PORT or NAME=HOST:PORT=echo") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rtt-ms", type=float, required=True)
    parser.add_argument("--route", action="append", default=[], required=True)
    parser.add_argument("--stats", type=Path)
    parser.add_argument("--max-seconds", type=float, default=6 * 3600, help="stop by itself after this long")
    args = parser.parse_args(argv)
    if args.rtt_ms < 0:
        raise SystemExit("--rtt-ms must not be negative")

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    wire = Wire([parse_route(r) for r in args.route], args.rtt_ms, args.stats)
    wire.write_stats()  # the harness waits for this file: every listener is bound
    try:
        wire.run(args.max_seconds)
    except SystemExit:
        wire.write_stats()


if __name__ == "__main__":
    main()
