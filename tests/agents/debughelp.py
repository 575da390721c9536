"""Helpers for the ``debug`` strategy's tests: scripted tool-using models (text protocol or native tool calls) and
a spy that keeps every conversation the real back end was sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from semtrace.llms.scripted import render_conversation

MAX_OF_FIX = "def max_of(xs):\n    best = xs[0]\n    for x in xs:\n        if x > best:\n            best = x\n    return best\n"


class Spy:
    """Forwards to a real LLM (declaring what it declares) and keeps every request as text."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.requests = inner, inner.name, []
        self.supports_tools = getattr(inner, "supports_tools", False)
        self.accounting = getattr(inner, "accounting", None)

    async def generate(self, messages, **kwargs):  # type: ignore[no-untyped-def]
        self.requests.append(render_conversation(messages))
        return await self.inner.generate(messages, **kwargs)


def call(name: str, native: bool, **arguments: Any) -> dict[str, Any] | str:
    """One reply calling ``name``: a rule item with native ``tool_calls``, or a fenced ``tool`` block."""
    if native:
        return {"tool_calls": [{"name": name, "arguments": arguments}]}
    return "```tool\n" + json.dumps({"name": name, "arguments": arguments}) + "\n```"


def rule(when: str, reply: Any) -> dict[str, Any]:
    if isinstance(reply, dict):
        return {"when": when, "match": "conversation", **reply}
    return {"when": when, "match": "conversation", "reply": reply}


def max_of_scenario(native: bool) -> list[dict[str, Any]]:
    """Run the tests, trace the failing call watching ``best``, submit the fix (most advanced state first)."""
    return [
        rule(r"only best[\s\S]*best = 1", call("submit", native, code=MAX_OF_FIX)),
        rule(r"0 of 1 visible tests passed", call("trace", native, expression="max_of([1, 5, 3])", watch=["best"])),
        rule(r"`max_of`", call("run_tests", native)),
    ]


def write(path: Path, rules: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rules))
    return path


def spec(rules: Path, native: bool) -> str:
    return f"scripted:{rules}" + ("?tools=true" if native else "")
