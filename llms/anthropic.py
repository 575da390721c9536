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
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import Any

from semtrace.llms._http import describe, map_sdk_error
from semtrace.llms.base import BadResponse, Completion, LLMConfigError, LLMError, Message, Usage

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


def to_anthropic(messages: list[Message]) -> tuple[str | None, list[dict[str, str]]]:
    """(system, turns): system messages joined; same-role neighbours merged."""
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    turns: list[dict[str, str]] = []
    for m in messages:
        if m.role == "system":
            continue
        if turns and turns[-1]["role"] == m.role:
            turns[-1]["content"] += "\n\n" + m.content
        else:
            turns.append({"role": m.role, "content": m.content})
    return system, turns


class AnthropicChat:
    provider = "anthropic"
    native_n = False

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 120.0, connect_timeout: float = 10.0, top_p: float | None = None,
                 top_k: int | None = None,
                 sampling: bool = True) -> None:
        self.model = model
        self.name = f"anthropic:{model}"
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL")
        self.api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")
        if not self.api_key:
            raise LLMConfigError("anthropic: no API key; set ANTHROPIC_API_KEY or pass api_key=...")
        try:
            self.timeout, self.connect_timeout = float(timeout), float(connect_timeout)
        except (TypeError, ValueError):
            self.timeout = self.connect_timeout = -1.0
        if not (self.timeout > 0 and self.connect_timeout > 0):
            raise LLMConfigError(f"anthropic: timeout and connect_timeout must be > 0 seconds, got {timeout} and "
                                 f"{connect_timeout}")
        self.send_sampling = bool(sampling)
        self.sampling = {k: v for k, v in {"top_p": top_p, "top_k": top_k}.items() if v is not None}
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()

    def cache_identity(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "sampling": self.sampling, "send_sampling": self.send_sampling}

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = anthropic.AsyncAnthropic(api_key=self.api_key, base_url=self.base_url,
                                              timeout=anthropic.Timeout(self.timeout, connect=self.connect_timeout),
                                              max_retries=0)
            self._clients[loop] = client
        return client

    async def _once(self, messages: list[Message], temperature: float, max_tokens: int,
                    stop: list[str] | None) -> Completion:
        system, turns = to_anthropic(messages)
        body: dict[str, Any] = {"model": self.model, "messages": turns, "max_tokens": max_tokens}
        if system:
            body["system"] = system
        if stop:
            body["stop_sequences"] = list(stop)
        if self.send_sampling:
            body["extra_body"] = {"temperature": temperature, **self.sampling}
        client = self._client()
        where = describe(self.name, self.base_url or str(client.base_url))
        try:
            resp = await client.messages.create(**body)
        except (anthropic.AnthropicError, ValueError) as exc:  # ValueError: a body that is not JSON
            raise map_anthropic_error(exc, self.provider, endpoint=where, timeout=self.timeout,
                                      connect_timeout=self.connect_timeout) from exc
        try:
            text = "".join(getattr(block, "text", "") for block in resp.content
                           if getattr(block, "type", "") == "text")
            usage = Usage(int(resp.usage.input_tokens or 0), int(resp.usage.output_tokens or 0))
            finish = _FINISH.get(str(resp.stop_reason), str(resp.stop_reason))
            model = resp.model if isinstance(resp.model, str) else self.model
        except (AttributeError, TypeError, ValueError) as exc:
            raise BadResponse(f"unreadable response: {type(exc).__name__}: {exc}", provider=self.provider,
                              original=exc, endpoint=where) from exc
        return Completion(text=text, finish_reason=finish, usage=usage, model=model)

    async def generate(self, messages: list[Message], *, n: int = 1, temperature: float = 0.0,
                       max_tokens: int = 1024, seed: int | None = None,
                       stop: list[str] | None = None) -> list[Completion]:
        return list(await asyncio.gather(*(self._once(messages, temperature, max_tokens, stop) for _ in range(n))))

    async def close(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            try:
                await client.close()
            except RuntimeError:
                pass
