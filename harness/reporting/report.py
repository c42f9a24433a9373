"""report.md: the table, the charts, and one paragraph per step, from a results folder."""

from pathlib import Path
from typing import Any

import pandas as pd

from harness import interpreter
from harness.load.shape import REQUEST_TIMEOUT_SECONDS
from harness.measure.waiting import evidence
from harness.reporting.analysis import (
    OVERLAP_GAIN_PCT,
    OVERLAPPED_BUSY_PCT,
    STEP_SAME,
    beyond_case_study,
    ladder_ceiling,
    open_model_rows,
    ratios,
    read_summary,
    run_host_speed,
    stage_dirs,
)
from harness.reporting.figures import shown_in
from harness.reporting.layers import read_profile_tables
from harness.reporting.profile_report import profile_lines, step_layer_moves
from harness.reporting.statements import read_statements_table, site_said
from harness.reporting.tables import markdown
from harness.reporting.tails import tail_lines
from harness.run_folder import load_run, read_stage


def _fmt(value: float, unit: str = "", digits: int = 0) -> str:
    return "n/a" if pd.isna(value) else f"{value:,.{digits}f}{unit}"


def _moved(name: str, before: float, after: float, digits: int = 1) -> str | None:
    if pd.isna(before) or pd.isna(after) or round(before, digits) == round(after, digits):
        return None
    return f"{name} {before:.{digits}f} → {after:.{digits}f}"


def step_paragraph(prev: pd.Series, cur: pd.Series, meta: dict[str, Any]) -> str:
    speed = cur["rps"] / prev["rps"]
    p95 = prev["p95_ms"] / cur["p95_ms"]
    mechanisms = [m for m in (
        _moved("internal hops/request", prev["hops_per_req"], cur["hops_per_req"]),
        _moved("DB sessions opened/request", prev["db_sessions_per_req"], cur["db_sessions_per_req"], 2),
        _moved("SQL statements/request", prev["statements_per_req"], cur["statements_per_req"]),
        _moved("server CPU-s per 1,000 requests", prev["cpu_s_per_1k"], cur["cpu_s_per_1k"], 2),
        _moved("network wait ms/request", prev.get("wait_ms_per_req", float("nan")),
               cur.get("wait_ms_per_req", float("nan"))),
        _moved("budget busy %", prev.get("server_busy_pct", float("nan")), cur.get("server_busy_pct", float("nan")),
               0),
    ) if m]
    why = "; ".join(mechanisms) if mechanisms else "no mechanism counter moved"
    verdict = ("faster" if speed > 1 + STEP_SAME else "slower" if speed < 1 - STEP_SAME
               else f"about as fast (within {100 * STEP_SAME:g} %)")
    removes = f" Removes: {meta['removes']}." if meta.get("removes") else ""
    text = (f"**{cur['stage']}** — {meta.get('fix', '')}.{removes} "
            f"Throughput {prev['rps']:,.0f} → {cur['rps']:,.0f} req/s (×{speed:.2f}, {verdict}); "
            f"p95 {prev['p95_ms']:,.0f} → {cur['p95_ms']:,.0f} ms (÷{p95:.2f}). What moved: {why}.")
    cpu_up = cur["cpu_s_per_1k"] / prev["cpu_s_per_1k"]
    busy_before, busy_after = prev.get("server_busy_pct", float("nan")), cur.get("server_busy_pct", float("nan"))
    if speed > 1 + STEP_SAME and busy_before < OVERLAPPED_BUSY_PCT and busy_after - busy_before > OVERLAP_GAIN_PCT:
        text += (f" It pays by overlapping waits, not by saving CPU: before, the budget was only {busy_before:.0f} % "
                 f"busy (processes held by blocking waits with CPU to spare); after, {busy_after:.0f} %.")
    elif speed < 1 - STEP_SAME and cpu_up > 1 + STEP_SAME:
        text += (f" Slower: each request now costs {cpu_up:.2f}× the server CPU, and on this budget "
                 f"throughput is bound by CPU.")
    elif speed <= 1 + STEP_SAME and abs(cpu_up - 1) <= STEP_SAME:
        text += " Server CPU per request did not move, so on this budget neither did throughput."
    verdict_after = cur.get("bound_by")
    if verdict_after == "waiting":
        text += f" Bound by waiting, with CPU to spare: {evidence(dict(cur))}."
    elif verdict_after in ("generator", "network"):
        text += f" Bound by the {verdict_after}, not the stage: this step's figures do not measure the code."
    elif speed < 1 - STEP_SAME:
        text += f" Bound by the budget ({cur.get('server_busy_pct', float('nan')):.0f} % busy)."
    return text


