"""The OpenAI chat-completions wire format, both ways, for every OpenAI-compatible back end (``openai``, ``vllm``,
``llamacpp``, ``vllm-offline``).

Out: a message's text parts become its ``content``; an assistant turn's tool calls become ``tool_calls``
(arguments as a JSON string); each tool result becomes its own ``tool`` message with ``tool_call_id`` (wherever it
sits: a ``tool`` message, or a ``user`` message written the Anthropic way); reasoning is never sent back (the
chat-completions API has no field for it). Tools go out as ``{"type": "function", "function": {...}}``.
In: the answer from ``content`` with inline reasoning tags split off (``reasoning.split_reasoning``), reasoning
from vLLM's ``reasoning_content`` (older) or ``reasoning`` (newer) field and the inline tags both, tool calls
typed (arguments that are not a JSON object kept as their raw text), and reasoning tokens from
``usage.completion_tokens_details.reasoning_tokens`` where the server reports them, else estimated from the
reasoning's share of the characters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from semtrace.llms.base import (
    Completion,
    Message,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from semtrace.llms.reasoning import estimate_reasoning_tokens, is_unfinished, join_reasoning, split_reasoning


def to_openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages in the chat-completions shape (plain-text messages exactly as before: role and a string)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m.content, str):
            if m.role == "tool":
                raise ValueError("a tool message needs ToolResult parts (the call id it answers)")
            out.append({"role": m.role, "content": m.content})
            continue
        results = [p for p in m.content if isinstance(p, ToolResult)]
        calls = [p for p in m.content if isinstance(p, ToolCall)]
        text = "".join(p.text for p in m.content if isinstance(p, TextPart))
        out.extend({"role": "tool", "tool_call_id": r.call_id, "content": r.content} for r in results)
        if m.role == "tool":
            if text:
                out.append({"role": "user", "content": text})
            continue
        if calls and m.role == "assistant":
            out.append({"role": "assistant", "content": text or None,
                        "tool_calls": [{"id": c.id, "type": "function",
                                        "function": {"name": c.name, "arguments": arguments_text(c.arguments)}}
                                       for c in calls]})
        elif text or not results:
            out.append({"role": m.role, "content": text})
    return out


def arguments_text(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def parse_arguments(raw: Any) -> dict[str, Any] | str:
    """A tool call's arguments: the JSON object, else the raw text (a malformed call is the caller's to answer)."""
    if isinstance(raw, dict):
        return raw
    text = "" if raw is None else str(raw)
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, dict) else text


def tools_to_openai(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": t.name, "description": t.description,
                                              "parameters": t.parameters}} for t in tools]


def _field(obj: Any, name: str) -> Any:
    """An attribute of an SDK object or a key of a plain dict (llama.cpp answers dicts)."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


@dataclass(frozen=True)
class Choice:
    """One choice read off the wire, before usage is shared out."""

    answer: str
    reasoning: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    inline_unfinished: bool


def read_choice(choice: Any, tags: tuple[str, str] | None) -> Choice:
    """One ``choices[i]`` (an SDK object or a dict) as answer, reasoning and typed tool calls."""
    msg = _field(choice, "message") or {}
    content = _field(msg, "content") or ""
    if not isinstance(content, str):  # a list of content parts, as some servers answer
        content = "".join(str(_field(p, "text") or "") for p in content)
    field_reasoning = _field(msg, "reasoning_content") or _field(msg, "reasoning") or ""
    split = split_reasoning(content, tags)
    calls = []
    for k, call in enumerate(_field(msg, "tool_calls") or ()):
        fn = _field(call, "function") or {}
        calls.append(ToolCall(id=str(_field(call, "id") or f"call_{k}"), name=str(_field(fn, "name") or ""),
                              arguments=parse_arguments(_field(fn, "arguments"))))
    return Choice(answer=split.answer, reasoning=join_reasoning(str(field_reasoning), split.reasoning),
                  tool_calls=tuple(calls), finish_reason=str(_field(choice, "finish_reason") or "stop"),
                  inline_unfinished=split.unfinished)


def completion_of(choice: Choice, prompt_tokens: int, completion_tokens: int, reasoning_tokens: int | None,
                  model: str, latency: float = 0.0) -> Completion:
    """A ``Completion`` from one choice and its share of the usage; ``reasoning_tokens`` None: not reported."""
    if reasoning_tokens is None or (reasoning_tokens == 0 and choice.reasoning):  # 0 with reasoning: not counted
        calls = "".join(arguments_text(c.arguments) + c.name for c in choice.tool_calls)
        reasoning_tokens = estimate_reasoning_tokens(completion_tokens, choice.reasoning, choice.answer + calls)
    unfinished = choice.inline_unfinished or is_unfinished(choice.finish_reason, choice.answer,
                                                           bool(choice.tool_calls), choice.reasoning, reasoning_tokens)
    return Completion(text="" if unfinished else choice.answer, finish_reason=choice.finish_reason,
                      usage=Usage(prompt_tokens, completion_tokens, min(reasoning_tokens, completion_tokens)),
                      latency=latency, model=model, reasoning=choice.reasoning, tool_calls=choice.tool_calls,
                      reasoning_unfinished=unfinished)


def reported_reasoning_tokens(usage: Any) -> int | None:
    """``usage.completion_tokens_details.reasoning_tokens``; None when the server does not report it."""
    details = _field(usage, "completion_tokens_details") if usage is not None else None
    value = _field(details, "reasoning_tokens") if details is not None else None
    return None if value is None else int(value)


__all__ = ["Choice", "arguments_text", "completion_of", "parse_arguments", "read_choice",
           "reported_reasoning_tokens", "to_openai_messages", "tools_to_openai"]
