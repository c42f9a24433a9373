"""What the commands print: the console (wide when piped), the progress of a run, its one line
per measurement, the summary and verify tables, and the plan a run starts with. cli.py holds the
commands; this is how they look."""

import os
import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from harness.backends.registry import entry_of
from harness.measure import waiting

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from harness.manifests.manifest import StageManifest
    from harness.reporting.answer import Answer
    from harness.reporting.compare import StageComparison
    from harness.runs.ladder import RunPlan
    from harness.runs.leftovers import Leftovers
    from harness.verify.stages import LadderVerification, StageVerification


def make_console(stderr: bool = False) -> Console:
    """Rich's console; piped or logged (tee, CI, nohup) there is no terminal to fit, so lines and
    tables are not cut to 80 columns (an explicit COLUMNS still wins)."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=1000 if wide else None)


console = make_console()
err = make_console(stderr=True)


def say(text: str) -> None:
    """A line as given: no highlighting, never wrapped."""
    console.print(text, highlight=False, soft_wrap=True)


def stage_table(stages: "list[StageManifest]") -> Table:
    """`harness list`: id, title, the fix, number of services."""
    table = Table("#", "id", "title", "fix", "services")
    for stage in stages:
        table.add_row(str(stage.order), stage.id, stage.title, stage.fix, str(len(stage.services)))
    return table


def mechanism_table(results: "list[StageVerification]") -> Table:
    table = Table("stage", "endpoint", "hops/req", "DB sessions/req", "statements/req", "loop blocked",
                  title="mechanism counters (per request, sequential calls; loop blocked: a /healthz's wait "
                  "beside 8 concurrent dashboards, as a share of their time)")
    for result in results:
        for c in result.counters:
            statements = "n/a" if c.statements is None else f"{c.statements:g}"
            blocked = "" if c.blocked is None else f"{c.blocked:.2f}"
            table.add_row(result.stage.id, c.endpoint, f"{c.hops:g}", f"{c.db_sessions:g}", statements, blocked)
        table.add_section()
    return table


class RichProgress:
    """Stage i/n, phase, time left; one line per finished stage."""

    def __init__(self) -> None:
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(),
                            console=console, transient=True)
        self.task = self.bar.add_task("starting", total=None)
        self.prefix = ""

    def __enter__(self) -> "RichProgress":
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def stage(self, index: int, total: int, stage_id: str) -> None:
        self.prefix = f"stage {index}/{total} {stage_id}"

    def phase(self, name: str, seconds_left: float | None = None) -> None:
        text = f"{self.prefix} — {name}" + (f" ({seconds_left:.0f} s left)" if seconds_left else "")
        self.bar.update(self.task, description=text)

    def stage_done(self, stage_id: str, row: dict[str, Any] | None, error: str | None) -> None:
        if row is None:
            # StageFailed messages lead with the stage id (they also stand alone in stage.json and logs);
            # the line already names the stage, so it is not printed twice.
            reason = (error or "").removeprefix(f"{stage_id}: ")
            console.print(f"[red]✗ {stage_id}[/]: {reason}", highlight=False, soft_wrap=True)
        else:
            before = int(row.get("failures_before_window") or 0)
            speed = row.get("host_speed", float("nan"))
            p95 = f"p95 {row['p95_ms']:,.0f} ms" if row["p95_ms"] == row["p95_ms"] else "no request answered"
            console.print(f"[green]✓ {stage_id}[/]: {row['rps']:,.0f} req/s, {p95}, "
                          + f"bound by {row.get('bound_by', '?')} ({waiting.bound_note(row)}), "
                          + open_note(row)
                          + f"{int(row['failures'])} failures" + (f" (+{before} before the window)" if before else "")
                          + (f"; host speed {speed:,.0f} units/s" if speed == speed else "")
                          + network_note(row) + restart_note(row), highlight=False, soft_wrap=True)


def restart_note(row: dict[str, Any]) -> str:
    """'; PostgreSQL restarted in the window (down 2.3 s): its failures are in the figures'."""
    restarts = row.get("db_restarts") or 0
    if not restarts or restarts != restarts:
        return ""
    times = "once" if restarts == 1 else f"{int(restarts)} times"
    return (f"; [yellow]PostgreSQL restarted {times} in the window (down {row.get('db_down_s', 0):.1f} s)[/]: "
            "the requests it could not answer are in the failures")


def open_note(row: dict[str, Any]) -> str:
    """'of 150 offered (149 sent, 0 late, 0 unanswered), ' for a measurement of the open model."""
    offered = row.get("offered_rps")
    if not offered or offered != offered:
        return ""
    note = (f"of {offered:,.0f} offered ({row['sent_rps']:,.0f} sent, {int(row['late_starts'])} late starts, "
            f"{int(row.get('dropped', 0))} dropped, {int(row['unanswered'])} unanswered)")
    return note + (", " if row.get("rate_held", True) else " [red]— NOT OFFERED THE RATE[/], ")


def network_note(row: "dict[str, Any] | pd.Series") -> str:
    """'; wire 1 ms asked, 1.02 added (1.12 through it), 9 % CPU, 31 round trips/req' (flagged when not held)."""
    rtt = row.get("rtt_ms", 0.0)
    added, through = row.get("net_added_ms", float("nan")), row.get("net_rtt_ms", float("nan"))
    if not rtt and through == through:  # no wire: the real network between the tiers, as probed
        return f"; real network between the tiers {through:.2f} ms RTT ({added:.2f} over loopback)"
    if not rtt or rtt != rtt:
        return ""
    trips = (row.get("db_rtts_per_req", 0.0) or 0.0) + (row.get("hop_rtts_per_req", 0.0) or 0.0)
    note = (f"; wire {rtt:g} ms asked, {added:.2f} added ({through:.2f} through it), "
            f"{row.get('net_cpu_pct', 0.0):.0f} % CPU, {trips:.0f} round trips/req")
    return note if bool(row.get("net_held", True)) else note + " [red]— NOT HELD: not comparable[/]"


def summary_table(run_dir: "Path") -> Table:
    from harness.reporting.analysis import read_summary
    summary = read_summary(run_dir)
    table = Table("stage", "status", "req/s", "p50 ms", "p95 ms", "p99 ms", "failures", "CPU-s/1k",
                  "gen CPU %", "bound by", "hops", "DB sess.", "stmts", "RTT ms", "RTTs/req",
                  title=f"results/{run_dir.name}")
    for _, r in summary.iterrows():
        def f(v: Any, d: int = 0) -> str:
            return "" if v != v else f"{v:,.{d}f}"  # NaN-safe
        before = r.get("failures_before_window", 0)
        failures = f(r["failures"]) + (f" (+{before:,.0f} before)" if before == before and before > 0 else "")
        table.add_row(r["stage"], r["status"], f(r["rps"]), f(r["p50_ms"]), f(r["p95_ms"]), f(r["p99_ms"]),
                      failures, f(r["cpu_s_per_1k"], 2), f(r["gen_cpu_pct"]),
                      r["bound_by"] if isinstance(r.get("bound_by"), str) else "",
                      f(r["hops_per_req"], 1),
                      f(r["db_sessions_per_req"], 2), f(r["statements_per_req"], 1), rtt_cell(r),
                      f(r.get("db_rtts_per_req", float("nan")) + r.get("hop_rtts_per_req", float("nan"))))
    return table


def run_ended(run_dir: "Path") -> bool:
    """run-all's summary table and where its results are; whether every stage measured (the run's
    own status in run.json, read through the upgrade, as every reader of a run reads it)."""
    from harness.reporting.compare import variant_answers
    from harness.run_folder import load_run
    console.print(summary_table(run_dir))
    for answer in variant_answers(run_dir):  # a service's run: each variant against the base, the answer first
        for line in answer_lines(answer):
            console.print(line, highlight=False, soft_wrap=True)
    console.print(f"results: {run_dir}/ (summary.csv, report.md, ladder.png)", highlight=False)
    return load_run(run_dir).get("status") == "complete"


def rtt_cell(r: "pd.Series") -> str:
    """'1→1.02' (asked→added), '1→1.4 !' when the wire did not hold it, 'real 0.09' (as probed, no
    wire), '0' on loopback."""
    rtt, through = r.get("rtt_ms", 0.0), r.get("net_rtt_ms", float("nan"))
    if not rtt and through == through:
        return f"real {through:.2f}"
    if not rtt or rtt != rtt:
        return "0"
    return f"{rtt:g}→{r.get('net_added_ms', float('nan')):.2f}" + ("" if bool(r.get("net_held", True)) else " !")


def describe_plan(plan: "RunPlan") -> None:
    budget, shape, network = plan.budget.as_record(), plan.shape, plan.network
    console.print(f"backend [bold]{plan.backend.name}[/]; server CPUs {budget['server_cpus']}, "
                  f"load CPUs {budget['load_cpus']}; "
                  + (f"{shape.rate:g} req/s offered (open model, a pool of {shape.users} users), " if shape.rate
                     else f"{shape.users} users, ")
                  + f"{shape.warmup:g} s warm-up, {shape.duration:g} s measured per stage; "
                  + (f"{network.rtt_ms:g} ms RTT between the tiers" if network.on
                     else "the overlay between the tiers, its RTT probed" if entry_of(plan.backend).real_network
                     else "loopback between the tiers")
                  + (f", {shape.processes} locust processes" if shape.processes > 1 else "")
                  + ("; each stage also profiled (py-spy)" if plan.profiled else "")
                  + ("; then every stage under the same arrivals (open model)" if plan.same_traffic is not None
                     else ""), highlight=False)
    if getattr(plan.subject, "service", None) is not None:
        # a service's variants run on the interpreter their requires-python picks, each its own
        console.print("each variant runs on the interpreter its requires-python picks (pyenv's and uv's too, when "
                      "none on PATH fits), named below as its environment is ready, in run.json and in the report's "
                      "table of variants", style="dim", highlight=False)
    elif entry_of(plan.backend).this_interpreter:
        from harness import interpreter
        record = interpreter.this_interpreter()
        note = interpreter.different_build_note(record)
        console.print(note or f"services run on {interpreter.summary(record)}", style="yellow" if note else "dim",
                      highlight=False)


def verified(result: "StageVerification") -> None:
    """verify's line per stage, and its problems under it."""
    mark = "[green]ok[/]" if not result.problems else "[red]FAILED[/]"
    fuzzed = f" (fuzz: {result.fuzz.summary})" if result.fuzz is not None else ""
    console.print(f"{result.stage.id}: {mark}{fuzzed}", highlight=False)
    for problem in result.problems:
        console.print(f"  - {problem}", highlight=False)


