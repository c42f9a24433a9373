"""Behavioural check before any timing: one fixed request script, the same for every stage.

Each step states the status it expects. Responses are normalised (tokens, timestamps and
ids that legitimately differ) and compared across stages: identical or it fails.
"""

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt

from domain import seed, tokens
from domain.body_limit import MAX_BODY_BYTES
from domain.hops import HEADER as HOPS_HEADER
from harness.measure.counters import DbCounters, read_counters

MAIN_USER, OTHER_USER = 1, 2


@dataclass
class Transcript:
    stage: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class Script:
    """The request script, run against one stage's edge."""

    def __init__(self, client: httpx.Client, token_secret: str) -> None:
        self.client = client
        self.secret = token_secret
        self.tokens: dict[int, str] = {}
        self.created_export: int | None = None
        self.transcript: Transcript | None = None

    def auth(self, user: int = MAIN_USER) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def step(self, name: str, expect: int, method: str, path: str, *,
             headers: dict[str, str] | None = None, json: Any = None, content: Any = None) -> httpx.Response:
        assert self.transcript is not None
        r = self.client.request(method, path, headers=headers, json=json, content=content)
        try:
            raw = r.json() if r.content else None
        except ValueError:  # every answer of the API is JSON, errors included
            raw = r.text[:200]
            self.transcript.problems.append(f"{name}: not JSON: {raw!r}")
        body = _normalise(raw, self.created_export)
        self.transcript.steps.append({"step": name, "status": r.status_code, "body": body})
        if r.status_code != expect:
            self.transcript.problems.append(f"{name}: expected {expect}, got {r.status_code} {r.text[:200]}")
        return r

    def run(self, stage: str) -> Transcript:
        self.transcript = Transcript(stage)
        user1_report = seed.report_ids_for(MAIN_USER)[0]
        user2_report = seed.report_ids_for(OTHER_USER)[0]
        s = self.step
        s("healthz", 200, "GET", "/healthz")
        s("login wrong password", 401, "POST", "/api/login",
          json={"email": seed.email_for(MAIN_USER), "password": "wrong"})
        s("login unknown user", 401, "POST", "/api/login",
          json={"email": "nobody@example.com", "password": "x"})
        s("login invalid email", 422, "POST", "/api/login", json={"email": "not-an-email", "password": "x"})
        s("login empty body", 422, "POST", "/api/login", json={})
        for user in (MAIN_USER, OTHER_USER):
            r = s(f"login user {user}", 200, "POST", "/api/login",
                  json={"email": seed.email_for(user), "password": seed.password_for(user)})
            self.tokens[user] = r.json()["access_token"]
        bad = self._bad_authorizations()
        for name, header in bad.items():
            s(f"me {name}", 401, "GET", "/api/me", headers=header)
        # a token that verifies but names no live session, on every route and on requests that end
        # before a route reads (a bad id, a bad body): 401 wherever a stage checks the session
        dead = bad["unknown session"]
        s("dashboard unknown session", 401, "GET", "/api/dashboard", headers=dead)
        s("report unknown session", 401, "GET", f"/api/reports/{user1_report}", headers=dead)
        s("report invalid id unknown session", 401, "GET", "/api/reports/abc", headers=dead)
        s("export unknown session", 401, "POST", f"/api/reports/{user1_report}/export", headers=dead,
          json={"format": "pdf"})
        s("export invalid format unknown session", 401, "POST", f"/api/reports/{user1_report}/export",
          headers=dead, json={"format": "docx"})
        s("export read unknown session", 401, "GET", "/api/exports/1", headers=dead)
        s("me", 200, "GET", "/api/me", headers=self.auth())
        s("me other user", 200, "GET", "/api/me", headers=self.auth(OTHER_USER))
        s("dashboard", 200, "GET", "/api/dashboard", headers=self.auth())
        s("dashboard no token", 401, "GET", "/api/dashboard")
        s("dashboard other user", 200, "GET", "/api/dashboard", headers=self.auth(OTHER_USER))
        s("report own", 200, "GET", f"/api/reports/{user1_report}", headers=self.auth())
        s("report of another user", 404, "GET", f"/api/reports/{user2_report}", headers=self.auth())
        s("report unknown", 404, "GET", "/api/reports/99999999", headers=self.auth())
        s("report invalid id", 422, "GET", "/api/reports/abc", headers=self.auth())
        s("report no token", 401, "GET", f"/api/reports/{user1_report}")
        # ids the database cannot hold are refused at the edge, never sent to it (once: 500, or a dropped connection)
        for hostile in (2**31, 2**63, 10**23, -(2**31) - 1):
            s(f"report id {hostile}", 422, "GET", f"/api/reports/{hostile}", headers=self.auth())
        s("export id past int64", 422, "GET", f"/api/exports/{2**64}", headers=self.auth())
        s("export of id past int32", 422, "POST", f"/api/reports/{2**31}/export", headers=self.auth(),
          json={"format": "pdf"})
        r = s("export create", 202, "POST", f"/api/reports/{user1_report}/export",
              headers=self.auth(), json={"format": "pdf"})
        if r.status_code == 202:
            self.created_export = int(r.json()["id"])
            self.transcript.steps[-1]["body"] = _normalise(r.json(), self.created_export)
        s("export invalid format", 422, "POST", f"/api/reports/{user1_report}/export",
          headers=self.auth(), json={"format": "docx"})
        s("export of another user's report", 404, "POST", f"/api/reports/{user2_report}/export",
          headers=self.auth(), json={"format": "csv"})
        s("export no token", 401, "POST", f"/api/reports/{user1_report}/export", json={"format": "pdf"})
        # bodies over the edge's bound: 413 before anything reads them, token or not, declared or chunked
        oversized = b'{"format": "pdf", "padding": "' + b"x" * MAX_BODY_BYTES + b'"}'
        json_type = {"Content-Type": "application/json"}
        s("export oversized body", 413, "POST", f"/api/reports/{user1_report}/export",
          headers={**self.auth(), **json_type}, content=oversized)
        s("export oversized chunked body", 413, "POST", f"/api/reports/{user1_report}/export",
          headers={**self.auth(), **json_type}, content=iter([oversized[:1000], oversized[1000:]]))
        s("export oversized body no token", 413, "POST", f"/api/reports/{user1_report}/export",
          headers=json_type, content=oversized)
        s("login oversized body", 413, "POST", "/api/login", headers=json_type, content=oversized)
        at_bound = (f'{{"email": "{seed.email_for(MAIN_USER)}", "password": "{seed.password_for(MAIN_USER)}", '
                    '"padding": "').encode()
        at_bound += b"x" * (MAX_BODY_BYTES - len(at_bound) - 2) + b'"}'
        s("login body at the bound", 200, "POST", "/api/login", headers=json_type, content=at_bound)
        if self.created_export is not None:
            s("export read", 200, "GET", f"/api/exports/{self.created_export}", headers=self.auth())
            s("export read by another user", 404, "GET", f"/api/exports/{self.created_export}",
              headers=self.auth(OTHER_USER))
        s("export unknown", 404, "GET", "/api/exports/99999999", headers=self.auth())
        s("export no token", 401, "GET", "/api/exports/1")
        return self.transcript

    def _bad_authorizations(self) -> dict[str, dict[str, str]]:
        good = self.tokens[MAIN_USER]
        head, payload, signature = good.split(".")
        middle = len(signature) // 2
        flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1:]
        claims = jwt.decode(good, options={"verify_signature": False})
        past = datetime.now(UTC) - timedelta(minutes=5)
        expired = tokens.issue_token(self.secret, claims["sid"], int(claims["sub"]), past)
        future = datetime.now(UTC) + timedelta(hours=1)
        forged = tokens.issue_token("not-the-secret-" + "x" * 20, claims["sid"], int(claims["sub"]), future)
        other_sid = tokens.issue_token(self.secret, tokens.new_session_id(), int(claims["sub"]), future)
        return {
            "no token": {},
            "malformed": {"Authorization": "Bearer not-a-token"},
            "wrong scheme": {"Authorization": f"Basic {good}"},
            "tampered signature": {"Authorization": f"Bearer {head}.{payload}.{flipped}"},
            "expired": {"Authorization": f"Bearer {expired}"},
            "forged secret": {"Authorization": f"Bearer {forged}"},
            "unknown session": {"Authorization": f"Bearer {other_sid}"},
        }


