"""The report as an HTML fragment: ``<table class="st-table">`` per table, ``<img>`` per PNG plot (paths relative
to the report's ``out_dir``); no scripts, no styles, no external resources."""

from __future__ import annotations

import html
import os

from semtrace.reports.model import ReportResult
from semtrace.reports.render import fmt_cell


def report_html(result: ReportResult) -> str:
    parts = []
    for t in result.tables:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(fmt_cell(c, col))}</td>" for c, col in zip(row, t.columns)) + "</tr>"
            for row in t.rows)
        notes = "".join(f"<p class=\"st-note\">{html.escape(n)}</p>" for n in t.notes)
        parts.append(f"<section class=\"st-report-table\" id=\"st-{html.escape(t.name)}\">"
                     f"<table class=\"st-table\"><caption>{html.escape(t.title)}</caption>"
                     f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}</section>")
    parts += [f"<p class=\"st-note\">{html.escape(n)}</p>" for n in result.notes]
    for fig in result.figures:
        png = next((f for f in fig.files if f.suffix == ".png"), None)
        if png is None:
            continue
        rel = os.path.relpath(png, result.out_dir).replace(os.sep, "/")
        parts.append(f"<figure class=\"st-figure\"><img src=\"{html.escape(rel)}\" alt=\"{html.escape(fig.title)}\">"
                     f"<figcaption>{html.escape(fig.title)}</figcaption></figure>")
    return "\n".join(parts)