def case_study_end_lines(data: pd.DataFrame) -> list[str]:
    """Where the case study ends, and what the rungs beyond it added, as ratios within this run."""
    beyond = beyond_case_study(data)
    if not beyond.any() or beyond.all():
        return []
    end = data[~beyond].iloc[-1]
    last = data.iloc[-1]
    return [f"The case study ends at **{end['stage']}** (×{end['speedup_vs_baseline']:.1f} over the baseline, "
            f"{end['rps']:,.0f} req/s); the rungs beyond it take **{last['stage']}** to {last['rps']:,.0f} req/s, "
            f"×{last['rps'] / end['rps']:.1f} {end['stage']} at {last['cpu_s_per_1k']:.2f} CPU-s per 1,000 "
            f"requests against {end['cpu_s_per_1k']:.2f} (the article's figure on one CPU: 1,300 req/s).", ""]


def sign_in_lines(summary: pd.DataFrame) -> list[str]:
    """How long each stage took to sign every user in, and what failed before the window."""
    if "sign_in_s" not in summary or summary["sign_in_s"].isna().all():
        return []
    rows = summary[(summary["status"] == "ok") & summary["sign_in_s"].notna()]
    parts = [f"{r['stage']} {r['sign_in_s']:,.0f} s" + (
        f" (**{int(r['failures_before_window'])} requests failed** before the window)"
        if r.get("failures_before_window", 0) > 0 else "") for _, r in rows.iterrows()]
    return [f"Every user signed in after: {'; '.join(parts)}. Failures before the window are not in the "
            "figures above, but they happened.", ""]


def timeout_lines(summary: pd.DataFrame) -> list[str]:
    """Stages whose p95 is locust's request timeout: there the figure is a floor, not a measurement."""
    if summary.empty or "p95_ms" not in summary:
        return []  # nothing measured (every stage failed at start)
    limit = 0.99 * REQUEST_TIMEOUT_SECONDS * 1000
    capped = summary[(summary["status"] == "ok") & (summary["p95_ms"] >= limit)]
    if capped.empty:
        return []
    return [f"**Timeout-bound p95**: {', '.join(capped['stage'])} — at least 5 % of the window's requests "
            f"waited the client's full {REQUEST_TIMEOUT_SECONDS:.0f} s and failed, so that p95 is a floor: how "
            "long they would have taken is not known.", ""]


def host_speed_lines(summary: pd.DataFrame) -> list[str]:
    """How fast the host was around each measurement, and the throughput read at its usual speed."""
    if "speed_min" not in summary or summary["speed_min"].isna().all():
        return []
    rows = summary[(summary["status"] == "ok") & summary["speed_min"].notna()]
    lo, hi = rows["speed_min"].min(), rows["speed_max"].max()
    lines = ["## Host speed", "",
             "A burst of fixed Python work was timed every 0.2 s on the budget's CPUs through every window "
             "(`host_speed` in measurement.json, `host_speed.cpu*.csv`). Per stage, speed 1.00 is the median "
             f"of its windows; over all stages it ranged {lo:.2f}–{hi:.2f}"
             + (" — a host that drifts this much moves every figure with it." if hi - lo > 0.1 else "."), ""]
    if rows["repeats"].max() > 1:
        table = rows[["stage", "repeats", "speed_min", "speed_max", "rps", "rps_cv", "rps_at_speed",
                      "rps_at_speed_cv"]]
        lines += ["Throughput as measured (`rps`) and scaled to the median host speed (`rps_at_speed`), "
                  "with their spread over the repeats: what is left in `rps_at_speed_cv` is the stage's own "
                  "variation, not the host's. The headline figures stay the measured ones.", "",
                  markdown(table), ""]
    return lines


