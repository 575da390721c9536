"""Tables as LaTeX ``booktabs`` tables, ready to ``\\input`` into a paper (needs ``\\usepackage{booktabs}``)."""

from __future__ import annotations

from collections.abc import Sequence

from semtrace.reports.model import Rate, Table
from semtrace.reports.render import fmt_cell

_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def escape(text: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def latex_table(table: Table) -> str:
    """One table: ``table`` environment, caption (the title and notes), label ``tab:<name>``, a ``tabular`` with
    ``\\toprule``, ``\\midrule``, ``\\bottomrule``; one row per table row. Rates are in percent."""
    align = "".join(
        "r" if any(isinstance(row[i], (int, float, Rate)) and not isinstance(row[i], bool) for row in table.rows)
        else "l" for i in range(len(table.columns)))
    header = " & ".join(escape(c) for c in table.columns) + r" \\"
    body = [" & ".join(escape(fmt_cell(c, col, percent="", missing="--")) for c, col in zip(row, table.columns))
            + r" \\" for row in table.rows]
    notes = " ".join(escape(n.rstrip(".")) + "." for n in ("rates in percent", *table.notes))
    return "\n".join([
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{escape(table.title)}. {notes}}}",
        rf"\label{{tab:{table.name.replace('_', '-')}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        header,
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]) + "\n"


def latex(tables: Sequence[Table]) -> str:
    head = "% semtrace report; needs \\usepackage{booktabs}\n"
    return head + "\n".join(latex_table(t) for t in tables)
