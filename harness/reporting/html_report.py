"""report.html: the run's report as one self-contained page, from the same derived files as
report.md (and written with it).

The page is report.md rendered (markdown-it, which rich already brings), with every chart drawn
again as inline SVG (its text kept as text) and the values it shows in a table under it, each
stage's verdict with its evidence folded open on demand, and with --profile a flame graph per
stage. Nothing in it is fetched: no script, no stylesheet, no font, no image from anywhere — the
file opens offline, and a browser makes no request for it.

Why the flame graphs are drawn here: the usual flame graph libraries (d3-flame-graph,
speedscope) are JavaScript applications loaded from a CDN or bundled at hundreds of kilobytes;
a flame is a few hundred rectangles, which SVG draws without a script, coloured by the same layers
as the layer chart (plots.layer_colours), each with its value on hover (<title>).
"""

from __future__ import annotations

import html
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from markdown_it import MarkdownIt

from harness.measure.waiting import evidence
from harness.reporting.analysis import open_model_rows, read_summary, side_rows
from harness.reporting.flames import differential, grown_frames, read_flames
from harness.reporting.layers import read_profile_tables
from harness.reporting.plots import draw_all, ladder_chart, layer_colours, layer_table
from harness.reporting.report import render
from harness.run_folder import load_run

REPORT_HTML = "report.html"
STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1240px;margin:2em auto;
padding:0 1em;color:#222}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:.5em 0 1.2em;display:block;overflow-x:auto;max-width:100%}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:right}th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}
details{margin:.3em 0}summary{cursor:pointer}
code{background:#f4f4f4;padding:0 3px}.flame text{font:11px system-ui,sans-serif;pointer-events:none}
.flame rect{stroke:#fff;stroke-width:.5}.muted{color:#666}
"""
# the values each chart shows, as the table under it
CHART_VALUES = {
    "ladder": ["stage", "rps", "p95_ms", "cpu_s_per_1k", "bound_by"],
    "latency": ["stage", "p50_ms", "p95_ms", "p99_ms"],
    "mechanisms": ["stage", "hops_per_req", "db_sessions_per_req", "statements_per_req", "cpu_s_per_1k",
                   "wait_ms_per_req"],
    "same_traffic": ["stage", "offered_rps", "sent_rps", "p95_ms", "failures", "rate_held"],
}
FLAME_WIDTH, ROW = 1200, 17


def _svg(path: Path) -> str:
    """An SVG file as inline markup (no XML declaration or doctype)."""
    text = path.read_text()
    return text[text.index("<svg"):]


def _table(frame: pd.DataFrame) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return "" if value != value else f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return html.escape(str(value))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _chart_values(name: str, summary: pd.DataFrame, run_dir: Path) -> str:
    ok = summary[summary["status"] == "ok"]
    if name == "layers":
        tables = read_profile_tables(run_dir)
        return "" if tables is None else _table(layer_table(tables[0]).T.rename_axis("layer").reset_index())
    rows = open_model_rows(summary) if name == "same_traffic" else ok[~side_rows(ok)]
    columns = [c for c in CHART_VALUES.get(name, ["stage"]) if c in rows]
    return _table(rows[columns]) if columns else ""


def verdict_details(summary: pd.DataFrame) -> str:
    """Each measured stage's verdict, its evidence folded open on demand."""
    parts = ["<h2>Verdicts</h2><p class=muted>What set each number, from measurements the stage's code "
             "cannot bend; open a stage for its evidence.</p>"]
    for _, row in summary[summary["status"] == "ok"].iterrows():
        said = evidence(dict(row)) if row.get("bound_by") == "waiting" else (
            f"budget {row.get('server_busy_pct', float('nan')):.0f} % busy, generator "
            f"{row.get('gen_cpu_pct', float('nan')):.0f} % of its CPU")
        parts.append(f"<details><summary><b>{html.escape(str(row['stage']))}</b>: {row['rps']:,.1f} req/s, "
                     f"p95 {row['p95_ms']:,.0f} ms, bound by <b>{html.escape(str(row['bound_by']))}</b></summary>"
                     f"<p>{html.escape(said)}</p></details>")
    return "\n".join(parts)


def growth_colour(delta: float, scale: float) -> str:
    """A differential flame's colour: red as a frame grew, blue as it shrank, grey where it held."""
    share = max(-1.0, min(1.0, delta / scale)) if scale > 0 else 0.0
    if abs(share) < 0.02:
        return "#d9d9d9"
    strength = int(215 - 170 * abs(share))
    return f"rgb(230,{strength},{strength})" if share > 0 else f"rgb({strength},{strength},235)"


def flame_svg(stage: str, tree: dict[str, Any], colours: dict[str, str], differential: bool = False) -> str:
    """One stage's flame graph: the stage at the bottom, each call above its caller, widths in
    CPU ms per request; `differential`: coloured by each frame's growth against the base (`delta`)."""
    total = float(tree["value"]) or 1.0
    scale = max((abs(float(d)) for d in _deltas(tree)), default=0.0) if differential else 0.0
    rects: list[str] = []
    depth_seen = 0

    def draw(node: dict[str, Any], x: float, depth: int) -> None:
        nonlocal depth_seen
        depth_seen = max(depth_seen, depth)
        width = FLAME_WIDTH * float(node["value"]) / total
        name = html.escape(str(node["name"]))
        share = 100 * float(node["value"]) / total
        colour = growth_colour(float(node.get("delta", 0.0)), scale) if differential \
            else colours.get(str(node["layer"]), "#cccccc")
        grew = f'; {float(node["delta"]):+.3g} ms/request against the base' if differential else ""
        rects.append(f'<g><title>{name} — {node["value"]:.3g} ms/request ({share:.1f} %){grew}; '
                     f'{html.escape(str(node["layer"]))}</title><rect x="{x:.1f}" y="{{y{depth}}}" '
                     f'width="{width:.1f}" height="{ROW - 1}" fill="{colour}"/>'
                     + (f'<text x="{x + 3:.1f}" y="{{t{depth}}}">{name[: int(width / 6.5)]}</text>'
                        if width > 40 else "") + "</g>")
        child_x = x
        for child in node["children"]:
            draw(child, child_x, depth + 1)
            child_x += FLAME_WIDTH * float(child["value"]) / total
    draw(tree, 0.0, 0)
    height = (depth_seen + 1) * ROW
    body = "".join(rects)
    for depth in range(depth_seen + 1):  # the root at the bottom, as flame graphs stand
        body = body.replace(f"{{y{depth}}}", f"{height - (depth + 1) * ROW}").replace(
            f"{{t{depth}}}", f"{height - depth * ROW - 5}")
    return (f'<figure><svg class=flame xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {FLAME_WIDTH} {height}" '
            f'width="{FLAME_WIDTH}" height="{height}" role="img" aria-label="flame graph of {html.escape(stage)}">'
            f"{body}</svg><figcaption class=muted>{html.escape(stage)}: {total:.3g} ms of server CPU per request "
            "(PostgreSQL's not in it); hover a frame for its value</figcaption></figure>")


def _deltas(node: dict[str, Any]) -> list[float]:
    return [float(node.get("delta", 0.0)), *(d for c in node["children"] for d in _deltas(c))]


def differential_section(run_dir: Path) -> str:
    """A service run's differential flame graphs: each variant's flame against the base's, its
    frames coloured by how much they grew (red) or shrank (blue) per request, and the functions
    whose own CPU per request grew most."""
    flames = read_flames(run_dir)
    variants = [v["id"] for v in load_run(run_dir).get("variants", [])]
    if len(variants) < 2 or variants[0] not in flames:
        return ""
    base = flames[variants[0]]
    parts = ["<h2>What grew, against the base</h2><p class=muted>Each variant's flame graph with each frame "
             f"coloured by its growth in CPU per request against {html.escape(variants[0])}'s (frames matched by "
             "function and file along the call path): red grew, blue shrank, grey held. Widths are the "
             "variant's own CPU per request.</p>"]
    for variant in variants[1:]:
        if variant not in flames:
            continue
        grown = grown_frames(base, flames[variant])
        items = "".join(f"<li><code>{html.escape(name)}</code> {a:.3g} → {b:.3g} ms/request ({b - a:+.3g})</li>"
                        for name, a, b in grown)
        parts.append(f"<h3>{html.escape(variant)} against {html.escape(variants[0])}</h3>"
                     + flame_svg(variant, differential(base, flames[variant]), {}, differential=True)
                     + (f"<p>The functions whose own CPU per request grew most:</p><ul>{items}</ul>" if items else
                        "<p>No function's own CPU per request grew by 0.01 ms or more.</p>"))
    return "\n".join(parts)


def flames_section(run_dir: Path, colours: dict[str, str]) -> str:
    flames = read_flames(run_dir)
    if not flames:
        return ""
    parts = ["<h2>Flame graphs</h2><p class=muted>Each profiled stage's Python, by call stack: a frame's "
             "width is its CPU per request (each service's samples scaled to the CPU measured for it), its "
             "colour its layer, as in the layer chart. Calls under 0.5 % of the stage are left out.</p>"]
    parts += [f"<h3>{html.escape(stage)}</h3>{flame_svg(stage, tree, colours)}" for stage, tree in flames.items()]
    return "\n".join(parts)


def _with_charts(body: str, charts: dict[str, str], summary: pd.DataFrame, run_dir: Path) -> str:
    """report.md's image references replaced by the inline charts and their values."""
    def inline(match: re.Match[str]) -> str:
        name = Path(match.group(1)).stem
        if name not in charts:
            return ""
        return f"<figure>{charts[name]}{_chart_values(name, summary, run_dir)}</figure>"
    return re.sub(r'<img src="([^"]+\.png)"[^>]*>', inline, body)


def render_html(run_dir: Path) -> str:
    run = load_run(run_dir)
    summary = read_summary(run_dir)
    markdown = MarkdownIt("commonmark").enable("table").render(render(run_dir))
    with tempfile.TemporaryDirectory() as scratch:
        drawn = draw_all(run_dir, subtitle=run_dir.name, suffix=".svg", into=Path(scratch))
        charts = {path.stem: _svg(path) for path in drawn}
    tables = read_profile_tables(run_dir)
    colours = layer_colours(list(layer_table(tables[0]).columns)) if tables is not None else {}
    body = _with_charts(markdown, charts, summary, run_dir)
    # the verdicts after the summary table, the flames after the profile's section
    if "<h2>Summary</h2>" in body and not summary.empty:
        head, _, rest = body.partition("<h2>Summary</h2>")
        table_end = rest.find("</table>") + len("</table>")
        body = head + "<h2>Summary</h2>" + rest[:table_end] + verdict_details(summary) + rest[table_end:]
    body += flames_section(run_dir, colours)
    if run.get("service"):
        body += differential_section(run_dir)
    files = sorted(p.name for p in run_dir.glob("*.csv"))
    body += ("<h2>Data</h2><p>" + " · ".join(f'<a href="{html.escape(f)}">{html.escape(f)}</a>' for f in files)
             + "</p>") if files else ""
    title = html.escape(str(run.get("service", {}).get("name", "Scaling ladder")) + f" — {run_dir.name}")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
            f'content="width=device-width,initial-scale=1"><title>{title}</title><style>{STYLE}</style></head>'
            f"<body>{body}</body></html>\n")


def write_html_report(run_dir: Path) -> Path:
    path = run_dir / REPORT_HTML
    path.write_text(render_html(run_dir))
    return path


def compare_page(rows: list[Any], run_a: Path, run_b: Path, differences: list[str]) -> str:
    """`harness compare`'s page: the answer first, each stage's change with its interval and call,
    the conditions the runs differ in, and both runs' charts side by side."""
    from harness.reporting.compare import compare_answer
    table = pd.DataFrame([{"stage": r.stage, "figure": r.changes[0].figure.label,
                           "change %": r.changes[0].change_pct, "low %": r.changes[0].interval_pct[0],
                           "high %": r.changes[0].interval_pct[1], "call": r.verdict, "req/s A": r.rps_a,
                           "req/s B": r.rps_b, "p95 A ms": r.p95_a, "p95 B ms": r.p95_b} for r in rows])
    answer = compare_answer(rows, run_a, run_b)
    sides = []
    for run in dict.fromkeys([run_a, run_b]):
        summary = read_summary(run)
        with tempfile.TemporaryDirectory() as scratch:
            chart = Path(scratch) / "ladder.svg"
            if (summary["status"] == "ok").any():
                ladder_chart(summary, chart, run.name, article=not load_run(run).get("service"))
            ladder = _svg(chart) if chart.is_file() else ""
        sides.append(f"<div><h3>{html.escape(run.name)}</h3><figure>{ladder}</figure></div>")
    lines = answer.lines()
    first = html.escape(lines[0]).replace("**", "")
    body = (f"<h1>{html.escape(run_b.name)} against {html.escape(run_a.name)}</h1>"
            f"<p class=answer><strong>{first}</strong></p>"
            + ("<ul>" + "".join(f"<li>{html.escape(line[2:])}</li>" for line in lines[1:]) + "</ul>"
               if lines[1:] else "")
            + "<p>Each change is CPU per request (or the figure asked for) B/A with its confidence interval: "
            "slower or faster when the interval excludes no change and the change passes the threshold; no "
            "change larger than X % when the whole interval lies within it; not enough data under three windows "
            "a side. A generator-bound row or one whose network did not hold is shown, never called.</p>"
            + _table(table)
            + "<h2>Conditions</h2>"
            + ("<ul>" + "".join(f"<li>{html.escape(d)}</li>" for d in differences) + "</ul>" if differences
               else "<p>Measured under the same conditions (machine, backend, budget, load, network).</p>")
            + "<h2>Side by side</h2><div style='display:grid;grid-template-columns:1fr 1fr;gap:1em'>"
            + "".join(sides) + "</div>")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>compare {html.escape(run_a.name)} "
            f"{html.escape(run_b.name)}</title><style>{STYLE}</style></head><body>{body}</body></html>\n")


def write_compare_page(rows: list[Any], run_a: Path, stage_a: str | None, run_b: Path, stage_b: str | None,
                       differences: list[str]) -> Path:
    """The page beside B: compare-<A>[-<stage>].html."""
    name = "-".join(p for p in (run_a.name if run_a != run_b else "", stage_a or "", "to", stage_b or "") if p) \
        if (stage_a or stage_b) else run_a.name
    path = run_b / f"compare-{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}.html"
    path.write_text(compare_page(rows, run_a, run_b, differences))
    return path
