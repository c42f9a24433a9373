"""Charts drawn from a results folder's tables (never from a live run)."""

import math
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from harness.kinds import Kind, stage_of  # noqa: E402
from harness.reporting.analysis import beyond_case_study, open_model_rows, ratios, read_summary, side_rows  # noqa: E402
from harness.reporting.layers import ordered, read_profile_tables  # noqa: E402
from harness.reporting.png import save_chart  # noqa: E402
from harness.run_folder import load_run  # noqa: E402

# The case study's figures, drawn as references
ARTICLE_RPS = (180, 1300)
ARTICLE_P95_MS = (4000, 200)
ARTICLE_SPEEDUP = ARTICLE_RPS[1] / ARTICLE_RPS[0]
ARTICLE_P95_REDUCTION = ARTICLE_P95_MS[0] / ARTICLE_P95_MS[1]


def _short(stage: str) -> str:
    return stage.replace("-", "\n", 1)


def _id(name: str) -> str:
    """A ladder stage's id (s4 of s4-queries); any other name (a service's variant) whole."""
    head, _, rest = name.partition("-")
    return head if rest and re.fullmatch(r"s\d+", head) else name


def _ticks(stages: "pd.Series[str] | pd.Index[str]", room: int = 6) -> list[str]:
    """Tick labels under narrow bars: the names while `room` of them fit, else the ids (s0, s1, …)."""
    names = [str(s) for s in stages]
    return [_short(s) for s in names] if len(names) <= room else [_id(s) for s in names]


def _plain(value: float) -> str:
    """A tick as a person writes it: 0.4, 2, 300, 12,000 (never 4×10⁻¹)."""
    if value <= 0:
        return ""
    return f"{value:,.0f}" if value >= 1 else f"{value:.2g}"


def plain_log(axis: Axis) -> None:
    """A log axis with plain numbers: every decade, and 2 and 5 between them (so a narrow range
    still has labels), none in e-notation."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: _plain(v)))

    def minor(value: float, _: object) -> str:
        lead = value / 10 ** math.floor(math.log10(value)) if value > 0 else 0
        return _plain(value) if round(lead) in (2, 5) and abs(lead - round(lead)) < 1e-6 else ""
    axis.set_minor_formatter(FuncFormatter(minor))


def case_study_end(data: pd.DataFrame) -> int | None:
    """Position of the first rung beyond the case study among `data`'s rows, if the run has one
    after a case-study stage."""
    beyond = list(beyond_case_study(data))
    if not any(beyond) or all(beyond):
        return None
    return beyond.index(True)


def mark_case_study_end(ax: Axes, data: pd.DataFrame) -> None:
    """A dashed divider between the case study's last stage and the first rung of our own."""
    first = case_study_end(data)
    if first is None:
        return
    ax.axvline(first - 0.5, color="#555555", linestyle=":", linewidth=1.2)
    ax.annotate("case study ends  |  beyond →", (first - 0.5, 1.0), xycoords=("data", "axes fraction"),
                xytext=(0, -12), textcoords="offset points", ha="center", fontsize=8, color="#555555")


