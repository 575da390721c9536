"""Plots (matplotlib, Agg): pass@1 against depth (with interval bands), pass@1 against tokens spent (refinement
against resampling at equal cost), pass@k against width, and one figure per grid axis of an ``ablate`` run.

One style for all (``STYLE``), the Okabe-Ito colour-blind-safe palette, PNG and SVG for each figure. The SVG is
reproducible: a fixed ``svg.hashsalt`` and no date in its metadata. Every point is taken from a report table's
cells, and each returned ``Figure`` holds the points read back from the drawn lines, so a test can compare them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semtrace.reports.load import Ablation, RunData
from semtrace.reports.model import Figure, Rate, Series, Table
from semtrace.reports.tables import knob_cell, knob_value

log = logging.getLogger(__name__)

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour-vision deficiencies
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
STYLE: dict[str, Any] = {
    "figure.figsize": (5.0, 3.4),
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "svg.hashsalt": "semtrace",
    "svg.fonttype": "path",
    "path.simplify": False,
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _rows(table: Table, label_cols: int) -> dict[str, list[tuple[Any, ...]]]:
    """The table's rows by group label (the first ``label_cols`` cells joined)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for row in table.rows:
        label = ", ".join(f"{c}" for c in row[:label_cols])
        out.setdefault(label, []).append(row)
    return out


