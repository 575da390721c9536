"""semtrace.llms: LLM back ends behind one protocol, with cache, retries, concurrency bound and accounting.

``make_llm("provider:model?k=v")`` is the entry point; see README.md. Exports are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "make_llm": "semtrace.llms.registry",
    "parse_spec": "semtrace.llms.registry",
    "LLMS": "semtrace.llms.registry",
    "Accounting": "semtrace.llms.accounting",
    "UsageTotals": "semtrace.llms.accounting",
    "usage_scope": "semtrace.llms.accounting",
    "RetryPolicy": "semtrace.llms.managed",
    "ManagedLLM": "semtrace.llms.managed",
    "reasoning_warning": "semtrace.llms.accounting",
    "extract_code": "semtrace.llms.extract",
    "extract_answer": "semtrace.llms.extract",
    "Extraction": "semtrace.llms.extract",
    "split_reasoning": "semtrace.llms.reasoning",
}
_BASE = ["LLM", "Message", "Usage", "Completion", "TextPart", "ReasoningPart", "ToolCall", "ToolResult", "ToolSpec",
         "Part", "UNFINISHED_REASONING", "LLMError", "RateLimited", "Timeout", "ServerError",
         "ContextTooLong", "AuthFailed", "BadResponse", "BadRequest", "QuotaExceeded", "Unreachable",
         "LLMConfigError", "messages_from"]
_EXPORTS.update({name: "semtrace.llms.base" for name in _BASE})

__all__ = sorted(_EXPORTS)  # noqa: PLE0605


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'semtrace.llms' has no attribute {name!r}")
