"""Reports: tables, paired comparisons and plots from run directories; scoring other tools' samples.

``build_report(run_dirs, out_dir, *, by=None, baseline=None, plots=True) -> ReportResult`` is the API (the
``semtrace report`` command and the HTML viewer call it). Imports are lazy: ``import semtrace.reports`` loads
neither matplotlib nor the agents.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Figure", "Paired", "Rate", "ReportResult", "Series", "Table", "build_report"]

_WHERE = {"build_report": "semtrace.reports.build", **{n: "semtrace.reports.model" for n in __all__[:-1]}}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'semtrace.reports' has no attribute {name!r}")
