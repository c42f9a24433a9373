"""Where a stage waits: evidence read outside the stage's code, beside every window.

`bound_by` says *whether* the budget set a stage's numbers (its processes used at least
BUDGET_BOUND_PCT of it: harness.reporting.analysis, where every verdict's threshold is named);
when they did not, these figures say where the time went instead, each from a source the
stage's code cannot bend:

- the budget CPUs' time from /proc/stat (psutil.cpu_times): busy in all, softirq (the kernel's
  packet work), steal (the hypervisor took the CPU: a shared host), and busy time that no
  process of the stage accounts for;
- the load CPUs' busy time beyond the generator and the wire (something else ran there);
- the edge's accept queue: the listening socket's rx_queue in /proc/<pid>/net/tcp — connections
  the kernel accepted and the edge's event loop has not picked up (a blocked loop shows here);
- PostgreSQL's sessions of the stage's database by state, from pg_stat_activity each second
  (active, idle, idle in transaction, waiting on a lock);
- CPU per service, so one saturated service behind an idle budget shows;
- the busiest processes that are not the run's (the harness, its services, PostgreSQL, locust,
  the wire): on the Docker path the engine's own (dockerd, containerd-shim, docker-proxy, the
  storage driver's fuse-overlayfs) work beside the stage, and this names them.

Sampling helpers only; the window (harness/measure/window.py) calls them, analysis reads the
record it writes.
"""

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg.conninfo import make_conninfo

from harness.backends.postgres import STAGE_DB
from harness.measure.telemetry import services_cpu_seconds

LISTEN = "0A"  # TCP state of a listening socket in /proc/net/tcp


def cpu_times(cpus: Iterable[int]) -> dict[int, dict[str, float]]:
    """Per-CPU times since boot (seconds), for the CPUs asked."""
    per_cpu = psutil.cpu_times(percpu=True)
    return {cpu: per_cpu[cpu]._asdict() for cpu in cpus if cpu < len(per_cpu)}


def cpu_shares(before: dict[int, dict[str, float]], after: dict[int, dict[str, float]],
               span: float) -> dict[str, float]:
    """Busy, softirq and steal time of a set of CPUs over `span` seconds, in % of their capacity."""
    if not before or span <= 0:
        return {}
    capacity = span * len(before)

    def spent(*fields: str) -> float:
        return sum(after[c].get(f, 0.0) - before[c].get(f, 0.0) for c in before for f in fields)

    busy = spent("user", "nice", "system", "irq", "softirq", "guest", "guest_nice")
    return {"cpus": len(before), "busy_pct": 100 * busy / capacity,
            "softirq_pct": 100 * spent("softirq") / capacity, "steal_pct": 100 * spent("steal") / capacity}


def accept_queue(pid: int, port: int) -> int | None:
    """Connections waiting in the accept queue of whatever listens on `port` in the network
    namespace of process `pid` (the edge's own for a container); None where nothing listens."""
    found = None
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        try:
            lines = path.read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 5 or fields[3] != LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                rx_queue = int(fields[4].split(":")[1], 16)
                found = rx_queue if found is None else found + rx_queue
    return found


class DbActivity:
    """pg_stat_activity of the stage's database, by state, over one connection kept for the
    window (opened once, not per sample, so the probe does not add sessions to the counters:
    its one session is opened before the window's first reading)."""

    def __init__(self, admin_url: str, dbname: str = STAGE_DB) -> None:
        self.dbname, self.admin_url = dbname, admin_url
        # the admin database, not the stage's: pg_stat_database.sessions of the stage stays the app's
        self.conn = psycopg.connect(make_conninfo(admin_url), autocommit=True)

    def sample(self) -> dict[str, float]:
        if self.conn.closed or self.conn.broken:  # the server restarted under the window: a new session
            self.conn = psycopg.connect(make_conninfo(self.admin_url), autocommit=True)
        rows = self.conn.execute(
            "SELECT coalesce(state, 'none'), wait_event_type IS NOT NULL AND wait_event_type = 'Lock', count(*) "
            "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() GROUP BY 1, 2",
            (self.dbname,)).fetchall()
        out = {"db_active": 0.0, "db_idle": 0.0, "db_idle_in_tx": 0.0, "db_lock_waits": 0.0}
        for state, on_lock, count in rows:
            key = {"active": "db_active", "idle": "db_idle"}.get(str(state),
                                                                "db_idle_in_tx" if "transaction" in str(state) else "")
            if key:
                out[key] += float(str(count))
            if on_lock:
                out["db_lock_waits"] += float(str(count))
        return out

    def close(self) -> None:
        self.conn.close()


def service_cpu(pids: Mapping[str, int]) -> Callable[[], dict[str, float]]:
    """A reader of each service's tree CPU seconds (cumulative), keyed `cpu_s:<service>`."""
    def read() -> dict[str, float]:
        return {f"cpu_s:{name}": cpu for name, cpu in services_cpu_seconds(pids).items()}
    return read


def process_times() -> dict[int, tuple[str, float]]:
    """Every process's name and CPU seconds (user + system) so far."""
    out = {}
    for proc in psutil.process_iter(["name", "cpu_times"]):
        times = proc.info["cpu_times"]
        if times is not None:
            out[proc.pid] = (str(proc.info["name"]), float(times.user + times.system))
    return out


