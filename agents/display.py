"""The live display (tasks done, pass rate so far, tokens, retries, cache hits) and the results tables."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from semtrace.agents.metrics import paired_difference
from semtrace.agents.run import Progress


def _llm_totals(llm: Any) -> dict[str, Any]:
    accounting = getattr(llm, "accounting", None)
    if accounting is None:
        return {}
    try:
        return dict(accounting.total().to_dict())
    except Exception:  # noqa: BLE001 - a third-party LLM's accounting is optional
        return {}


def progress_table(progress: Progress, llm: Any, title: str = "semtrace run") -> Table:
    s = progress.stats
    totals = _llm_totals(llm)
    finished = progress.done
    rate = f"{progress.correct / finished:.1%}" if finished else "-"
    table = Table(title=title, show_header=False, box=None, padding=(0, 2))
    table.add_row(
        "tasks", f"{finished}/{progress.total}" + (f"  ({progress.errors} errors)" if progress.errors else "")
    )
    table.add_row("pass rate so far", rate)
    table.add_row(
        "tokens",
        f"{s.prompt_tokens + s.completion_tokens:,} ({s.prompt_tokens:,} in / {s.completion_tokens:,} out)",
    )
    table.add_row(
        "LLM calls",
        f"{s.llm_calls:,}  cache hits {totals.get('cache_hits', s.cache_hits):,}  "
        f"retries {totals.get('retries', 0):,}  errors {s.llm_errors:,}",
    )
    table.add_row("sandbox runs", f"{s.sandbox_runs:,}  (reused {s.exec_cache_hits:,})")
    table.add_row("elapsed", f"{time.monotonic() - progress.started:,.1f} s")
    return table


@contextlib.asynccontextmanager
async def live_progress(
    progress: Progress,
    llm: Any,
    *,
    enabled: bool,
    console: Console | None = None,
    title: str = "semtrace run",
) -> AsyncIterator[None]:
    """Refresh the progress table a few times a second while the block runs (only on a terminal)."""
    console = console or Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield
        return
    with Live(
        progress_table(progress, llm, title), console=console, refresh_per_second=4, transient=False
    ) as live:

        async def refresh() -> None:
            while True:
                await asyncio.sleep(0.25)
                live.update(progress_table(progress, llm, title))

        ticker = asyncio.create_task(refresh())
        try:
            yield
        finally:
            ticker.cancel()
            live.update(progress_table(progress, llm, title))


def _pct(cell: dict[str, float] | None) -> str:
    """A rate as "mean [lo, hi]" (the 95% interval); the mean alone for a cell without an interval."""
    if not cell:
        return "-"
    if "lo" not in cell or "hi" not in cell:
        return f"{cell['mean']:.1%}"
    return f"{cell['mean']:.1%} [{cell['lo']:.1%}, {cell['hi']:.1%}]"


# "\[" keeps rich from reading "[lo, hi]" as a markup tag (cells like "[1.0%, 27.0%]" are not tags)
INTERVAL_NOTE = "\\[lo, hi] = 95% interval over tasks (Wilson; bootstrap for means over chains)"


def width_depth(summary: dict[str, Any]) -> tuple[int, int]:
    """The run's configured width and depth (a summary without a finished task has no curves to read them from)."""
    cfg = summary.get("config") or {}
    width = cfg.get("width", summary.get("width", 1))
    depth = cfg.get("depth", summary.get("depth", 0))
    return int(width if width is not None else 1), int(depth if depth is not None else 0)


