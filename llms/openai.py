"""``openai:MODEL`` — the official ``openai`` SDK (async), chat completions; any OpenAI-compatible server.

Options: ``base_url`` (else ``$OPENAI_BASE_URL``, else api.openai.com; several servers of one model as a list or a
comma-separated string: requests go to the one with the fewest outstanding, a failing one is out of service until
it answers again, see ``_http.Endpoints``; ``endpoint_backoff``/``endpoint_max_backoff`` seconds), ``api_key`` (else ``$OPENAI_API_KEY``;
``"EMPTY"`` for a custom ``base_url``), ``timeout`` seconds to wait for an answer (default 120: a server that
accepts and never answers fails after that; ``ManagedLLM`` retries a timeout once), ``connect_timeout`` seconds
to open a connection (default 10), ``organization``, ``top_p``,
``presence_penalty``, ``frequency_penalty``, ``extra_body`` (a dict sent as-is). The SDK's own retries are off:
``ManagedLLM`` retries and counts.

Reasoning models (``openai_wire``, ``reasoning``): ``reasoning_effort`` (o-series, gpt-5, gpt-oss: ``none`` ...
``xhigh``) is sent as the API's ``reasoning_effort``; ``enable_thinking`` (Qwen3-style chat templates on vLLM or
SGLang) as ``chat_template_kwargs.enable_thinking``; ``reasoning_tags`` (default ``<think>``/``</think>``; false:
keep replies whole) are split off the content of servers without a reasoning parser; ``max_tokens_param``
(``auto``: ``max_completion_tokens`` for OpenAI's o-series and gpt-5 models, which reject ``max_tokens``, and for
any model whose server answers that 400, once, remembered; or ``max_tokens`` / ``max_completion_tokens``).
Tools are passed as the API's ``tools`` (``supports_tools``); ``native_tools=false`` turns that off for a server
that has no tool-call parser (vLLM without ``--enable-auto-tool-choice``). A 400 about one of these options is
fatal and names it (``llm.options.NAME``).
A server that returns fewer choices than ``n`` (many compatible servers ignore ``n``) gets the back end
switched to one request per sample; ``ManagedLLM`` asks for the missing samples. Every error names the endpoint
(``openai:MODEL at URL``); a URL where nothing listens is ``Unreachable`` at once (no retry).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import weakref
from typing import Any

from semtrace.llms._http import (
    Endpoint,
    Endpoints,
    check_timeouts,
    describe,
    endpoint_urls,
    map_sdk_error,
    split_evenly,
)
from semtrace.llms.base import (
    BadRequest,
    BadResponse,
    Completion,
    LLMConfigError,
    LLMError,
    Message,
    ServerError,
    Timeout,
    ToolSpec,
    Unreachable,
)
from semtrace.llms.openai_wire import (
    completion_of,
    read_choice,
    reported_reasoning_tokens,
    to_openai_messages,
    tools_to_openai,
)
from semtrace.llms.reasoning import (
    DEFAULT_TAGS,
    check_enable_thinking,
    check_max_tokens_param,
    check_reasoning_effort,
    check_tags,
    name_rejected_option,
)

log = logging.getLogger(__name__)

try:
    import openai
except ModuleNotFoundError as exc:  # pragma: no cover - exercised when the extra is missing
    raise ModuleNotFoundError("No module named 'openai'", name="openai") from exc

_SAMPLING = {"top_p", "presence_penalty", "frequency_penalty"}
# OpenAI's reasoning models take max_completion_tokens and reject max_tokens
_COMPLETION_TOKENS_MODELS = re.compile(r"^(o\d|gpt-5)", re.IGNORECASE)
_OPTIONS = ("base_url, api_key, timeout, connect_timeout, organization, max_tokens_param, extra_body, "
            "endpoint_backoff, endpoint_max_backoff, reasoning_effort, enable_thinking, reasoning_tags, native_tools")


def _status_detail(exc: Any) -> tuple[str, str | None]:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    return str(inner.get("message") or getattr(exc, "message", exc)), getattr(exc, "code", None) and str(exc.code)


def map_openai_error(exc: BaseException, provider: str, **where: Any) -> LLMError:
    """An ``openai`` SDK exception as an LLMError (the original is kept); ``where``: ``map_sdk_error``'s
    ``endpoint``, ``timeout``, ``connect_timeout``."""
    return map_sdk_error(exc, openai, provider, _status_detail, **where)


class OpenAIChat:
    """Chat completions through ``openai.AsyncOpenAI`` (one client per event loop)."""

    provider = "openai"
    default_base_url: str | None = None
    native_n = True
    seed_per_sample = False

    def __init__(self, model: str, *, base_url: str | list[str] | None = None, api_key: str | None = None,
                 timeout: float = 120.0, connect_timeout: float = 10.0, organization: str | None = None,
                 max_tokens_param: str = "auto",
                 extra_body: dict[str, Any] | None = None, endpoint_backoff: float = 1.0,
                 endpoint_max_backoff: float = 30.0, reasoning_effort: str | None = None,
                 enable_thinking: bool | None = None, reasoning_tags: Any = DEFAULT_TAGS,
                 native_tools: bool = True, **sampling: Any) -> None:
        unknown = set(sampling) - self._sampling_keys()
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}; "
                            f"valid: {', '.join(sorted(self._sampling_keys()))}, {_OPTIONS}")
        self.model = model
        self.name = f"{self.provider}:{model}"
        try:
            urls = endpoint_urls(base_url or os.environ.get("OPENAI_BASE_URL") or self.default_base_url)
        except ValueError as exc:
            raise LLMConfigError(f"{self.provider}: {exc}") from exc
        # several URLs are replicas of one model: the first names them in the cache key, so adding or removing
        # a replica keeps the cache
        self.base_urls = urls
        self.base_url = urls[0] if urls else None
        self.endpoints = Endpoints(urls or [""], backoff=endpoint_backoff, max_backoff=endpoint_max_backoff)
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key and self.base_url:
            key = "EMPTY"  # local OpenAI-compatible servers accept any key
        if not key:
            raise LLMConfigError(f"{self.provider}: no API key; set OPENAI_API_KEY or pass api_key=... "
                             "(or base_url=... for a local server)")
        self.api_key = key
        self.timeout, self.connect_timeout = check_timeouts(self.provider, timeout, connect_timeout)
        self.organization = organization
        self.max_tokens_param = check_max_tokens_param(max_tokens_param)
        self.reasoning_effort = check_reasoning_effort(reasoning_effort)
        self.enable_thinking = check_enable_thinking(enable_thinking)
        self.reasoning_tags = check_tags(reasoning_tags)
        if not isinstance(native_tools, bool):
            raise LLMConfigError(f"llm.options.native_tools: want true or false, got {native_tools!r}")
        self.supports_tools = native_tools
        # "auto": max_completion_tokens where the model is known to need it, or once its server said so
        self._completion_tokens = self.max_tokens_param == "max_completion_tokens" or (
            self.max_tokens_param == "auto" and self.provider == "openai"
            and bool(_COMPLETION_TOKENS_MODELS.match(model.rsplit("/", 1)[-1])))
        self.sampling = dict(sampling)
        self.extra_body = dict(extra_body or {})
        if self.enable_thinking is not None:
            kwargs = self.extra_body.get("chat_template_kwargs")
            self.extra_body["chat_template_kwargs"] = {**(kwargs if isinstance(kwargs, dict) else {}),
                                                       "enable_thinking": self.enable_thinking}
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
            weakref.WeakKeyDictionary())

    def _sampling_keys(self) -> set[str]:
        return set(_SAMPLING)

    def cache_identity(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "sampling": self.sampling, "extra_body": self.extra_body,
                "reasoning_effort": self.reasoning_effort, "reasoning_tags": self.reasoning_tags}

    def _client(self, url: str = "") -> Any:
        per_url = self._clients.setdefault(asyncio.get_running_loop(), {})
        client = per_url.get(url)
        if client is None:
            client = openai.AsyncOpenAI(api_key=self.api_key, base_url=url or None,
                                        timeout=openai.Timeout(self.timeout, connect=self.connect_timeout),
                                        organization=self.organization, max_retries=0)
            per_url[url] = client
        return client

    def where(self, url: str = "") -> str:
        """This back end at ``url`` (the SDK's default URL when none was given), as errors name it."""
        return describe(self.name, url or str(self._client(url).base_url))

    async def _send(self, body: dict[str, Any]) -> tuple[Any, str]:
        """One request, to the least-busy endpoint in service; a server failure (refused, reset, timeout, 5xx)
        takes that endpoint out and the request goes at once to the next one in service. With none left: the one
        endpoint's own error; ``Unreachable`` when every endpoint refused this request's connection; else a
        transient ``ServerError`` (``retry_after``: until an endpoint may be probed), so the caller's retries
        wait for one to come back. Every error names the endpoint (``describe``). Returns (response, the
        answering endpoint as errors name it)."""
        tried: set[Endpoint] = set()
        refused = 0
        last: LLMError | None = None
        while True:
            endpoint = self.endpoints.pick(tried)
            if endpoint is None:
                single = len(self.endpoints.all) == 1
                if last is not None and (single or (len(tried) == 1 and not isinstance(last, Unreachable))):
                    raise last  # the one endpoint's own error (with its Retry-After)
                where = describe(self.name, ", ".join(e.url for e in self.endpoints.all))
                if refused == len(self.endpoints.all):
                    reason = getattr(last, "reason", "") or str(last)
                    raise Unreachable(f"cannot connect to any of its servers (last: {reason}); is one running? "
                                      "They are the back end's base_url option (in a run: "
                                      "-o 'llm.options.base_url=[URL, ...]')",
                                      provider=self.provider, original=last, endpoint=where)
                raise ServerError(f"no endpoint in service; last error: {last}", provider=self.provider,
                                  original=last, retry_after=self.endpoints.next_due(), endpoint=where)
            tried.add(endpoint)
            try:
                resp = await self._client(endpoint.url).chat.completions.create(**body)
            except (openai.OpenAIError, ValueError) as exc:  # ValueError: a body that is not JSON
                err = map_openai_error(exc, self.provider, endpoint=self.where(endpoint.url),
                                       timeout=self.timeout, connect_timeout=self.connect_timeout)
                down = isinstance(err, (ServerError, Timeout, Unreachable))
                self.endpoints.done(endpoint, ok=not down)
                if not down:
                    raise err from exc
                refused += isinstance(err, Unreachable)
                last = err
                continue
            except BaseException:
                self.endpoints.release(endpoint)  # cancelled: says nothing about the server
                raise
            self.endpoints.done(endpoint, ok=True)
            return resp, self.where(endpoint.url)

    def _request(self, messages: list[Message], n: int, temperature: float, max_tokens: int,
                 seed: int | None, stop: list[str] | None, tools: list[ToolSpec] | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(messages),
            "temperature": temperature,
            "max_completion_tokens" if self._completion_tokens else "max_tokens": max_tokens,
            **{k: v for k, v in self.sampling.items() if k in _SAMPLING},
        }
        if n > 1:
            body["n"] = n
        if seed is not None:
            body["seed"] = seed
        if stop:
            body["stop"] = list(stop)
        if self.reasoning_effort is not None:
            body["reasoning_effort"] = self.reasoning_effort
        if tools:
            body["tools"] = tools_to_openai(tools)
        extra = {**self.extra_body, **{k: v for k, v in self.sampling.items() if k not in _SAMPLING}}
        if extra:
            body["extra_body"] = extra
        return body

    def _rejected(self, err: LLMError, body: dict[str, Any]) -> LLMError:
        """A 400 about an option this back end sent, told as that option (fatal: every request would fail so)."""
        sent: dict[str, tuple[Any, tuple[str, ...], str]] = {}
        if body.get("temperature") != 1:  # o-series and gpt-5 take only 1
            sent["llm.temperature"] = (body.get("temperature"), ("'temperature'",),
                                       "this model takes only temperature 1; set llm.temperature=1")
        if body.get("stop"):
            sent["llm.code_stop"] = (True, ("'stop'",), "this model takes no stop sequences; set llm.code_stop=false")
        if self.reasoning_effort is not None:
            sent["reasoning_effort"] = (self.reasoning_effort, ("reasoning_effort", "reasoning effort"), "")
        if self.enable_thinking is not None:
            sent["enable_thinking"] = (self.enable_thinking, ("enable_thinking", "chat_template_kwargs"), "")
        if body.get("tools"):
            sent["native_tools"] = (True, ("tool-call-parser", "tool choice", "tool_choice", "tools"),
                                    ("start vLLM with --enable-auto-tool-choice --tool-call-parser NAME, or set "
                                     "llm.options.native_tools=false to describe tools in the prompt"))
        return name_rejected_option(err, sent)

    async def _once(self, messages: list[Message], n: int, temperature: float, max_tokens: int,
                    seed: int | None, stop: list[str] | None, tools: list[ToolSpec] | None) -> list[Completion]:
        body = self._request(messages, n, temperature, max_tokens, seed, stop, tools)
        try:
            try:
                resp, where = await self._send(body)
            except BadRequest as err:
                text = err.message.lower()
                if (self.max_tokens_param != "auto" or self._completion_tokens or "max_tokens" not in text
                        or "max_completion_tokens" not in text):
                    raise
                log.warning("%s: the server wants max_completion_tokens instead of max_tokens; sending that from "
                            "now on", self.name)
                self._completion_tokens = True
                body = self._request(messages, n, temperature, max_tokens, seed, stop, tools)
                resp, where = await self._send(body)
        except BadRequest as err:
            raise self._rejected(err, body) from err.original
        try:
            choices = [read_choice(c, self.reasoning_tags) for c in sorted(resp.choices, key=lambda c: c.index or 0)]
            usage = resp.usage
            prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
            completion = int(getattr(usage, "completion_tokens", 0) or 0)
            reasoning = reported_reasoning_tokens(usage)
            model = getattr(resp, "model", None) or self.model
        except (AttributeError, TypeError, ValueError) as exc:
            raise BadResponse(f"unreadable response: {type(exc).__name__}: {exc}", provider=self.provider,
                              original=exc, endpoint=where) from exc
        if not isinstance(model, str):
            model = self.model
        if not choices:
            raise BadResponse("the response has no choices", provider=self.provider, endpoint=where)
        k = len(choices)
        r_split: list[int | None] = [None] * k if reasoning is None else split_evenly(reasoning, k)
        return [completion_of(ch, p, c, r, model)
                for ch, p, c, r in zip(choices, split_evenly(prompt, k), split_evenly(completion, k), r_split)]

    async def generate(self, messages: list[Message], *, n: int = 1, temperature: float = 0.0,
                       max_tokens: int = 1024, seed: int | None = None, stop: list[str] | None = None,
                       tools: list[ToolSpec] | None = None) -> list[Completion]:
        """Up to ``n`` completions: a server that ignores ``n`` returns fewer (``ManagedLLM`` asks for the
        rest, one request per sample, so every request is counted); ``native_n`` is then switched off."""
        tools = tools if self.supports_tools else None
        if not self.native_n and n > 1:
            parts = await asyncio.gather(*(
                self._once(messages, 1, temperature, max_tokens, None if seed is None else seed + i, stop, tools)
                for i in range(n)))
            return [c for part in parts for c in part]
        out = (await self._once(messages, n, temperature, max_tokens, seed, stop, tools))[:n]
        if len(out) < n:
            log.warning("%s: the server returned %d of %d choices (it ignores n); "
                        "sending one request per sample from now on", self.name, len(out), n)
            self.native_n = False
        return out

    async def close(self) -> None:
        clients = [c for per_url in self._clients.values() for c in per_url.values()]
        self._clients.clear()
        for client in clients:
            try:
                await client.close()
            except RuntimeError:  # its loop is gone
                pass