def compare_lines(rows: "list[StageComparison]", run_a: "Path", run_b: "Path", differences: list[str]) -> list[Any]:
    """compare's answer first, then its table and notes."""
    from rich.markup import escape

    from harness.reporting.compare import GENERATOR_BOUND, NETWORK_NOT_HELD, compare_answer
    lines: list[Any] = list(answer_lines(compare_answer(rows, run_a, run_b)))
    table = Table("stage", "change (B vs A)", "interval", "call", "req/s A", "req/s B", "p95 A ms", "p95 B ms",
                  title=f"{run_b.name} vs {run_a.name}")
    for r in rows:
        judged = r.changes[0]
        low, high = judged.interval_pct
        known = judged.ratio == judged.ratio
        table.add_row(r.stage, f"{judged.figure.label} {judged.change_pct:+.1f} %" if known else judged.figure.label,
                      escape(f"[{low:+.1f}, {high:+.1f}]") if known else f"{judged.n} window(s) a side",
                      r.verdict, f"{r.rps_a:,.1f}", f"{r.rps_b:,.1f}", f"{r.p95_a:,.0f}", f"{r.p95_b:,.0f}")
    lines.append(table)
    if differences:
        lines.append(f"[yellow]measured under different conditions:[/] {escape('; '.join(differences))}")
    if bound := [r.stage for r in rows if r.verdict == GENERATOR_BOUND]:
        lines.append(f"not called: {', '.join(bound)} (the load generator was saturated, so locust set "
                     "those numbers, not the stack)")
    if unheld := [r.stage for r in rows if r.verdict == NETWORK_NOT_HELD]:
        lines.append(f"not called: {', '.join(unheld)} (the network emulator did not hold its RTT, so it set "
                     "those numbers, not the stack)")
    return lines