def placement_lines(swarm: Any) -> list[str]:
    """Where a swarm run's tiers ran, and what that left unread when one ran on another node."""
    if not isinstance(swarm, dict) or not swarm.get("placement"):
        return []
    line = f"Placement ({swarm.get('nodes')} nodes): {swarm['placement']}."
    if swarm.get("tiers_elsewhere"):
        line += (f" Tiers that may run elsewhere: {', '.join(swarm['tiers_elsewhere'])} "
                 f"(on {', '.join(swarm.get('nodes_elsewhere') or [])}): each node's tiers have the budget's CPUs "
                 "there, their CPU is what the node readers read, and 'budget busy %' is the busiest node's; "
                 "not read there: the edge's accept queue, steal time, host speed (this host's only) and py-spy.")
    return [line, ""]


def load_path_lines(record: Any) -> list[str]:
    """How the load reached the edge; with the probe of both paths when there was one."""
    if not isinstance(record, dict):
        return []
    lines = [f"Load path: **{record.get('chosen')}** — {record.get('why', '')}.", ""]
    paths = record.get("paths") or {}
    if paths:
        lines += [f"Measured on {record.get('probe_stage')}'s static JSON, "
                  f"{(record.get('probe_load') or {}).get('users')} users:", "",
                  "| path | URL | req/s | p95 ms | failures |", "|---|---|---|---|---|"]
        for name, p in paths.items():
            figures = (f"{p['rps']:,.0f} | {p['p95_ms']:,.1f} | {p['failures']}" if p.get("reachable")
                       else "unreachable | | ")
            lines.append(f"| {name} | `{p.get('url')}` | {figures} |")
        lines.append("")
    return lines




def same_traffic_lines(run: dict[str, Any], summary: pd.DataFrame) -> list[str]:
    """Open model: every stage under the same arrivals, latency from each request's due time."""
    if summary.empty or "offered_rps" not in summary:
        return []
    rows = open_model_rows(summary)
    if rows.empty:
        return []
    rate = float(rows["offered_rps"].iloc[0])
    rule = (run.get("same_traffic") or {}).get("rule", "given with --rate")
    lines = ["## Same traffic", "",
             f"Every stage was offered the same arrivals: **{rate:,.0f} requests/s** ({rule}) of the same mix, "
             "started on "
             "schedule whatever the responses (an open model, as k6's constant-arrival-rate and wrk2 run it), "
             f"by a pool of {(run.get('load') or {}).get('users')} locust users. Latency is measured from each "
             "request's due time, so a stage that falls behind shows its backlog. `sent_rps`: what the generator "
             "sent; `late_starts`: requests sent more than 10 ms after their time (no user of the pool was "
             "free); `dropped`: not started within 5 s of their time, never sent (k6's dropped iterations); "
             "`unanswered`: due in the window and not answered when the drain ended (both counted in failures). "
             "A stage that was not sent the rate (`rate_held` false) was not offered it: its figures are a "
             "floor, not the stage's latency at that rate.", "",
             "![same traffic](same_traffic.png)", "",
             markdown(rows[shown_in("same-traffic")]), ""]
    if len(rows) >= 2 and not run.get("service"):
        first, last = rows.iloc[0], rows.iloc[-1]
        ratio = first["p95_ms"] / last["p95_ms"]
        before = (f"p95 {first['p95_ms'] / 1000:,.1f} s" if first["p95_ms"] == first["p95_ms"]
                  else "no request answered")
        lines += [f"The case study's pair at one load: **{first['stage']}** {before} "
                  f"({int(first['failures']):,} failures, {first['fail_rate']:.0%} of what was offered) "
                  f"→ **{last['stage']}** p95 {last['p95_ms']:,.0f} ms"
                  + (f": ÷{ratio:,.0f}" if ratio == ratio else "") + " (the case study: > 4 s → < 200 ms, over ÷20). "
                  f"Before ≥ 4 s or failing: {'yes' if first['p95_ms'] >= 4000 or first['failures'] else 'no'}; "
                  f"after ≤ 200 ms: {'yes' if last['p95_ms'] <= 200 else 'no'}.", ""]
    return lines


def restart_lines(summary: pd.DataFrame) -> list[str]:
    """Measurements during which PostgreSQL went away and answered again."""
    if summary.empty or "db_restarts" not in summary:
        return []
    rows = summary[summary["db_restarts"].fillna(0) > 0]
    if rows.empty:
        return []
    parts = [f"{r['stage']} ({int(r['db_restarts'])}×, down {r['db_down_s']:.1f} s in all; "
             f"{int(r['failures'])} failures)" for _, r in rows.iterrows()]
    return [f"**PostgreSQL restarted** during the window of {'; '.join(parts)}: the window went on, the "
            "requests it could not answer while it was down are counted as failures, and the writes it "
            "acknowledged are accounted below.", ""]


