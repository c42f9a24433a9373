"""The report's section on a --profile run: where each stage's CPU goes, by layer and function,
what each step removed and added, and what the profiler cost (from layers.csv, functions.csv
and profiles.csv)."""

from pathlib import Path

import pandas as pd

from harness.reporting.layers import POSTGRES, ordered
from harness.reporting.layers import PY_SPY_NOTE as METHOD
from harness.reporting.tables import markdown

OFF_ABOVE_PCT = 3.0  # a profiler that costs more stays off by default (issue 17)


def _ms(value: float) -> str:
    return f"{value:.2f} ms" if abs(value) < 10 else f"{value:.1f} ms"


def _moves(before: pd.Series, after: pd.Series, n: int = 3, floor_ms: float = 0.05) -> tuple[list[str], list[str]]:
    """The `n` largest falls and rises between two stages (ms per request), each above `floor_ms`."""
    delta = after.sub(before, fill_value=0.0)  # a name on one side only moved from or to 0
    delta = delta[delta.abs() >= floor_ms]
    removed = [f"{name} −{_ms(-d)}" for name, d in delta.sort_values().head(n).items() if d < 0]
    added = [f"{name} +{_ms(d)}" for name, d in delta.sort_values(ascending=False).head(n).items() if d > 0]
    return removed, added


ProfileTables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]  # layers, functions, profiles


def _by_stage(tables: ProfileTables) -> tuple[pd.DataFrame, list[str]]:
    """CPU ms per request, layer × stage in the profiled stages' order, and that order."""
    layers, _, profiles = tables
    by_stage = layers.pivot_table(index="layer", columns="stage", values="cpu_ms_per_req", sort=False).fillna(0.0)
    stages = [s for s in profiles["stage"] if s in by_stage.columns]
    return by_stage.reindex(ordered(list(by_stage.index), by_stage.sum(axis=1).to_dict()))[stages], stages


def step_layer_moves(tables: ProfileTables | None) -> dict[tuple[str, str], str]:
    """Per pair of neighbouring profiled stages, the layers the step removed and added (empty when
    the run was not profiled): what the report's step-by-step text quotes."""
    if tables is None:
        return {}
    by_stage, stages = _by_stage(tables)
    moves = {}
    for before, after in zip(stages, stages[1:], strict=False):
        removed, added = _moves(by_stage[before], by_stage[after])
        moves[(before, after)] = (f"CPU per request by layer {_ms(by_stage[before].sum())} → "
                                  f"{_ms(by_stage[after].sum())}; removed {', '.join(removed) or 'none'}"
                                  + (f"; added {', '.join(added)}" if added else ""))
    return moves


def profile_lines(run_dir: Path, tables: ProfileTables | None) -> list[str]:
    """The report's section on the profile (`tables`: the run's, read by read_profile_tables)."""
    if tables is None:
        return []
    _, functions, profiles = tables
    by_stage, stages = _by_stage(tables)
    lines = ["## Where the time goes (profiled)", ""]
    if (run_dir / "layers.png").is_file():
        lines += ["![CPU per request by layer](layers.png)", ""]
    lines += [METHOD, ""]
    table = by_stage.copy()
    table.loc["**total**"] = by_stage.sum()
    lines += ["CPU per request (ms) by layer:", "", markdown(table.reset_index()), ""]
    cost = profiles[["stage", "layers_ms_per_req", "window_ms_per_req", "sample_ratio", "profiler_cpu_pct", "rps",
                     "rps_profiled", "overhead_pct", "overhead_pairs"]].rename(columns={
                         "layers_ms_per_req": "layers' sum ms/req", "window_ms_per_req": "window's CPU ms/req",
                         "sample_ratio": "raw samples / CPU",
                         "profiler_cpu_pct": "py-spy CPU % (load CPUs)", "rps": "req/s without",
                         "rps_profiled": "req/s with", "overhead_pct": "overhead %",
                         "overhead_pairs": "per repeat %"})
    gap = (profiles["layers_ms_per_req"] / profiles["window_ms_per_req"] - 1).abs().max() * 100
    lines += ["What the profile saw and what it cost: the layers' sum against the server CPU per request the "
              f"profiled window measured (apart by at most {gap:.1f} %; the shares are applied to the window's own "
              "reading of each service's CPU, and with repeats each is a median), and the same stage measured "
              "without and with py-spy, one after the other (positive overhead: slower with it).", "",
              markdown(cost), ""]
    overhead = profiles["overhead_pct"].dropna()
    if not overhead.empty:
        measured = (f"**Profiler overhead**: median {overhead.median():+.1f} % throughput over {len(overhead)} "
                    f"stage(s) (range {overhead.min():+.1f} … {overhead.max():+.1f} %")
        lines += [measured + ("; each stage's figure is the median of its repeats' pairs, a plain and a profiled "
                              f"measurement one after the other). Above the {OFF_ABOVE_PCT:g} % a profiler may "
                              "cost to be on by default: profiling stays off unless asked for (`--profile`), and "
                              "the ladder's own figures always come from the plain measurements."
                              if overhead.median() > OFF_ABOVE_PCT else
                              "). The ladder's own figures always come from the plain measurements."), ""]
    if len(stages) >= 2:
        lines += ["### What each step removed and added", ""]
        for before, after in zip(stages, stages[1:], strict=False):
            removed, added = _moves(by_stage[before], by_stage[after])
            fb = functions[functions["stage"] == before].set_index("function")["cpu_ms_per_req"]
            fa = functions[functions["stage"] == after].set_index("function")["cpu_ms_per_req"]
            f_removed, f_added = _moves(fb.groupby(level=0).sum(), fa.groupby(level=0).sum())
            total = by_stage[after].sum() - by_stage[before].sum()
            lines += [f"- **{before} → {after}** ({'+' if total >= 0 else '−'}{_ms(abs(total))} per request): "
                      f"layers removed {', '.join(removed) or 'none'}; added {', '.join(added) or 'none'}. "
                      f"Functions removed: {', '.join(f_removed) or 'none'}; added: {', '.join(f_added) or 'none'}."]
        lines.append("")
    last = stages[-1]
    column = by_stage[last].sort_values(ascending=False)
    total = column.sum()
    top = functions[functions["stage"] == last]
    parts = []
    for layer, ms in column.items():
        if ms <= 0 or ms / total < 0.03:
            continue
        first = top[top["layer"] == layer].head(1)
        hot = f" (hottest: `{first['function'].iloc[0]}` {_ms(first['cpu_ms_per_req'].iloc[0])})" \
            if not first.empty and layer != POSTGRES else ""
        parts.append(f"{layer} {_ms(ms)} ({100 * ms / total:.0f} %){hot}")
    lines += [f"**Where {last}'s {_ms(total)} per request go**: " + "; ".join(parts) + ".", ""]
    return lines