VOLATILE_KEYS = {"access_token": "<token>"}


def _normalise(body: Any, created_export: int | None) -> Any:
    """Replace what legitimately differs between runs: tokens, the new export's id and time."""
    if isinstance(body, list):
        return [_normalise(b, created_export) for b in body]
    if not isinstance(body, dict):
        return body
    out = {k: VOLATILE_KEYS.get(k, _normalise(v, created_export)) for k, v in body.items()}
    if created_export is not None and out.get("id") == created_export:
        out["id"] = "<created-export>"
        if "created_at" in out:
            out["created_at"] = "<now>"
    return out


def compare(transcripts: list[Transcript]) -> list[str]:
    """Differences of every transcript against the first: empty when all stages agree."""
    if not transcripts:
        return []
    reference = transcripts[0]
    diffs = []
    for other in transcripts[1:]:
        for ref, got in zip(reference.steps, other.steps, strict=False):
            if ref != got:
                diffs.append(f"{other.stage} differs from {reference.stage} at '{ref['step']}': "
                             f"{ref['status']} {str(ref['body'])[:160]} != {got['status']} {str(got['body'])[:160]}")
        if len(reference.steps) != len(other.steps):
            diffs.append(f"{other.stage} ran {len(other.steps)} steps, {reference.stage} {len(reference.steps)}")
    return diffs