def writes_lines(summary: pd.DataFrame, service: dict[str, Any] | None = None) -> list[str]:
    """Acknowledged writes against the database, per measurement that counted them."""
    if summary.empty or "writes_acknowledged" not in summary:
        return []
    rows = summary[summary["writes_acknowledged"].notna()]
    if rows.empty:
        return []
    lost = rows[rows["writes_lost"] > 0]
    if service:
        writes = service.get("writes") or {}
        what = (f"Writes the service acknowledged (the answers of {', '.join(writes.get('acknowledged_by', []))} "
                "the generator read over the whole stage, failures excluded) against the rows its count "
                f"(`{writes.get('count', '')}`) found the load added to the stage's database. `found` above "
                "`acknowledged`: answers the generator never read (in flight when it stopped, or timed out).")
        table = rows[["stage", "writes_acknowledged", "writes_found", "writes_lost"]]
    else:
        what = ("Export jobs the API acknowledged (202s the generator read over the whole stage) against the rows "
                "the load added to the stage's database. `found` above `acknowledged`: answers the generator never "
                "read (in flight when it stopped, or timed out). `side_effects_lost`: exports found without their "
                "audit, notification or usage row — where a stage writes them in separate services, a failed call "
                "after the export's commit leaves it without them.")
        table = rows[["stage", "writes_acknowledged", "writes_found", "writes_lost", "side_effects_lost"]]
    return ["## Writes", "", what, "",
            markdown(table), "",
            (f"**Lost writes**: {', '.join(lost['stage'])} — acknowledged and not in the database."
             if not lost.empty else "No acknowledged write was lost."), ""]


def node_lines(summary: pd.DataFrame) -> list[str]:
    """Where the tiers ran on swarm nodes: the CPU per request each node read from its tasks'
    cgroups, beside this host's reading of the same tasks' processes (the verdicts' source)."""
    if summary.empty or "node_cpu_s_per_1k" not in summary or summary["node_cpu_s_per_1k"].isna().all():
        return []
    rows = summary[summary["node_cpu_s_per_1k"].notna()]
    parts = [f"{r['stage']} {r['node_cpu_s_per_1k']:,.2f} against {r['cpu_s_per_1k']:,.2f}"
             for _, r in rows.iterrows()]
    return [f"CPU-ms per request as the nodes read it (each task's cgroup, by the run's node reader) against this "
            f"host's reading of the tasks' processes: {'; '.join(parts)}.", ""]


def samples_lines(summary: pd.DataFrame) -> list[str]:
    """Requests locust counted against the samples its processes wrote: a worker whose file did not
    reach the run folder would leave its requests out of every figure."""
    if summary.empty or "samples_lost" not in summary or summary["samples_lost"].isna().all():
        return []
    rows = summary[summary["samples_lost"].notna()]
    lost = rows[rows["samples_lost"] != 0]
    if lost.empty:
        return [f"Every request the load generator counted is in the samples ({int(rows['samples_sent'].sum()):,} "
                "over the run's stages, sign-in and warm-up included).", ""]
    parts = [f"{r['stage']} {int(r['samples_lost']):,} of {int(r['samples_sent']):,}" for _, r in lost.iterrows()]
    return [f"**Samples lost**: {'; '.join(parts)} — requests locust counted that no samples file holds, so the "
            "figures of those stages leave them out.", ""]


def network_lines(run: dict[str, Any], summary: pd.DataFrame) -> list[str]:
    """The network between the tiers, in a line: loopback, a real one, or the RTT asked for and how it was made."""
    record = run.get("network") or {}
    if _real_network(record, summary):
        return ["Network: **real** — no emulated delay: the tiers reach each other over the swarm's overlay "
                "network, wherever their tasks run. A probe where the application tier runs measured the RTT "
                "to where PostgreSQL runs (below).", ""]
    if not record.get("rtt_ms"):
        return ["Network: **loopback** — every tier on one host, so a hop, a query or a connection set-up "
                "costs CPU and no wait (`--rtt` emulates a network between the tiers).", ""]
    links = "the service → PostgreSQL" if run.get("service") else record.get("links", "")
    lines = [f"Network: **{record['rtt_ms']:g} ms RTT** between the tiers ({links}); "
             f"{record.get('model', '')}. The wire runs on the load CPUs, outside the budget.", ""]
    return lines