def ladder_chart(summary: pd.DataFrame, path: Path, subtitle: str = "", article: bool = True) -> None:
    """The headline: throughput bars and p95 per step, and both as ratios to the baseline (with
    the case study's own ratios marked, unless `article` is off: a service of your own)."""
    data = ratios(summary)
    # wider with every stage past six, so the stage names under the bars stay apart
    fig, (ax, ax_ratio) = plt.subplots(1, 2, figsize=(13 + 1.6 * max(0, len(data) - 6), 5),
                                       gridspec_kw={"width_ratios": [3, 2]})
    labels = [_short(s) for s in data["stage"]]
    spread = None
    if "rps_min" in data and data["repeats"].max() > 1:  # min..max over repeats
        spread = [data["rps"] - data["rps_min"], data["rps_max"] - data["rps"]]
    bars = ax.bar(labels, data["rps"], color="#4C78A8", yerr=spread, capsize=4, ecolor="#333333")
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in data["rps"]], fontsize=9)
    ax.set_ylabel("throughput (req/s)", color="#4C78A8")
    ax.set_title("Throughput and p95 per step, same load and CPU budget")
    p95 = ax.twinx()
    p95.plot(labels, data["p95_ms"], color="#E45756", marker="o", linewidth=2)
    if spread is not None:
        p95.vlines(labels, data["p95_min"], data["p95_max"], color="#E45756", linewidth=1)
    for x, y in zip(labels, data["p95_ms"], strict=True):
        p95.annotate(f"{y:,.0f} ms", (x, y), textcoords="offset points", xytext=(0, 8),
                     ha="center", fontsize=8, color="#E45756")
    p95.set_yscale("log")
    plain_log(p95.yaxis)
    p95.set_ylabel("p95 latency (ms, log)", color="#E45756")
    mark_case_study_end(ax, data)
    if subtitle:
        fig.suptitle(subtitle, fontsize=9, y=0.99)

    steps = list(range(len(data)))
    ax_ratio.plot(steps, data["speedup_vs_baseline"], marker="o", label="throughput × baseline")
    ax_ratio.plot(steps, data["p95_reduction_vs_baseline"], marker="s", label="p95 ÷ baseline")
    if article:
        ax_ratio.axhline(ARTICLE_SPEEDUP, color="#4C78A8", linestyle="--", linewidth=1,
                         label=f"article: {ARTICLE_RPS[0]}→{ARTICLE_RPS[1]} req/s ({ARTICLE_SPEEDUP:.1f}×)")
        ax_ratio.axhline(ARTICLE_P95_REDUCTION, color="#E45756", linestyle="--", linewidth=1,
                         label=f"article: p95 >{ARTICLE_P95_MS[0] / 1000:.0f} s→<{ARTICLE_P95_MS[1]} ms "
                               f"({ARTICLE_P95_REDUCTION:.0f}×)")
    ax_ratio.set_xticks(steps, _ticks(data["stage"], room=0))  # a narrow panel: always the ids
    mark_case_study_end(ax_ratio, data)
    ax_ratio.set_yscale("log")
    plain_log(ax_ratio.yaxis)
    ax_ratio.set_title("Improvement over the baseline (log)" if article else "Against the base (log)")
    ax_ratio.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    save_chart(fig, path)
    plt.close(fig)


def latency_chart(summary: pd.DataFrame, path: Path) -> None:
    data = summary[(summary["status"] == "ok") & ~side_rows(summary)]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.27
    xs = range(len(data))
    for i, (col, color) in enumerate((("p50_ms", "#72B7B2"), ("p95_ms", "#E45756"), ("p99_ms", "#B279A2"))):
        ax.bar([x + (i - 1) * width for x in xs], data[col], width, label=col.replace("_ms", ""), color=color)
    ax.set_xticks(list(xs), [_short(s) for s in data["stage"]])
    ax.set_yscale("log")
    plain_log(ax.yaxis)
    ax.set_ylabel("latency (ms, log)")
    ax.set_title("Latency percentiles per stage (exact, from every request in the window)")
    ax.legend()
    fig.tight_layout()
    save_chart(fig, path)
    plt.close(fig)