def run_tree(roots: Iterable[int]) -> set[int]:
    """The pids of these processes and all their descendants."""
    pids: set[int] = set()
    for pid in roots:
        try:
            root = psutil.Process(pid)
            pids |= {root.pid, *(child.pid for child in root.children(recursive=True))}
        except psutil.NoSuchProcess:
            continue
    return pids


def busiest_others(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
                   ours: set[int], span: float, top: int = 3) -> list[tuple[str, float]]:
    """The processes outside the run that used the most CPU in the window, by name, in % of one CPU."""
    by_name: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        if pid in ours or pid not in before:
            continue
        by_name[name] = by_name.get(name, 0.0) + seconds - before[pid][1]
    ranked = sorted(by_name.items(), key=lambda item: -item[1])[:top]
    return [(name, round(100 * seconds / span, 1)) for name, seconds in ranked if span > 0]


def waiting_figures(record: dict[str, Any] | None, server_busy_pct: float, generator_cores: float,
                    wire_cores: float) -> dict[str, Any]:
    """The window's waiting record as flat figures: what else kept the budget and load CPUs busy,
    the edge's accept queue, PostgreSQL's sessions by state, the busiest service."""
    if not record:  # a window that recorded none (harness.upgrade gives older runs' windows None)
        return {}
    budget, load = record.get("budget_cpus") or {}, record.get("load_cpus") or {}
    out: dict[str, Any] = {k: record.get(k, float("nan")) for k in
                           ("edge_queue_mean", "edge_queue_max", "db_active_mean", "db_idle_in_tx_mean",
                            "db_lock_waits_mean")}
    if budget:
        out.update({"budget_busy_pct": budget["busy_pct"],
                    # busy time on the budget CPUs that no process of the stage (nor PostgreSQL) accounts for
                    "budget_other_pct": max(0.0, budget["busy_pct"] - server_busy_pct),
                    "budget_softirq_pct": budget["softirq_pct"], "budget_steal_pct": budget["steal_pct"]})
    if load:
        used = load["busy_pct"] / 100 * load["cpus"]  # in cores
        out["load_other_pct"] = max(0.0, 100 * (used - generator_cores - wire_cores) / load["cpus"])
    others = record.get("other_processes") or []
    if others:  # 'fuse-overlayfs 10.6 %; dockerd 2.5 %'
        out["busiest_others"] = "; ".join(f"{name} {pct:g} %" for name, pct in others)
    services = record.get("service_cpu_pct") or {}
    if services:
        name = max(services, key=lambda n: services[n])
        out.update({"busiest_service": name, "busiest_service_pct": services[name]})
    return out


def bound_note(row: dict[str, Any]) -> str:
    """How busy the budget was; for a measurement that waited, the evidence of where."""
    if row.get("bound_by") == "waiting":
        return evidence(row)
    return f"budget {row.get('server_busy_pct', 0):.0f} % busy"


def evidence(row: dict[str, Any]) -> str:
    """'budget 59 % busy (2 % outside the stage, steal 0 %); edge accept queue 186 (max 226); …'"""
    def known(key: str) -> bool:
        value = row.get(key)
        return value is not None and value == value

    parts = [f"budget {row.get('server_busy_pct', float('nan')):.0f} % busy"
             + (f", {row['budget_other_pct']:.0f} % more outside the stage, steal {row['budget_steal_pct']:.0f} %"
                if known("budget_other_pct") else "")]
    if known("edge_queue_mean"):
        parts.append(f"edge accept queue {row['edge_queue_mean']:.0f} (max {row['edge_queue_max']:.0f})")
    if known("db_active_mean"):
        parts.append(f"PostgreSQL {row['db_active_mean']:.1f} active, {row['db_idle_in_tx_mean']:.1f} idle in "
                     f"transaction, {row.get('db_lock_waits_mean', 0.0):.1f} on locks")
    if known("busiest_service_pct"):
        parts.append(f"busiest service {row['busiest_service']} {row['busiest_service_pct']:.0f} % of a CPU")
    if isinstance(row.get("busiest_others"), str) and row["busiest_others"]:
        parts.append(f"busiest processes outside the run {row['busiest_others']}")
    if known("load_other_pct") and row["load_other_pct"] >= 10:
        parts.append(f"load CPUs {row['load_other_pct']:.0f} % busy beyond generator and wire")
    return "; ".join(parts)


def window_evidence(rows: list[dict[str, float]], window: tuple[float, float]) -> dict[str, Any]:
    """Means (and the edge queue's max) over the window's samples; each service's CPU in % of one CPU."""
    inside = [r for r in rows if window[0] <= r["t"] <= window[1]]
    if not inside:
        return {}
    out: dict[str, Any] = {}
    for key in ("edge_queue", "db_active", "db_idle", "db_idle_in_tx", "db_lock_waits"):
        values = [r[key] for r in inside if key in r and r[key] == r[key]]
        if values:
            out[f"{key}_mean"] = sum(values) / len(values)
            if key == "edge_queue":
                out["edge_queue_max"] = max(values)
    first, last = inside[0], inside[-1]
    span = last["t"] - first["t"]
    if span > 0:
        out["service_cpu_pct"] = {key.removeprefix("cpu_s:"): round(100 * (last[key] - first[key]) / span, 1)
                                  for key in first if key.startswith("cpu_s:") and key in last}
    return out