def _real_network(record: dict[str, Any], summary: pd.DataFrame) -> bool:
    """No wire, and a probe measured the network between the tiers (harness.network.real)."""
    return (not record.get("rtt_ms") and not summary.empty and "net_rtt_ms" in summary
            and bool(summary["net_rtt_ms"].notna().any()))


def network_table_lines(run: dict[str, Any], summary: pd.DataFrame) -> list[str]:
    record = run.get("network") or {}
    if _real_network(record, summary):
        rows = summary[summary["status"] == "ok"]
        return ["## Network", "",
                "Per stage: the RTT between the tiers as a client there sees it (the probe's median exchange "
                "with an echo where PostgreSQL runs) and what the network added to it (less the same exchange "
                "on the probe's own loopback). A real network's round trips per request are not counted: "
                "only the wire counts them.", "",
                markdown(rows[["stage", "net_added_ms", "net_rtt_ms", "server_busy_pct"]]), ""]
    if not record.get("rtt_ms") or summary.empty or "net_rtt_ms" not in summary:
        return []
    rows = summary[summary["status"] == "ok"]
    lines = ["## Network", "",
              "Per stage: the RTT asked for, the RTT the wire added in the window (the probe's median through "
              "the delayed echo less through an undelayed one) and the probe's median through it, "
              "the wire's CPU (% of one core), the round trips a request's work crossed into the database "
              "and into other services (connections + exchanges), the wait that adds up to, and how busy the "
              "budget was. A stage whose wire was off by more than "
              f"{record.get('tolerance_ms', 0.2):g} ms or saturated is not held, and never compared.", "",
              markdown(rows[shown_in("network")]), ""]
    unheld = rows[~rows["net_held"].fillna(True).astype(bool)]
    if not unheld.empty:
        lines += [f"**Network not held**: {', '.join(unheld['stage'])} — the emulator, not the stack, set "
                  "those numbers.", ""]
    return lines


def service_lines(service: dict[str, Any], variants: list[dict[str, Any]]) -> list[str]:
    """What was measured when the run is of a service: where it came from, each variant by its ref
    and commit, its environment, how it was started and fed."""
    rows = []
    for v in variants:
        env = v.get("environment") or {}
        made = (f"Python {env.get('python_version')} ({env.get('python')}), "
                + (f"{env['locked_packages']} packages pinned by {env['lock']}" if env.get("lock") else "no lock")
                + (", reused" if env.get("reused") else ", built")) if env else ""
        rows.append({"variant": v["id"], "ref": v.get("ref"), "commit": (v.get("commit") or "folder")[:10],
                     "subject": v.get("subject", ""), "environment": made})
    start = service.get("start") or {}
    served = (f"the ASGI app `{start['app']}` served as the ladder serves s5 (gunicorn managing uvicorn workers, "
              f"{start.get('workers_per_cpu', 1):g} per budget CPU, no access log)" if start.get("app")
              else f"its own command `{start.get('command')}`")
    setup = "; ".join(f"`{c}`" for c in service.get("setup", []))
    settings = ", ".join(f"`{e}`" for e in service.get("env", []))
    text = (f"Service **{service['name']}** (`{service['file']}`), {served}, healthy at `{start.get('health')}`. "
            + (f"Before any window, each variant's database was made by: {setup}. " if setup else "")
            + f"Load: {service.get('load')}." + (f" Settings given through {settings}." if settings else ""))
    return [text, "", markdown(pd.DataFrame(rows)), ""]