def _labelled(table: Table, keys: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    n = max(1, len(keys))
    rows = _rows(table, n)
    if not keys:
        return rows
    return {", ".join(f"{k}={v}" for k, v in zip(keys, rs[0][:n])): rs for rs in rows.values()}


def _save(fig: Any, out_dir: Path, name: str) -> tuple[Path, ...]:
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    fig.savefig(png, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    return png, svg


def _drawn(ax: Any) -> tuple[Series, ...]:
    """The data of every labelled line on ``ax``, read back from matplotlib's artists, with its band (a
    ``fill_between`` collection or error bars, stored on the line by ``_plot``)."""
    out = []
    for line in ax.get_lines():
        label = line.get_label()
        if label.startswith("_"):
            continue
        lo, hi = getattr(line, "_st_band", ((), ()))
        ticks = getattr(line, "_st_ticks", None)
        xs = tuple(ticks[round(x)] if ticks else float(x) for x in line.get_xdata())
        out.append(Series(label, xs, tuple(float(y) for y in line.get_ydata()), tuple(lo), tuple(hi)))
    return tuple(out)


def _plot(ax: Any, i: int, label: str, xs: Sequence[float], rates: Sequence[Rate], *, style: str = "-",
          band: str | None = "fill", ticks: Sequence[Any] | None = None) -> None:
    """One line with markers; its 95% interval as a shaded band (``fill``) or error bars (``bars``)."""
    colour = PALETTE[i % len(PALETTE)]
    ys = [r.mean for r in rates]
    (line,) = ax.plot(xs, ys, style, color=colour, marker=MARKERS[i % len(MARKERS)], label=label)
    lo, hi = [r.lo for r in rates], [r.hi for r in rates]
    if band == "fill" and len(xs) > 1:
        ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, linewidth=0)
    elif band:
        ax.errorbar(xs, ys, yerr=[[y - a for y, a in zip(ys, lo)], [b - y for y, b in zip(ys, hi)]], fmt="none",
                    ecolor=colour, capsize=3)
    line._st_band = (tuple(lo), tuple(hi))
    line._st_ticks = list(ticks) if ticks is not None else None


def _finish(plt: Any, fig: Any, ax: Any, name: str, title: str, xlabel: str, ylabel: str, table: str,
            out_dir: Path) -> Figure:
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(_percent())
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")
    fig.tight_layout()
    series = _drawn(ax)
    files = _save(fig, out_dir, name)
    plt.close(fig)
    return Figure(name, title, xlabel, ylabel, series, files, table)


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(1.0, decimals=0)


def _curve_figure(table: Table, keys: list[str], out_dir: Path, x: str, y: str, name: str, title: str,
                  xlabel: str, ylabel: str) -> Figure:
    """One line per group: column ``y`` of ``table`` against its integer column ``x``."""
    plt = _pyplot()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        yi, xi = table.columns.index(y), table.columns.index(x)
        for i, (label, rows) in enumerate(_labelled(table, keys).items()):
            _plot(ax, i, label, [r[xi] for r in rows], [r[yi] for r in rows])
        ax.xaxis.get_major_locator().set_params(integer=True)
        return _finish(plt, fig, ax, name, title, xlabel, ylabel, table.name, out_dir)


def depth_figure(table: Table, keys: list[str], out_dir: Path) -> Figure:
    return _curve_figure(table, keys, out_dir, "depth", "pass@1", "pass1_depth", "pass@1 against refinement depth",
                         "depth (refinement rounds)", "pass@1")


def tokens_figure(depth: Table, width: Table | None, keys: list[str], out_dir: Path) -> Figure:
    """Refinement (the depth curve; y = the selector's pick where the table has one, else pass@1) against
    resampling (the width curve; y = the selector's pick at width w) at the tokens each spent per task."""
    plt = _pyplot()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots()
        i = 0
        for table, what in ((depth, "refine"), (width, "resample")):
            if table is None:
                continue
            col = "selected" if "selected" in table.columns else ("pass@1" if what == "refine" else None)
            if col is None:
                continue
            yi, ti = table.columns.index(col), table.columns.index("tokens/task")
            for label, rows in _labelled(table, keys).items():
                rows = [r for r in rows if r[yi] is not None]
                if rows:
                    _plot(ax, i, f"{label} · {what} ({col})", [r[ti] for r in rows], [r[yi] for r in rows],
                          style="-" if what == "refine" else "--", band=None)
                    i += 1
        return _finish(plt, fig, ax, "pass1_tokens", "pass@1 against tokens spent", "tokens per task",
                       "pass@1", depth.name if width is None else f"{depth.name}+{width.name}", out_dir)


def width_figure(table: Table, keys: list[str], out_dir: Path) -> Figure:
    return _curve_figure(table, keys, out_dir, "width", "pass@k (k=width)", "passk_width",
                         "pass@k against width (k = width)", "width (chains)", "pass@k")


def axis_figures(ablation: Ablation, runs: Sequence[RunData], summary: Table, keys: list[str],
                 out_dir: Path) -> list[Figure]:
    """One figure per grid axis: the final answer's pass rate ('selected' of the summary table) against the axis'
    values, one line per combination of the other axes."""
    plt = _pyplot()
    by_label = {lbl: rows[0] for lbl, rows in _labelled(summary, keys).items()}
    si = summary.columns.index("selected")
    members = [r for r in runs if r.name in ablation.runs]
    figures = []
    for axis, values in ablation.grid.items():
        if len(values) < 2 or axis not in keys:
            continue
        others = [k for k in ablation.grid if k != axis]
        lines: dict[str, dict[str, Rate]] = {}
        for r in members:
            label = ", ".join(f"{k}={r.point.get(k)}" for k in others) or "selected"
            group = ", ".join(f"{k}={knob_cell(knob_value(r, k))}" for k in keys)
            row = by_label.get(group)
            if row is not None and row[si] is not None:
                lines.setdefault(label, {})[str(r.point.get(axis))] = row[si]
        ticks = [str(v) for v in values]
        with plt.rc_context(STYLE):
            fig, ax = plt.subplots()
            for i, (label, points) in enumerate(lines.items()):
                dodge = (i - (len(lines) - 1) / 2) * min(0.06, 0.4 / max(1, len(lines)))  # bars side by side
                idx = [ticks.index(v) for v in ticks if v in points]
                _plot(ax, i, label, [x + dodge for x in idx], [points[ticks[x]] for x in idx], style=":",
                      band="bars", ticks=ticks)
            ax.set_xticks(range(len(ticks)), ticks)
            name = "axis_" + "".join(ch if ch.isalnum() else "_" for ch in axis)
            figures.append(_finish(plt, fig, ax, name, f"pass@1 (selected) by {axis}", axis, "pass@1 (selected)",
                                   summary.name, out_dir))
    return figures


def make_figures(tables: Sequence[Table], keys: list[str], runs: Sequence[RunData],
                 ablations: Sequence[Ablation], out_dir: Path) -> list[Figure]:
    by_name = {t.name: t for t in tables}
    depth, width = by_name["by_depth"], by_name.get("by_width")
    figures = [depth_figure(depth, keys, out_dir), tokens_figure(depth, width, keys, out_dir)]
    if width is not None:
        figures.append(width_figure(width, keys, out_dir))
    for ablation in ablations:
        figures += axis_figures(ablation, runs, by_name["summary"], keys, out_dir)
    return figures