def mechanisms_chart(summary: pd.DataFrame, path: Path) -> None:
    data = summary[(summary["status"] == "ok") & ~side_rows(summary)]
    panels: tuple[tuple[str, str], ...] = (
        ("hops_per_req", "internal hops / request"), ("db_sessions_per_req", "DB sessions opened / request"),
        ("statements_per_req", "SQL statements / request"), ("cpu_s_per_1k", "server CPU-s / 1,000 requests"))
    if "wait_ms_per_req" in data and data["wait_ms_per_req"].notna().any():
        # the network's side: round trips crossed × RTT (harness.network)
        panels += (("wait_ms_per_req", "network wait ms / request"),)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.2))
    labels = _ticks(data["stage"])
    for ax, (col, title) in zip(axes, panels, strict=True):
        bars = ax.bar(labels, data[col], color="#54A24B")
        ax.bar_label(bars, labels=[f"{v:.2g}" for v in data[col]], fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle("Mechanisms: what each fix removed (measured under load)")
    fig.tight_layout()
    save_chart(fig, path)
    plt.close(fig)


def same_traffic_chart(summary: pd.DataFrame, path: Path, article: bool = True) -> None:
    """Open model: p95 per step at one offered rate, from each request's due time, with the case
    study's 4 s and 200 ms marked (unless `article` is off); a stage not offered the rate is drawn
    hatched."""
    data = open_model_rows(summary)
    fig, ax = plt.subplots(figsize=(9, 4.8))
    labels = [_short(stage_of(s, Kind.SAME_TRAFFIC)) for s in data["stage"]]
    held = data["rate_held"].fillna(True).astype(bool)
    # a stage that answered nothing due in the window has no p95: drawn at the 4 s mark, labelled
    heights = data["p95_ms"].fillna(ARTICLE_P95_MS[0])
    bars = ax.bar(labels, heights, color=["#E45756" if h else "#BBBBBB" for h in held])
    for bar, h in zip(bars, held, strict=True):
        if not h:
            bar.set_hatch("//")
    ax.bar_label(bars, labels=[f"{v:,.0f} ms" if v == v else "none answered" for v in data["p95_ms"]], fontsize=8)
    marks = ((ARTICLE_P95_MS[0], "case study before: > 4 s"), (ARTICLE_P95_MS[1], "after: < 200 ms"))
    for ms, text in marks if article else ():
        ax.axhline(ms, color="#333333", linestyle="--", linewidth=1)
        ax.annotate(text, (len(labels) - 0.5, ms), textcoords="offset points", xytext=(0, 3), ha="right",
                    fontsize=8)
    mark_case_study_end(ax, data.reset_index(drop=True))
    ax.set_yscale("log")
    plain_log(ax.yaxis)
    ax.set_ylabel("p95 from the due time (ms, log)")
    rate = data["offered_rps"].iloc[0] if len(data) else float("nan")
    ax.set_title(f"Same traffic: every stage offered {rate:,.0f} req/s (hatched: could not be offered it)")
    fig.tight_layout()
    save_chart(fig, path)
    plt.close(fig)


def draw_all(run_dir: Path, subtitle: str = "", suffix: str = ".png", into: Path | None = None) -> list[Path]:
    """Every chart the run's tables give, as `<name><suffix>` (PNG, or SVG for the HTML report)
    in `into` (default: the run's folder)."""
    summary = read_summary(run_dir)
    if (summary["status"] == "ok").sum() == 0:
        return []
    into = into or run_dir
    article = not (load_run(run_dir).get("service") if (run_dir / "run.json").is_file() else None)
    ladder_chart(summary, into / f"ladder{suffix}", subtitle, article)
    latency_chart(summary, into / f"latency{suffix}")
    mechanisms_chart(summary, into / f"mechanisms{suffix}")
    drawn = [into / f"{name}{suffix}" for name in ("ladder", "latency", "mechanisms")]
    if not open_model_rows(summary).empty:
        same_traffic_chart(summary, into / f"same_traffic{suffix}", article)
        drawn.append(into / f"same_traffic{suffix}")
    if (profiled := read_profile_tables(run_dir)) is not None:
        layers_chart(profiled[0], into / f"layers{suffix}")
        drawn.append(into / f"layers{suffix}")
    return drawn


LAYER_COLOURS = ["#4C78A8", "#F58518", "#E45756", "#72B7B2", "#54A24B", "#EECA3B", "#B279A2", "#FF9DA6",
                 "#9D755D", "#BAB0AC", "#D3D3D3", "#1F3A5F"]


def layer_colours(layers: list[str]) -> dict[str, str]:
    """Each layer's colour, by its place among the run's layers in their order (harness.reporting.layers.ordered):
    the same in the layer chart and every stage's flame graph."""
    return dict(zip(layers, LAYER_COLOURS * (1 + len(layers) // len(LAYER_COLOURS)), strict=False))


def layer_table(layers: pd.DataFrame) -> pd.DataFrame:
    """layers.csv as stage × layer (CPU ms per request), the layers in the order every chart shows them."""
    table = layers.pivot_table(index="stage", columns="layer", values="cpu_ms_per_req", sort=False).fillna(0.0)
    return table[ordered(list(table.columns), table.sum().to_dict())]


def layers_chart(layers: pd.DataFrame, path: Path) -> None:
    """CPU per request by layer, stacked per stage (from a --profile run's layers.csv): in ms on
    the left, as shares of each stage's CPU on the right (the optimized stage's bar is a sliver
    beside the baseline's in ms)."""
    table = layer_table(layers)
    shares = table.div(table.sum(axis=1).where(lambda t: t > 0), axis=0).fillna(0.0) * 100
    fig, (ax, ax_share) = plt.subplots(1, 2, figsize=(13, 5.5))
    labels = _ticks(table.index)
    colours = layer_colours(list(table.columns))
    for axis, data in ((ax, table), (ax_share, shares)):
        bottom = pd.Series(0.0, index=data.index)
        for layer in data.columns:
            colour = colours[layer]
            axis.bar(labels, data[layer], bottom=bottom, label=layer, color=colour, edgecolor="white", linewidth=0.5)
            bottom += data[layer]
    for x, total in zip(labels, table.sum(axis=1), strict=True):
        ax.annotate(f"{total:.1f} ms", (x, total), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=8)
    ax.set_ylabel("server CPU per request (ms)")
    ax.set_title("CPU per request by layer")
    ax_share.set_ylabel("share of the stage's CPU (%)")
    ax_share.set_title("Shares")
    ax_share.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("Where each stage's CPU goes: py-spy's samples by layer, scaled to the CPU measured per service",
                 fontsize=10)
    fig.tight_layout()
    save_chart(fig, path)
    plt.close(fig)