def render(run_dir: Path) -> str:
    run = load_run(run_dir)
    summary = read_summary(run_dir)
    profiled = read_profile_tables(run_dir)  # read once: the steps and the profile section both quote it
    metas = {d.name: read_stage(d) for d in stage_dirs(run_dir)}
    budget, profile = run.get("budget", {}), run.get("load", {})
    service = run.get("service")
    title = f"{service['name']}: {' → '.join(v['id'] for v in run.get('variants', []))}" if service \
        else "Scaling ladder"
    lines = [
        f"# {title} — run {run_dir.name}", "",
        f"Backend **{run.get('backend')}**; server CPUs **{budget.get('server_cpus')}** "
        f"(quota: {budget.get('cpu_quota') or 'none'}; enforced: {budget.get('enforced', 'affinity')}), "
        f"load generator CPUs **{budget.get('load_cpus')}**. Load: "
        + (f"open model, {profile['rate']:,.0f} req/s offered by a pool of {profile.get('users')} users"
           if profile.get("rate") else f"{profile.get('users')} concurrent users without think time")
        + f"; the window opens {profile.get('warmup')} s after every user has signed in "
        f"(sign-in and warm-up excluded), {profile.get('duration')} s measured. "
        f"Commit `{(run.get('git') or {}).get('commit', '')}`; CPU: {run.get('machine', {}).get('cpu_model')}"
        + (f", running at {speed:,.0f} units/s (median host speed of the windows, see below)."
           if (speed := run_host_speed(run_dir)) == speed else "."),
        "",
    ]
    if service:
        lines += answer_lines(run_dir)
        lines += service_lines(service, run.get("variants", []))
    elif isinstance(run.get("interpreter"), dict):
        lines += [f"Interpreter of every stage's services: {interpreter.summary(run['interpreter'])}.", ""]
    if (run_dir / "ladder.png").is_file():
        lines += ["![ladder](ladder.png)", ""]
    if run.get("not_run"):
        lines += [f"**Run stopped**: {run.get('not_run_because', '')}. Not run: {', '.join(run['not_run'])}.", ""]
    lines += network_lines(run, summary)
    lines += placement_lines(run.get("swarm"))
    lines += load_path_lines(run.get("load_path"))
    table = summary[shown_in("summary")].copy() if not summary.empty else summary
    if service:  # hops are the ladder's own header
        table = table.drop(columns=["hops_per_req"], errors="ignore")
    lines += ["## Summary", "", markdown(table), ""]
    lines += statements_lines(run_dir, run)
    lines += same_traffic_lines(run, summary)
    lines += network_table_lines(run, summary)
    lines += sign_in_lines(summary)
    lines += timeout_lines(summary)
    data = ratios(summary)
    if len(data) >= 2:
        first, last = data.iloc[0], data.iloc[-1]
        article = ("", "") if service else ("; the article: 180 → 1300, ×7.2",
                                            "; the article: > 4 s → < 200 ms, over ÷20")
        lines += [
            f"From **{first['stage']}** to **{last['stage']}**: throughput ×{last['speedup_vs_baseline']:.1f} "
            f"({first['rps']:,.0f} → {last['rps']:,.0f} req/s{article[0]}), "
            f"p95 ÷{last['p95_reduction_vs_baseline']:.1f} ({first['p95_ms']:,.0f} → {last['p95_ms']:,.0f} ms"
            f"{article[1]}).", ""]
        lines += case_study_end_lines(data)
        ceiling = summary[ladder_ceiling(summary) & (summary["status"] == "ok")]
        if not ceiling.empty:
            top = ceiling.iloc[0]
            served = (f"its health path (`{(service.get('start') or {}).get('health')}`) alone" if service
                      else "static JSON (`/healthz`, no database, no internal call)")
            lines += [f"**Ceiling**: {last['stage']}'s stack serving {served} under the same budget: "
                      f"{top['rps']:,.0f} req/s, p95 {top['p95_ms']:,.0f} ms. "
                      f"{last['stage']} reaches {100 * last['rps'] / top['rps']:.0f} % of it.", ""]
        lines += ["## Each variant against the base" if service else "## Step by step", "",
                  "At a fixed number of users, latency follows throughput (Little's law); server CPU per "
                  "request is what each " + ("change" if service else "fix") + " can move on a fixed CPU budget.", ""]
        beyond = beyond_case_study(data)
        moves = step_layer_moves(profiled)
        for i in range(1, len(data)):
            if service:  # a pull request compares each variant with its base, not with the one before
                lines += [step_paragraph(data.iloc[0], data.iloc[i], metas.get(data.iloc[i]["stage"], {})), ""]
                continue
            if beyond.iloc[i] and not beyond.iloc[i - 1]:
                lines += ["### Beyond the case study", "",
                          f"The case study ends at {data.iloc[i - 1]['stage']}. Each rung below is a fix of our "
                          "own, chosen from the rung before's profile (`--profile`): the largest layer a real "
                          "service could remove, never a cache of answers, a weaker check or a lost write.", ""]
            prev, cur = data.iloc[i - 1], data.iloc[i]
            text = step_paragraph(prev, cur, metas.get(cur["stage"], {}))
            if (prev["stage"], cur["stage"]) in moves:
                text += f" From the profile: {moves[(prev['stage'], cur['stage'])]}."
            lines += [text, ""]
    failed = summary[summary["status"] != "ok"]
    if not failed.empty:
        lines += ["## Failed stages", ""]
        for _, row in failed.iterrows():
            lines += [f"- **{row['stage']}**: {metas.get(row['stage'], {}).get('error', '')} "
                      f"(logs in `stages/{row['stage']}/logs/`)"]
        lines.append("")
    if "repeats" in summary and summary["repeats"].max() > 1:
        spread = summary[["stage", "repeats", "rps", "rps_min", "rps_max", "rps_cv", "p95_ms", "p95_min",
                          "p95_max", "p95_cv"]]
        lines += ["## Spread over repeats", "",
                  "Medians of the repeats (stages interleaved between repeats); cv = standard deviation / mean.",
                  "", markdown(spread), ""]
    lines += tail_lines(run_dir, summary)
    lines += profile_lines(run_dir, profiled)
    lines += restart_lines(summary)
    lines += writes_lines(summary, service)
    lines += samples_lines(summary)
    lines += node_lines(summary)
    lines += host_speed_lines(summary)
    if "quiet_before" in summary and not summary["quiet_before"].fillna(True).all():
        noisy = summary[~summary["quiet_before"].fillna(True).astype(bool)]["stage"]
        lines += [f"**Busy machine**: the CPUs were not quiet before measuring {', '.join(noisy)} "
                  "(see `idle` in their stage.json); treat those figures with care.", ""]
    bound = summary[summary.get("generator_bound", False) == True]  # noqa: E712
    if not bound.empty:
        lines += [f"**Generator-bound**: {', '.join(bound['stage'])} — the load generator passed 85 % CPU, "
                  "so those figures may measure locust, not the server.", ""]
    if not (run_dir / "latency.png").is_file():
        return "\n".join(lines)
    lines += ["## Latency and mechanisms", "", "![latency](latency.png)", "", "![mechanisms](mechanisms.png)", "",
              "Percentiles are exact (every request completed in the window, not locust's rounded buckets). "
              + ("" if service else "Hops come from the edge's `x-internal-hops` header; ")
              + "DB sessions from `pg_stat_database.sessions`; statements from `pg_stat_statements`.", ""]
    return "\n".join(lines)


