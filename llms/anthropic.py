"""``anthropic:MODEL`` — the official ``anthropic`` SDK (async), Messages API.

System messages are joined into the top-level ``system`` field, as the API wants; consecutive messages of
the same role are merged (the API expects user/assistant turns). The API has no ``n``: ``n > 1`` is made of
concurrent calls (``native_n = False``, so ``ManagedLLM`` retries and caches each sample on its own). The
API has no seed either: a seed only selects the cache entry. Options: ``base_url`` (else
``$ANTHROPIC_BASE_URL``), ``api_key`` (else ``$ANTHROPIC_API_KEY``), ``timeout`` seconds to wait for an answer
(default 120; ``ManagedLLM`` retries a timeout once), ``connect_timeout`` (default 10), ``top_p``,
``top_k``, ``sampling`` (default True; False omits ``temperature`` for models that refuse sampling parameters).
Sampling parameters travel in the request body through ``extra_body``: recent SDKs no longer list them as
arguments of ``messages.create`` while the API still accepts them. Every error names the endpoint
(``anthropic:MODEL at URL``); a URL where nothing listens is ``Unreachable`` at once (no retry).

Typed parts both ways: an assistant turn's reasoning goes back as ``thinking`` blocks with their ``signature``
(``redacted_thinking`` with its data; reasoning without a signature, from another back end, is dropped: the API
would refuse it), tool calls as ``tool_use`` blocks, tool results (role ``tool``) as ``tool_result`` blocks of a
user turn, first in it as the API requires; same-role neighbours are merged block by block, nothing lost. A reply's
``thinking``/``redacted_thinking`` blocks become ``reasoning`` and ``reasoning_parts`` (signatures kept), its
``tool_use`` blocks typed ``tool_calls``. Tools go out as ``{"name", "description", "input_schema"}``
(``supports_tools``). The API does not count thinking tokens apart: ``reasoning_tokens`` is the output minus an
estimate of the answer's (the visible thinking of recent models is a summary of what was billed).

``thinking``: extended thinking with a budget (``4096``, or ``{"type": "enabled", "budget_tokens": 4096}``;
``{"type": "adaptive"}`` for models that choose their own). The API requires temperature 1 with thinking, so
``temperature`` is sent as 1 whatever the caller asked (logged once), ``top_k`` is refused and ``top_p`` must be
0.95-1; ``max_tokens`` must exceed the budget (it holds the answer too). A 400 about thinking (a model without it)
is fatal and names ``llm.options.thinking``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from typing import Any

from semtrace.llms._http import check_timeouts, describe, map_sdk_error
from semtrace.llms.base import (
    BadRequest,
    BadResponse,
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
from semtrace.llms.openai_wire import arguments_text, parse_arguments
from semtrace.llms.reasoning import (
    approx_tokens,
    check_budget,
    check_thinking,
    is_unfinished,
    join_reasoning,
    name_rejected_option,
)

log = logging.getLogger(__name__)

try:
    import anthropic
except ModuleNotFoundError as exc:  # pragma: no cover - exercised when the extra is missing
    raise ModuleNotFoundError("No module named 'anthropic'", name="anthropic") from exc

_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def _status_detail(exc: Any) -> tuple[str, str | None]:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error") if isinstance(body.get("error"), dict) else {}
    return str(err.get("message") or getattr(exc, "message", exc)), err.get("type")


def map_anthropic_error(exc: BaseException, provider: str = "anthropic", **where: Any) -> LLMError:
    """An ``anthropic`` SDK exception as an LLMError (the original is kept); ``where``: ``map_sdk_error``'s
    ``endpoint``, ``timeout``, ``connect_timeout``."""
    return map_sdk_error(exc, anthropic, provider, _status_detail, **where)


def _blocks(m: Message) -> list[dict[str, Any]]:
    """One message's content as Messages API blocks."""
    if isinstance(m.content, str):
        return [{"type": "text", "text": m.content}] if m.content else []
    out: list[dict[str, Any]] = []
    for p in m.content:
        if isinstance(p, TextPart) and p.text:
            out.append({"type": "text", "text": p.text})
        elif isinstance(p, ReasoningPart) and p.redacted:
            out.append({"type": "redacted_thinking", "data": p.text})
        elif isinstance(p, ReasoningPart) and p.signature:
            out.append({"type": "thinking", "thinking": p.text, "signature": p.signature})
        elif isinstance(p, ToolCall):
            args = p.arguments if isinstance(p.arguments, dict) else parse_arguments(p.arguments)
            out.append({"type": "tool_use", "id": p.id, "name": p.name,
                        "input": args if isinstance(args, dict) else {"_raw": arguments_text(p.arguments)}})
        elif isinstance(p, ToolResult):
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": p.call_id, "content": p.content}
            if p.is_error:
                block["is_error"] = True
            out.append(block)
    return out