# --- mechanism counters per endpoint ------------------------------------------------


@dataclass(frozen=True)
class EndpointCounters:
    endpoint: str
    hops: float
    db_sessions: float
    statements: float | None
    # the dashboard only: how long the edge kept a /healthz waiting while it served concurrent
    # dashboards, as a share of that batch's time (1: the event loop blocked for all of it)
    blocked: float | None = None


def measure_mechanisms(script: Script, admin_url: str, calls: int = 5) -> list[EndpointCounters]:
    """Per endpoint: internal hops (edge header), DB sessions and statements per request."""
    report = seed.report_ids_for(MAIN_USER)[1]
    client, auth = script.client, script.auth()
    created = script.created_export or 1
    endpoints: dict[str, Callable[[], httpx.Response]] = {
        "login": lambda: client.post("/api/login", json={"email": seed.email_for(MAIN_USER),
                                                        "password": seed.password_for(MAIN_USER)}),
        "me": lambda: client.get("/api/me", headers=auth),
        "dashboard": lambda: client.get("/api/dashboard", headers=auth),
        "report": lambda: client.get(f"/api/reports/{report}", headers=auth),
        "export create": lambda: client.post(f"/api/reports/{report}/export", headers=auth,
                                             json={"format": "csv"}),
        "export status": lambda: client.get(f"/api/exports/{created}", headers=auth),
        "healthz": lambda: client.get("/healthz"),
    }
    for call in endpoints.values():
        call().raise_for_status()  # warm: first connections of a pool, caches
    # one reading between two endpoints' calls ends the one and starts the other; statements and
    # sessions are current as the answer arrives (harness/measure/counters.py), so no wait
    out = []
    before: DbCounters = read_counters(admin_url)
    for name, call in endpoints.items():
        hops = 0
        for _ in range(calls):
            r = call()
            r.raise_for_status()
            hops += int(r.headers.get(HOPS_HEADER, 0))
        after = read_counters(admin_url)
        delta, before = after.minus(before), after
        out.append(EndpointCounters(
            endpoint=name, hops=hops / calls, db_sessions=delta.sessions / calls,
            statements=None if delta.statements is None else delta.statements / calls,
        ))
    dashboard = next(c for c in out if c.endpoint == "dashboard")
    out[out.index(dashboard)] = replace(dashboard, blocked=loop_blocked(str(client.base_url), auth))
    return out


def loop_blocked(base_url: str, auth: dict[str, str], concurrent: int = 8, rounds: int = 3) -> float:
    """Is the edge's event loop blocked while it waits on its callee? `concurrent` dashboards are
    sent at once, then a /healthz (no I/O behind it) on a connection of its own: an edge that awaits
    its calls answers it at once; one that blocks inside `async def` answers it only between
    requests. The median over `rounds` of healthz's latency / the batch's time."""
    shares = []
    for _ in range(rounds):
        clients = [httpx.Client(base_url=base_url, timeout=60) for _ in range(concurrent + 1)]
        try:
            with ThreadPoolExecutor(concurrent) as pool:
                started = time.perf_counter()
                batch = [pool.submit(c.get, "/api/dashboard", headers=auth) for c in clients[:concurrent]]
                time.sleep(0.005)  # the dashboards are in flight
                probe_start = time.perf_counter()
                clients[-1].get("/healthz").raise_for_status()
                probe = time.perf_counter() - probe_start
                for done in batch:
                    done.result().raise_for_status()
                total = time.perf_counter() - started
        finally:
            for c in clients:
                c.close()
        shares.append(min(1.0, probe / total))
    return float(statistics.median(shares))


def check_expectations(expect: dict[str, str], counters: list[EndpointCounters]) -> list[str]:
    """A manifest's [expect] table, e.g. "dashboard.hops" = ">= 4": the stage's mechanism."""
    by_endpoint = {c.endpoint: c for c in counters}
    problems = []
    for key, rule in expect.items():
        endpoint, _, metric = key.rpartition(".")
        op, _, raw = rule.strip().partition(" ")
        value = getattr(by_endpoint[endpoint], metric) if endpoint in by_endpoint else None
        if value is None:
            problems.append(f"{key}: not measured")
            continue
        limit = float(raw)
        ok = {"<=": value <= limit, ">=": value >= limit, "==": value == limit}.get(op)
        if ok is None:
            problems.append(f"{key}: unknown comparison {op!r}")
        elif not ok:
            problems.append(f"{key} = {value:g}, expected {rule}")
    return problems
