"""What changed in the statements each endpoint runs, base against candidate, from statements.csv
(harness/service/statements.py): the statements added, removed or run more or fewer times per
request, with the line that issues each. Exact counts, so no interval: a rise is a rise."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

STATEMENTS_CSV = "statements.csv"
# a statement's calls per request differ by at least this to be a change (REPEATS requests each:
# a statement cached after the first of three shows 0.33)
MOVED = 0.5
SHOWN_CHARS = 90


@dataclass(frozen=True)
class StatementChange:
    endpoint: str
    statement: str
    site: str
    base_calls: float
    candidate_calls: float

    @property
    def delta(self) -> float:
        return self.candidate_calls - self.base_calls

    def sentence(self) -> str:
        """'GET /notes: `SELECT tags.id, …` added, 20 per request, from notes/main.py:51 notes.<locals>.<listcomp>'."""
        text = self.statement if len(self.statement) <= SHOWN_CHARS else self.statement[:SHOWN_CHARS - 1] + "…"
        if not self.base_calls:
            what = f"added, {self.candidate_calls:g} per request"
        elif not self.candidate_calls:
            what = f"removed (was {self.base_calls:g} per request)"
        else:
            what = f"{self.base_calls:g} → {self.candidate_calls:g} per request"
        return f"{self.endpoint}: `{text}` {what}, from {site_said(self.site)}"


def read_statements_table(run_dir: Path) -> pd.DataFrame | None:
    path = run_dir / STATEMENTS_CSV
    return pd.read_csv(path, dtype={"endpoint": str}) if path.is_file() else None


def per_endpoint(table: pd.DataFrame, variant: str) -> pd.Series:
    """Statements per request of each endpoint, for one variant."""
    rows = table[table["variant"] == variant]
    return rows.groupby("endpoint")["calls_per_request"].sum()


def statement_changes(table: pd.DataFrame, base: str, candidate: str) -> list[StatementChange]:
    """Every statement whose calls per request moved by MOVED or more, the largest rise first."""
    def side(variant: str) -> pd.DataFrame:
        rows = table[table["variant"] == variant]
        return rows.groupby(["endpoint", "statement"]).agg(calls=("calls_per_request", "sum"),
                                                            site=("call_site", "first"))
    a, b = side(base), side(candidate)
    joined = a.join(b, how="outer", lsuffix="_a", rsuffix="_b").reset_index()
    joined[["calls_a", "calls_b"]] = joined[["calls_a", "calls_b"]].fillna(0.0)
    out = []
    for row in joined.itertuples(index=False):
        before, after = float(str(row.calls_a)), float(str(row.calls_b))
        if abs(after - before) >= MOVED:
            site = row.site_b if isinstance(row.site_b, str) else row.site_a
            out.append(StatementChange(str(row.endpoint), str(row.statement), str(site), before, after))
    return sorted(out, key=lambda c: -c.delta)


def endpoints_that_moved(table: pd.DataFrame, base: str, candidate: str) -> dict[str, tuple[float, float]]:
    """Each endpoint whose statements per request moved: (base's, candidate's)."""
    a, b = per_endpoint(table, base), per_endpoint(table, candidate)
    both = pd.concat({"a": a, "b": b}, axis=1).fillna(0.0)
    return {str(e): (float(r["a"]), float(r["b"])) for e, r in both.iterrows() if abs(r["b"] - r["a"]) >= MOVED}


def endpoints_that_rose(table: pd.DataFrame, base: str, candidate: str) -> dict[str, tuple[float, float]]:
    """Each endpoint whose statements per request rose: (base's, candidate's)."""
    return {e: (a, b) for e, (a, b) in endpoints_that_moved(table, base, candidate).items() if b > a}


def why_lines(run_dir: Path, base: str, candidate: str, top: int = 3) -> list[str]:
    """The answer's lines on statements: each endpoint whose count rose, then the statements that moved."""
    table = read_statements_table(run_dir)
    if table is None or table.empty:
        return []
    moved = endpoints_that_moved(table, base, candidate)
    lines = [f"statements per request {'rose' if b > a else 'fell'} on {e}: {a:g} → {b:g}"
             for e, (a, b) in sorted(moved.items(), key=lambda m: m[1][0] - m[1][1])][:2]
    lines += [c.sentence() for c in statement_changes(table, base, candidate)[:top]]
    return lines


def site_said(site: str) -> str:
    """A call site as markdown: a line of code (`notes/main.py:67 notes.<locals>.<listcomp>`) as code,
    so its <locals> stays text on a page; a sentence (PostgreSQL's own check) as it is."""
    return f"`{site}`" if re.match(r"\S+:\d+", site) else site