def to_anthropic(messages: list[Message]) -> tuple[str | None, list[dict[str, Any]]]:
    """(system, turns): system messages joined; tool results in user turns; same-role neighbours merged without
    losing a part (plain-text neighbours stay one string, joined by a blank line, as before)."""
    system = "\n\n".join(m.text for m in messages if m.role == "system") or None
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        role = "user" if m.role == "tool" else m.role
        content: str | list[dict[str, Any]] = m.content if isinstance(m.content, str) else _blocks(m)
        if not (turns and turns[-1]["role"] == role):
            turns.append({"role": role, "content": content})
        elif isinstance(content, str) and isinstance(turns[-1]["content"], str):
            turns[-1]["content"] += "\n\n" + content
        else:
            turns[-1]["content"] = _as_blocks(turns[-1]["content"]) + _as_blocks(content)
    for turn in turns:  # the API wants a user turn's tool results first, an assistant turn's thinking first
        if isinstance(turn["content"], list):
            first = ("tool_result",) if turn["role"] == "user" else ("thinking", "redacted_thinking")
            turn["content"].sort(key=lambda b: b["type"] not in first)
    return system, turns


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def tools_to_anthropic(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    return [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools]


def read_message(resp: Any, model: str) -> Completion:
    """A Messages API reply as a Completion: text blocks the answer, thinking blocks the reasoning, tool_use
    blocks typed tool calls."""
    text, thoughts, calls = [], [], []
    for block in resp.content:
        kind = getattr(block, "type", "")
        if kind == "text":
            text.append(block.text)
        elif kind == "thinking":
            thoughts.append(ReasoningPart(block.thinking or "", signature=getattr(block, "signature", "") or ""))
        elif kind == "redacted_thinking":
            thoughts.append(ReasoningPart(block.data or "", redacted=True))
        elif kind == "tool_use":
            calls.append(ToolCall(id=block.id, name=block.name, arguments=parse_arguments(block.input)))
    answer = "".join(text)
    reasoning = join_reasoning(*(p.text for p in thoughts if not p.redacted))
    out_tokens = int(resp.usage.output_tokens or 0)
    answer_tokens = approx_tokens(answer + "".join(c.name + arguments_text(c.arguments) for c in calls))
    reasoning_tokens = max(0, out_tokens - answer_tokens) if thoughts else 0
    finish = _FINISH.get(str(resp.stop_reason), str(resp.stop_reason))
    unfinished = is_unfinished(finish, answer, bool(calls), reasoning, reasoning_tokens)
    return Completion(text="" if unfinished else answer, finish_reason=finish,
                      usage=Usage(int(resp.usage.input_tokens or 0), out_tokens, reasoning_tokens),
                      model=resp.model if isinstance(resp.model, str) else model, reasoning=reasoning,
                      tool_calls=tuple(calls), reasoning_unfinished=unfinished, reasoning_parts=tuple(thoughts))


class AnthropicChat:
    provider = "anthropic"
    native_n = False
    supports_tools = True

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 120.0, connect_timeout: float = 10.0, top_p: float | None = None,
                 top_k: int | None = None, sampling: bool = True, thinking: Any = None) -> None:
        self.model = model
        self.name = f"anthropic:{model}"
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL")
        self.api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not self.api_key:
            raise LLMConfigError("anthropic: no API key; set ANTHROPIC_API_KEY or pass api_key=...")
        self.timeout, self.connect_timeout = check_timeouts("anthropic", timeout, connect_timeout)
        self.thinking = check_thinking(thinking)
        if self.thinking is not None and top_k is not None:
            raise LLMConfigError("llm.options.top_k: Anthropic refuses top_k with llm.options.thinking; remove one")
        if self.thinking is not None and top_p is not None and not 0.95 <= float(top_p) <= 1.0:
            raise LLMConfigError(f"llm.options.top_p: with llm.options.thinking Anthropic takes 0.95 to 1, got {top_p}")
        self.send_sampling = bool(sampling)
        self.sampling = {k: v for k, v in {"top_p": top_p, "top_k": top_k}.items() if v is not None}
        self._told_temperature = False
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def cache_identity(self) -> dict[str, Any]:
        identity = {"base_url": self.base_url, "sampling": self.sampling, "send_sampling": self.send_sampling}
        if self.thinking is not None:
            identity["thinking"] = self.thinking
        return identity

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = anthropic.AsyncAnthropic(api_key=self.api_key, base_url=self.base_url,
                                              timeout=anthropic.Timeout(self.timeout, connect=self.connect_timeout),
                                              max_retries=0)
            self._clients[loop] = client
        return client

    def _temperature(self, temperature: float) -> float:
        """With thinking the API takes temperature 1 only: sent as 1, said once."""
        if self.thinking is None:
            return temperature
        if temperature != 1.0 and not self._told_temperature:
            self._told_temperature = True
            log.warning("%s: extended thinking requires temperature 1; sending 1 instead of %s", self.name,
                        temperature)
        return 1.0

    def _body(self, messages: list[Message], temperature: float, max_tokens: int, stop: list[str] | None,
              tools: list[ToolSpec] | None) -> dict[str, Any]:
        system, turns = to_anthropic(messages)
        body: dict[str, Any] = {"model": self.model, "messages": turns, "max_tokens": max_tokens}
        if system:
            body["system"] = system
        if stop:
            body["stop_sequences"] = list(stop)
        if tools:
            body["tools"] = tools_to_anthropic(tools)
        if self.thinking is not None:
            body["thinking"] = dict(self.thinking)
        if self.send_sampling:
            body["extra_body"] = {"temperature": self._temperature(temperature), **self.sampling}
        return body

    async def _once(self, messages: list[Message], temperature: float, max_tokens: int,
                    stop: list[str] | None, tools: list[ToolSpec] | None) -> Completion:
        client = self._client()
        where = describe(self.name, self.base_url or str(client.base_url))
        try:
            check_budget(self.thinking, max_tokens)
        except LLMConfigError as exc:  # every request of this size would be refused: fatal
            err = BadRequest(str(exc), provider=self.provider, endpoint=where)
            err.fatal = True
            raise err from exc
        try:
            resp = await client.messages.create(**self._body(messages, temperature, max_tokens, stop, tools))
        except (anthropic.AnthropicError, ValueError) as exc:  # ValueError: a body that is not JSON
            err = map_anthropic_error(exc, self.provider, endpoint=where, timeout=self.timeout,
                                      connect_timeout=self.connect_timeout)
            if self.thinking is not None:
                err = name_rejected_option(err, {"thinking": (self.thinking, ("thinking", "budget_tokens"), "")})
            raise err from exc
        try:
            return read_message(resp, self.model)
        except (AttributeError, TypeError, ValueError) as exc:
            raise BadResponse(f"unreadable response: {type(exc).__name__}: {exc}", provider=self.provider,
                              original=exc, endpoint=where) from exc

    async def generate(self, messages: list[Message], *, n: int = 1, temperature: float = 0.0,
                       max_tokens: int = 1024, seed: int | None = None, stop: list[str] | None = None,
                       tools: list[ToolSpec] | None = None) -> list[Completion]:
        return list(await asyncio.gather(*(self._once(messages, temperature, max_tokens, stop, tools)
                                           for _ in range(n))))

    async def close(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            try:
                await client.close()
            except RuntimeError:
                pass
