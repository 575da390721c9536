"""semtrace: test-time scaling of code LLMs with execution-trace semantics.

The public API is imported lazily so that ``import semtrace`` needs none of the optional SDKs.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Task": "semtrace.benchmarks.task",
    "TestCase": "semtrace.sandbox.types",
    "ExecRequest": "semtrace.sandbox.types",
    "ExecResult": "semtrace.sandbox.types",
    "TestOutcome": "semtrace.sandbox.types",
    "Limits": "semtrace.sandbox.types",
    "TraceSpec": "semtrace.sandbox.types",
    "Trace": "semtrace.sandbox.trace",
    "TraceEvent": "semtrace.sandbox.trace",
    "make_sandbox": "semtrace.sandbox.base",
    "SandboxUnavailable": "semtrace.sandbox.base",
    "load_benchmark": "semtrace.benchmarks.registry",
    "make_llm": "semtrace.llms.registry",
    "usage_scope": "semtrace.llms.accounting",
    "Message": "semtrace.llms.base",
    "Completion": "semtrace.llms.base",
    "make_renderer": "semtrace.representations.base",
    "TraceView": "semtrace.representations.base",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'semtrace' has no attribute {name!r}")