def results_table(summary: dict[str, Any], title: str = "results") -> Table:
    """pass@1 by depth (mean over chains), the selector's pick, the oracle upper bound, tokens, cost."""
    cfg = summary.get("config", {})
    n = summary.get("total_tasks", summary.get("tasks", 0))
    sel = summary.get("selector", cfg.get("selector", ""))
    width, depth = width_depth(summary)
    table = Table(
        title=f"{title}: {cfg.get('benchmark', '')} · {cfg.get('representation', '')} · "
        f"{cfg.get('strategy', '')} {width}x{depth} · {n} tasks"
    )
    multi = width > 1
    table.caption = INTERVAL_NOTE + (
        "; oracle reads hidden tests (UPPER BOUND, not a method result)" if multi else ""
    )
    has_sel = multi and any("selected" in row for row in summary.get("by_depth", []))
    table.add_column("depth", justify="right")
    table.add_column("pass@1" + (" (mean over chains)" if multi else ""), justify="right")
    if has_sel:
        table.add_column(f"selected ({sel})", justify="right")
    if multi:
        table.add_column("oracle (upper bound)", justify="right")
    table.add_column("tokens", justify="right")
    for row in summary.get("by_depth", []):
        cells = [str(row["depth"]), _pct(row["pass@1"])]
        if has_sel:
            cells.append(_pct(row.get("selected")))
        if multi:
            cells.append(_pct(row["oracle@width"]))
        table.add_row(*cells, f"{row['tokens']:,}")
    usage = summary.get("usage", {})
    cost = summary.get("cost")
    table.add_section()
    final = ["final", _pct(summary.get("selected")) if not has_sel else ""]
    if has_sel:
        final.append(_pct(summary.get("selected")))
    if multi:
        final.append("")
    table.add_row(*final, f"{usage.get('prompt_tokens', 0) + usage.get('completion_tokens', 0):,}")
    if summary.get("selector_upper_bound"):
        table.title = f"{table.title} · selector oracle = UPPER BOUND"
    extra = f"cost ${cost:.4f}" if isinstance(cost, (int, float)) else "cost n/a (unpriced model)"
    if summary.get("errors"):
        extra += f" · {summary['errors']} task(s) errored (counted as failures; --resume retries them)"
    table.caption = f"{table.caption}\n{extra}"
    return table


def width_table(summary: dict[str, Any]) -> Table | None:
    """The width curve at the full depth (None for width 1): pass@1, unbiased pass@k, the selector, the oracle."""
    rows = summary.get("by_width") or []
    if len(rows) <= 1:
        return None
    has_sel = "selected" in rows[0]
    table = Table(title=f"by width (depth {summary.get('depth', 0)})")
    for col in (
        "width",
        "pass@1",
        "pass@k (k=width)",
        *(["selected"] if has_sel else []),
        "oracle (upper bound)",
    ):
        table.add_column(col, justify="right")
    for row in rows:
        cells = [str(row["width"]), _pct(row["pass@1"]), _pct(row.get("pass@k"))]
        if has_sel:
            cells.append(_pct(row.get("selected")))
        table.add_row(*cells, _pct(row["oracle"]))
    return table


def comparison_table(rows: Sequence[tuple[str, dict[str, Any]]], title: str = "runs") -> Table:
    """One line per run (or grid point): its knobs and its final numbers. Knobs equal in every row go to the
    title, so the table stays narrow. Runs on the same tasks as the first row get the difference of their selected
    pass rate from it, with a paired bootstrap 95% interval over tasks."""
    knobs = {
        "repr": lambda s: str(s.get("config", {}).get("representation", "")),
        "strategy": lambda s: str(s.get("config", {}).get("strategy", "")),
        "WxD": lambda s: "x".join(map(str, width_depth(s))),
        "selector": lambda s: s.get("selector", "") + (" (UB)" if s.get("selector_upper_bound") else ""),
    }
    varying = [k for k, f in knobs.items() if len({f(s) for _, s in rows}) > 1]
    fixed = [f"{k} {f(rows[0][1])}" for k, f in knobs.items() if k not in varying and rows]
    table = Table(title=title + (f" ({', '.join(fixed)})" if fixed else ""))
    table.add_column("run", overflow="fold")
    for k in varying:
        table.add_column(k)
    deltas = [paired_difference(s, rows[0][1]) for _, s in rows[1:]]
    has_delta = any(d is not None for d in deltas)
    for col in ("pass@1 @D", "selected", *(["Δ selected vs first"] if has_delta else []), "tok/task"):
        table.add_column(col, justify="right")
    for i, (name, s) in enumerate(rows):
        last = (s.get("by_depth") or [{}])[-1]
        delta = deltas[i - 1] if i else None
        table.add_row(
            name,
            *(knobs[k](s) for k in varying),
            _pct(last.get("pass@1")),
            _pct(s.get("selected")),
            *([("first" if not i else _delta(delta))] if has_delta else []),
            f"{s.get('tokens_per_task', 0):,.0f}",
        )
    if has_delta:
        table.caption = "Δ: paired bootstrap 95% interval over the same tasks; - = not the same tasks"
    return table


def _delta(diff: tuple[float, float, float] | None) -> str:
    if diff is None:
        return "-"
    d, lo, hi = diff
    return f"{d * 100:+.1f} pts [{lo * 100:+.1f}, {hi * 100:+.1f}]"
