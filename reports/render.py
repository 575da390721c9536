"""Tables as text: a rich table for the terminal, Markdown, CSV, JSON (``latex.py`` writes LaTeX)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from semtrace.reports.model import Cell, Rate, Table

FORMATS = ("table", "md", "csv", "json", "latex")
SUFFIX = {"table": "txt", "md": "md", "csv": "csv", "json": "json", "latex": "tex"}


def fmt_rate(r: Rate, percent: str = "%") -> str:
    if r.unit == "pts":
        return f"{r.mean * 100:+.1f} [{r.lo * 100:+.1f}, {r.hi * 100:+.1f}]"
    return f"{r.mean * 100:.1f}{percent} [{r.lo * 100:.1f}, {r.hi * 100:.1f}]"


def fmt_cell(cell: Cell, column: str = "", percent: str = "%", missing: str = "-") -> str:
    if cell is None:
        return missing
    if isinstance(cell, Rate):
        return fmt_rate(cell, percent)
    if isinstance(cell, bool):
        return str(cell).lower()
    if isinstance(cell, int):
        return f"{cell:,}" if column not in ("depth", "width", "seed") else str(cell)
    if isinstance(cell, float):
        if column.startswith("cost"):
            return f"{cell:.4f}"
        if column == "McNemar p":
            return f"{cell:.3g}"
        if column in ("temperature",):
            return f"{cell:g}"
        return f"{cell:,.1f}"
    return str(cell)


def rich_table(table: Table) -> Any:
    from rich.table import Table as RichTable

    out = RichTable(title=table.title)
    for i, col in enumerate(table.columns):
        numeric = any(isinstance(row[i], (int, float, Rate)) for row in table.rows)
        out.add_column(col, justify="right" if numeric else "left", overflow="fold")
    for row in table.rows:
        out.add_row(*(fmt_cell(c, col) for c, col in zip(row, table.columns)))
    if table.notes:
        out.caption = "\n".join(n.replace("[", "\\[") for n in table.notes)  # "\[" keeps rich from reading tags
    return out


def markdown(tables: Sequence[Table]) -> str:
    parts = []
    for t in tables:
        lines = [f"### {t.title}", "", "| " + " | ".join(t.columns) + " |",
                 "| " + " | ".join("---" for _ in t.columns) + " |"]
        for row in t.rows:
            lines.append("| " + " | ".join(fmt_cell(c, col).replace("|", "\\|") for c, col in zip(row, t.columns))
                         + " |")
        lines += [""] + [f"_{n}_  " for n in t.notes]
        parts.append("\n".join(lines).rstrip())
    return "\n\n".join(parts) + "\n"


def _csv_columns(t: Table) -> list[str]:
    cols = []
    for i, col in enumerate(t.columns):
        if any(isinstance(row[i], Rate) for row in t.rows):
            cols += [col, f"{col} lo", f"{col} hi"]
        else:
            cols.append(col)
    return cols


def csv_text(table: Table) -> str:
    """One table as CSV; an interval column becomes three (value, lo, hi), as fractions."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_csv_columns(table))
    rate_cols = {i for i in range(len(table.columns)) if any(isinstance(r[i], Rate) for r in table.rows)}
    for row in table.rows:
        cells: list[Any] = []
        for i, c in enumerate(row):
            if i in rate_cols:
                cells += [c.mean, c.lo, c.hi] if isinstance(c, Rate) else ["", "", ""]
            else:
                cells.append("" if c is None else c)
        writer.writerow(cells)
    return buf.getvalue()


def csv_all(tables: Sequence[Table]) -> str:
    """Every table as CSV, each after a ``# name: title`` line, separated by a blank line."""
    return "\n".join(f"# {t.name}: {t.title}\n{csv_text(t)}" for t in tables)


def json_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"
