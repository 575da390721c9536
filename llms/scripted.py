"""``scripted:PATH`` — deterministic replies from a JSONL rule file, for tests and demos.

Each line of PATH is a rule; the first whose ``when`` regex is found (``re.search``, DOTALL) wins::

    {"when": "<regex>", "reply": "<text>" | [<item>, ...],
     "reasoning": "<text>", "tool_calls": [{"name": "run", "arguments": {"x": 1}, "id": "call_1"}],
     "finish_reason": "stop", "match": "last_user" | "conversation"}

- ``match``: ``last_user`` (default) searches the last user message; ``conversation`` searches the whole
  conversation rendered as text, one block per message headed by its role in brackets, tool calls and results
  included, so a script can follow a multi-turn tool loop::

      [system]
      You fix programs.
      [user]
      Fix f.
      [assistant]
      Let me run it.
      [tool_call call_1 run] {"code": "f()"}
      [tool]
      [tool_result call_1] AssertionError        (" error" after the id when is_error)

- ``reply``: the text, or a list consumed in order, one item per completion, whose last item then repeats. An item
  is a text or an object with its own ``reply``, ``reasoning``, ``tool_calls``, ``finish_reason`` (the rule's
  keys are the defaults). ``reply`` may be left out when the rule has ``tool_calls`` or ``reasoning``.
- ``reasoning``: what the model thought (the completion's ``reasoning``). A reply may also carry inline
  ``<think>...</think>`` tags: this back end is a server without a reasoning parser, so they are split off as for
  llama.cpp (option ``reasoning_tags``); an unclosed tag makes the reasoning unfinished and the answer empty.
- ``tool_calls``: native tool calls (ids ``call_1``, ``call_2``, ... numbered after the calls already in the
  conversation when not given, so a resumed run gets the same ids). They need the option
  ``tools`` (``scripted:PATH?tools=true``), which also makes the back end declare ``supports_tools``; without it
  the back end speaks the text protocol and a rule with tool calls is an error.
- ``finish_reason``: default ``stop``; ``length`` with reasoning and no answer is unfinished reasoning.

No match raises :class:`ScriptMismatch` naming the last user message's first line. Blank lines and lines starting
with ``#`` are skipped. Usage is estimated (~3.5 characters a token). Never cached (list replies are state).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semtrace.llms.base import (
    Completion,
    LLMConfigError,
    LLMError,
    Message,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from semtrace.llms.openai_wire import arguments_text
from semtrace.llms.reasoning import (
    DEFAULT_TAGS,
    approx_tokens,
    check_tags,
    is_unfinished,
    join_reasoning,
    split_reasoning,
)

log = logging.getLogger(__name__)

RULE_FORMAT = ('{"when": "<regex>", "reply": "<text>" or [...], optional "reasoning", "tool_calls", '
               '"finish_reason", "match": "last_user"|"conversation"}')


class ScriptError(LLMConfigError):
    """The rule file is missing or malformed."""


class ScriptMismatch(LLMError):
    """No rule matches the conversation: the script does not cover this request."""


@dataclass(frozen=True)
class Reply:
    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[tuple[str, str, dict[str, Any] | str], ...] = ()  # (id or "", name, arguments)
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Rule:
    when: re.Pattern[str]
    replies: tuple[Reply, ...]
    match: str = "last_user"


def _tool_calls(value: Any) -> tuple[tuple[str, str, dict[str, Any] | str], ...]:
    if not isinstance(value, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in value):
        raise TypeError('"tool_calls" must be a list of {"name": ..., "arguments": {...}}')
    out = []
    for c in value:
        args = c.get("arguments", {})
        if not isinstance(args, (dict, str)):
            raise TypeError("a tool call's arguments must be an object or a string")
        out.append((str(c.get("id", "")), c["name"], args))
    return tuple(out)


def _reply(item: Any, defaults: dict[str, Any]) -> Reply:
    obj = {"reply": item} if isinstance(item, str) else item
    if not isinstance(obj, dict):
        raise TypeError("a reply must be a text or an object")
    obj = {**defaults, **obj}
    text = obj.get("reply", "")
    if not isinstance(text, str) or not isinstance(obj.get("reasoning", ""), str):
        raise TypeError('"reply" and "reasoning" must be texts')
    if "reply" not in obj and not obj.get("tool_calls") and not obj.get("reasoning"):
        raise ValueError('a reply needs "reply", "reasoning" or "tool_calls"')
    return Reply(text, obj.get("reasoning", ""), _tool_calls(obj.get("tool_calls", [])),
                 str(obj.get("finish_reason", "stop")))


def load_rules(path: str | Path) -> list[Rule]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ScriptError(f"scripted LLM: rule file '{p}' not found; pass scripted:PATH to an existing JSONL file")
    rules: list[Rule] = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            obj: Any = json.loads(line)
            pattern = re.compile(obj["when"], re.DOTALL)
            match = obj.get("match", "last_user")
            if match not in ("last_user", "conversation"):
                raise ValueError(f'"match" must be last_user or conversation, not {match!r}')
            defaults = {k: obj[k] for k in ("reasoning", "tool_calls", "finish_reason") if k in obj}
            items = obj.get("reply", "")
            if "reply" not in obj and not defaults.get("tool_calls") and not defaults.get("reasoning"):
                raise KeyError("reply")
            items = [items] if isinstance(items, (str, dict)) else items
            if not isinstance(items, list) or not items:
                raise ScriptError(f"{p}:{lineno}: 'reply' must be a string or a non-empty list of strings")
            replies = tuple(_reply(item, defaults) for item in items)
        except ScriptError:
            raise
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, re.error) as exc:
            raise ScriptError(f"{p}:{lineno}: bad rule ({exc}); each line must be {RULE_FORMAT}") from exc
        rules.append(Rule(pattern, replies, match))
    if not rules:
        raise ScriptError(f"scripted LLM: rule file '{p}' has no rules")
    return rules


def _render_part(part: Any) -> str:
    if isinstance(part, TextPart):
        return part.text
    if isinstance(part, ReasoningPart):
        return f"[reasoning] {part.text}"
    if isinstance(part, ToolCall):
        return f"[tool_call {part.id} {part.name}] {arguments_text(part.arguments)}"
    if isinstance(part, ToolResult):
        return f"[tool_result {part.call_id}{' error' if part.is_error else ''}] {part.content}"
    return str(part)


def render_conversation(messages: list[Message]) -> str:
    """The conversation as one text (what ``match: conversation`` rules search); format in the module docstring."""
    return "\n".join(f"[{m.role}]\n" + "\n".join(_render_part(p) for p in m.parts) for m in messages)


_UNKNOWN: Any = object()


class ScriptedLLM:
    """Replies from rules; stateful (list replies are consumed), so its responses are never cached."""

    cacheable = False
    free = True
    native_n = True

    def __init__(self, model: str, *, tools: bool = False, reasoning_tags: Any = DEFAULT_TAGS) -> None:
        if not isinstance(tools, bool):
            raise ScriptError(f"scripted LLM: option tools must be true or false, got {tools!r}")
        self.model = model
        self.name = f"scripted:{model}"
        self.supports_tools = tools
        self.reasoning_tags = check_tags(reasoning_tags)
        self.rules = load_rules(model)
        if not tools and any(r.tool_calls for rule in self.rules for r in rule.replies):
            raise ScriptError(f"scripted LLM: '{model}' scripts tool calls; pass the option tools=true "
                              f"(scripted:{model}?tools=true) so the back end declares native tool calls")
        self._cursor = [0] * len(self.rules)
        self._by_conversation = any(rule.match == "conversation" for rule in self.rules)
        self._found: dict[str, int | None] = {}  # last user message -> first matching rule (see _rule_for)
        self._lock = threading.Lock()
        self.calls = 0

    def _next_reply(self, rule_index: int) -> Reply:
        with self._lock:
            replies = self.rules[rule_index].replies
            i = self._cursor[rule_index]
            self._cursor[rule_index] = i + 1
        return replies[min(i, len(replies) - 1)]

    def _completion(self, reply: Reply, prompt_tokens: int, earlier_calls: int = 0) -> Completion:
        """One scripted reply; an unnamed tool call is numbered after the calls already in the conversation
        (``earlier_calls``), so the same conversation gets the same ids in every process (a resumed run's too)."""
        split = split_reasoning(reply.text, self.reasoning_tags)
        calls = [ToolCall(id=call_id or f"call_{earlier_calls + k}", name=name, arguments=args)
                 for k, (call_id, name, args) in enumerate(reply.tool_calls, 1)]
        reasoning = join_reasoning(reply.reasoning, split.reasoning)
        wrote = reply.text + reply.reasoning + "".join(c.name + arguments_text(c.arguments) for c in calls)
        unfinished = split.unfinished or is_unfinished(reply.finish_reason, split.answer, bool(calls), reasoning)
        return Completion(text="" if unfinished else split.answer, finish_reason=reply.finish_reason,
                          usage=Usage(prompt_tokens, approx_tokens(wrote), approx_tokens(reasoning)),
                          model=self.model, reasoning=reasoning, tool_calls=tuple(calls),
                          reasoning_unfinished=unfinished)

    def _rule_for(self, messages: list[Message], last_user: str) -> int | None:
        """The first rule matching (its ``when`` on the last user message, or on the conversation for a
        ``match: conversation`` rule); None. Without conversation rules the answer depends on the last user message
        alone and is remembered for the last 256 (a run's chains send the same prompt)."""
        if not self._by_conversation:
            known = self._found.get(last_user, _UNKNOWN)
            if known is not _UNKNOWN:
                return known
        conversation: str | None = None  # rendered once, when a rule matches on it
        found = None
        for idx, rule in enumerate(self.rules):
            if rule.match == "conversation" and conversation is None:
                conversation = render_conversation(messages)
            if rule.when.search(conversation if rule.match == "conversation" else last_user):  # type: ignore[arg-type]
                found = idx
                break
        if not self._by_conversation:
            with self._lock:
                if len(self._found) >= 256:
                    self._found.pop(next(iter(self._found)), None)
                self._found[last_user] = found
        return found

    async def generate(self, messages: list[Message], *, n: int = 1, temperature: float = 0.0,
                       max_tokens: int = 1024, seed: int | None = None, stop: list[str] | None = None,
                       tools: list[ToolSpec] | None = None) -> list[Completion]:
        self.calls += 1
        last_user = next((m.text for m in reversed(messages) if m.role == "user"), "")
        idx = self._rule_for(messages, last_user)
        if idx is not None:
            prompt_tokens = sum(approx_tokens("\n".join(_render_part(p) for p in m.parts)) for m in messages)
            earlier = sum(isinstance(p, ToolCall) for m in messages for p in m.parts)
            return [self._completion(self._next_reply(idx), prompt_tokens, earlier) for _ in range(n)]
        first = last_user.strip().splitlines()[0] if last_user.strip() else "<empty>"
        raise ScriptMismatch(f"scripted LLM {self.model}: no rule matches the last user message "
                             f"starting {first[:120]!r} (nor, for match: conversation rules, the conversation); "
                             "add a rule whose 'when' regex matches it", provider="scripted")


__all__ = ["Reply", "Rule", "ScriptError", "ScriptMismatch", "ScriptedLLM", "approx_tokens", "load_rules",
           "render_conversation"]
