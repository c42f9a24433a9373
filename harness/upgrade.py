"""Older results folders read as today's: the one upgrade step from each schema to the next, as
asv's `Results.api_version` and `update` do. The analysis reads one format only; every
difference of an older run's files is met here, when they are read, never in the analysis.

Schema 1 → 2:
- a measurement's kind is recorded (harness.kinds): from schema 1's booleans (`ceiling`,
  `open_rate`, `profiled`), or from the row's name where even those are missing;
- run.json: `kind` (runs before it were ladders) and `network` (runs before it ran on loopback);
- measurement.json: the figures a window records since, empty where it did not (the host's
  speed, the writes, the waiting evidence, the requests locust counted, PostgreSQL's own CPU and
  its restarts);
- the tables: every column today's analysis writes, `kind` from the names, empty elsewhere.
Files are upgraded in memory: a committed run's files stay as they were written.
"""

from typing import Any

import pandas as pd

from harness.kinds import Kind, kind_from_name

SCHEMA_VERSION = 2
# how a run on loopback records its network (harness.network.emulator.LOOPBACK.as_record())
LOOPBACK_RECORD = {"rtt_ms": 0.0, "links": "loopback: every tier on one host"}


def run_record(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("schema_version", 1) < 2:
        data = {**data, "schema_version": 2}
        data.setdefault("kind", "ladder")
        data.setdefault("network", dict(LOOPBACK_RECORD))
    return data


def stage_record(meta: dict[str, Any]) -> dict[str, Any]:
    if "kind" not in meta:
        if meta.get("ceiling"):
            kind = Kind.CEILING
        elif meta.get("open_rate"):
            kind = Kind.SAME_TRAFFIC
        elif meta.get("profiled"):
            kind = Kind.PROFILED
        else:
            kind = kind_from_name(str(meta.get("id", "")))
        meta = {**meta, "kind": kind.value}
    return meta


def measurement_record(m: dict[str, Any]) -> dict[str, Any]:
    m = dict(m)
    m.setdefault("host_speed", {"mean": None})
    m.setdefault("writes", None)
    m.setdefault("waiting", None)
    m.setdefault("generator_sent", None)
    m.setdefault("db_cpu_seconds", None)
    m.setdefault("database_restarts", [])
    m.setdefault("restarts_in_window", 0)
    if isinstance(m.get("network"), dict) and "real" not in m["network"]:
        m["network"] = {"added_rtt_ms": None, **m["network"]}
    return m


# what a column added since means for a run written before it: a stage of the case study, a
# network that held (there was none: loopback)
COLUMN_DEFAULTS: dict[str, Any] = {"part": "case-study", "net_held": True}


def table(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """A table as written by any schema, with today's columns: `kind` from the row names where
    it was not written, the columns with a meaning for older runs as COLUMN_DEFAULTS says, any
    other column added since empty."""
    if "kind" in columns and "kind" not in frame and "stage" in frame:
        frame = frame.assign(kind=[kind_from_name(str(s)).value for s in frame["stage"]])
    missing = [c for c in columns if c not in frame.columns]
    return frame.assign(**{c: COLUMN_DEFAULTS.get(c, float("nan")) for c in missing}) if missing else frame
