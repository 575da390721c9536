"""The static HTML report and trajectory viewer: ``semtrace view RUN_DIR... --out DIR`` (see README.md).

``build_viewer(run_dirs, out_dir) -> ViewerResult`` is the API; imports are lazy, so ``import semtrace.viewer``
loads neither jinja2 nor the agents.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ViewerResult", "build_viewer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from semtrace.viewer import build

        return getattr(build, name)
    raise AttributeError(f"module 'semtrace.viewer' has no attribute {name!r}")