def answer_lines(answer: "Answer") -> list[str]:
    """The answer first (harness.reporting.answer), its Markdown emphasis as the terminal's bold."""
    from rich.markup import escape
    out = []
    for line in answer.lines():
        parts = escape(line).split("**")
        out.append("".join(f"[bold]{p}[/]" if i % 2 else p for i, p in enumerate(parts)))
    return out


def cleanup_lines(found: "Leftovers") -> list[str]:
    """What `harness cleanup` removed, by kind, and what it left alone."""
    lines = []
    for kind, items in found.removed().items():
        if items:
            lines += [f"{kind}: {len(items)}", *(f"  {item}" for item in items)]
    lines += found.notes
    if found.live_owners:
        pids = sorted({int(token.split("-")[0]) for token in found.live_owners})
        lines.append(f"left alone: what live processes {', '.join(map(str, pids))} are running")
    if not any(found.removed().values()):
        lines.append("nothing left behind")
    return lines


def verify_outcome(outcome: "LadderVerification", calls: int) -> bool:
    """verify's counters, differences and verdict; whether every stage behaved identically."""
    if calls:
        console.print(mechanism_table(outcome.stages))
    for difference in outcome.differences:
        console.print(f"[red]difference:[/] {difference}", highlight=False)
    if outcome.ok:
        console.print(f"[green]verify: {len(outcome.stages)} stage(s) behave identically[/]")
    return outcome.ok