def answer_lines(run_dir: Path) -> list[str]:
    """A service run opens with its answer: each variant against the base, then what moved."""
    from harness.reporting.compare import variant_answers
    answers = variant_answers(run_dir)
    return [line for answer in answers for line in [*answer.lines(), ""]]


def statements_lines(run_dir: Path, run: dict[str, Any]) -> list[str]:
    """Statements per endpoint, variant beside variant, each with the line that issued it."""
    table = read_statements_table(run_dir)
    if table is None or table.empty:
        return []
    variants = [v["id"] for v in run.get("variants", [])]
    wide = table.pivot_table(index=["endpoint", "statement"], columns="variant", values="calls_per_request",
                             aggfunc="sum", fill_value=0.0)
    wide = wide[[v for v in variants if v in wide.columns]]
    sites = table.groupby(["endpoint", "statement"])["call_site"].first()
    rows = wide.reset_index()
    rows["statement"] = [f"`{s[:77]}…`" if len(s) > 78 else f"`{s}`" for s in rows["statement"]]
    rows["call site"] = [site_said(str(sites.loc[(e, st)])) for e, st in zip(wide.index.get_level_values(0),
                                                                 wide.index.get_level_values(1), strict=True)]
    repeats = (run.get("statements") or {}).get("repeats", 3)
    return ["## Statements per endpoint", "",
            f"Each request of the load and of `[[verify]]` sent alone {repeats} "
            "times to each variant, before any window, `pg_stat_statements` read around it: calls per request, "
            "exact, and the line of the service's own code that issued each statement (statements.csv).", "",
            markdown(rows), ""]


def write_report(run_dir: Path) -> Path:
    path = run_dir / "report.md"
    path.write_text(render(run_dir))
    return path
