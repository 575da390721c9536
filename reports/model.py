"""The typed results of a report: rates with intervals, tables, paired comparisons, plotted series, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rate:
    """A rate over tasks with its 95% interval (``benchmarks.metrics.mean_interval``), as a fraction; ``unit``
    "pts" marks a difference of two rates (shown in signed percentage points)."""

    mean: float
    lo: float
    hi: float
    unit: str = "rate"

    @classmethod
    def of(cls, cell: dict[str, float] | None) -> Rate | None:
        if not cell:
            return None
        return cls(float(cell["mean"]), float(cell.get("lo", cell["mean"])), float(cell.get("hi", cell["mean"])))

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi, **({"unit": self.unit} if self.unit != "rate" else {})}


Cell = str | int | float | Rate | None


@dataclass(frozen=True)
class Table:
    """One table: ``name`` (a file-name slug), a title, column names, rows of cells, notes printed under it."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...] = ()

    def column(self, name: str) -> list[Cell]:
        i = self.columns.index(name)
        return [row[i] for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "columns": list(self.columns),
            "rows": [[c.to_dict() if isinstance(c, Rate) else c for c in row] for row in self.rows],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Paired:
    """``run`` against ``baseline`` on the same tasks: per-task wins/losses/ties of a score, the mean difference
    (run - baseline) with a paired bootstrap 95% interval, and the exact McNemar p-value (0/1 scores only)."""

    run: str
    baseline: str
    metric: str
    tasks: int
    wins: int
    losses: int
    ties: int
    diff: float
    lo: float
    hi: float
    p_value: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Series:
    """One plotted line as matplotlib drew it (read back from the figure's artists)."""

    label: str
    x: tuple[Any, ...]
    y: tuple[float, ...]
    lo: tuple[float, ...] = ()
    hi: tuple[float, ...] = ()


@dataclass(frozen=True)
class Figure:
    """One figure: its files (PNG and SVG), what is on its axes, and the table its points come from."""

    name: str
    title: str
    xlabel: str
    ylabel: str
    series: tuple[Series, ...]
    files: tuple[Path, ...]
    table: str  # the name of the Table whose cells the points equal


@dataclass(frozen=True)
class ReportResult:
    """What ``build_report`` made: the tables, the plot files under ``out_dir`` (PNG and SVG), the paired
    comparisons, each figure's plotted data, the runs' summaries and notes (e.g. why runs were not paired)."""

    out_dir: Path
    tables: list[Table]
    plots: list[Path]
    paired: list[Paired]
    figures: list[Figure] = field(default_factory=list)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # e.g. why runs were not paired

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"no table {name!r}; tables: {', '.join(t.name for t in self.tables)}")

    def html(self) -> str:
        """An HTML fragment: the tables as ``<table class="st-table">``, the plots as ``<img>`` with paths relative
        to ``out_dir``; no scripts, no external resources."""
        from semtrace.reports.html import report_html

        return report_html(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tables": [t.to_dict() for t in self.tables],
            "paired": [p.to_dict() for p in self.paired],
            "plots": [str(p) for p in self.plots],
            "runs": self.summaries,
            "notes": self.notes,
        }
