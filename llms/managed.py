"""The wrapper every back end gets from ``make_llm``: cache, bounded concurrency, retries, accounting.

A back end only has to implement ``generate`` (one attempt, raising ``LLMError`` subclasses). This module
adds, per sample index: a cache lookup; for the misses, calls under a per-back-end semaphore, retried with
a retry on transient errors (exponential backoff with jitter, ``Retry-After`` honoured, bounded attempts and
bounded total time, each retry logged at WARNING and counted); then the cache write and the accounting. A final
error names the endpoint (the back end's, else this LLM's name); a transient one after which nothing at all was
answered during the whole retry window is marked ``fatal`` (the server is down or hung, not this request slow).

Optional back-end attributes read here: ``cacheable`` (default True), ``free`` (local: cost 0),
``native_n`` (default True: one call returns n samples; False: one call per sample), ``seed_per_sample``
(default False: with a seed, one call per sample with seed + index), ``cache_identity()`` (JSON-able
options that change outputs), ``supports_tools`` (default False: the back end passes ``tools`` through its
provider's own tool calling; ``tools`` are given only to one that does, and to any other they are an error, so
a caller checks ``llm.supports_tools`` and describes tools in the prompt instead). Sample i of a call seeded s is
reproducible as seed s + i. The cache key covers the tools too, and a cached completion comes back whole
(reasoning, tool calls, usage).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from semtrace.llms._http import describe
from semtrace.llms.accounting import Accounting, UsageTotals, current_scope
from semtrace.llms.base import (
    LLM,
    BadResponse,
    Completion,
    LLMConfigError,
    LLMError,
    Message,
    RateLimited,
    Timeout,
    ToolSpec,
)
from semtrace.llms.cache import ResponseCache, cache_key

log = logging.getLogger(__name__)


class RetryPolicy(BaseModel):
    """Retries for transient errors (rate limits, timeouts, 5xx, dropped connections). A connection that cannot be
    made at all (``Unreachable``) is not transient: it fails at once."""

    model_config = ConfigDict(frozen=True)
    max_attempts: int = Field(6, ge=1)
    timeout_attempts: int = Field(2, ge=1)   # attempts when they time out: each one already waited `timeout`
    max_total: float = Field(300.0, ge=0)    # no retry after this many seconds since the first attempt began
    initial: float = Field(1.0, ge=0)        # first backoff, seconds
    max_wait: float = Field(60.0, ge=0)      # cap of one backoff
    jitter: float = Field(1.0, ge=0)         # up to this many seconds of random jitter
    retry_after_cap: float = Field(120.0, ge=0)  # longest Retry-After we obey


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, LLMError) and exc.transient


class ManagedLLM:
    """Implements the ``LLM`` protocol around a raw back end."""

    def __init__(self, backend: LLM, *, provider: str, model: str, concurrency: int = 8,
                 retry: RetryPolicy | None = None, cache: ResponseCache | None = None,
                 accounting: Accounting | None = None) -> None:
        if concurrency < 1:
            raise LLMConfigError(f"concurrency must be >= 1, got {concurrency}")
        self.backend = backend
        self.provider = provider
        self.model = model
        self.name = f"{provider}:{model}"
        self.concurrency = concurrency
        self.retry = retry or RetryPolicy()
        self.cache = cache if getattr(backend, "cacheable", True) else None
        self.accounting = accounting if accounting is not None else Accounting()
        self._force_per_sample = False
        self._answered = float("-inf")  # monotonic time of the last answer from the back end (see _final)
        self._sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()

    # -- helpers ---------------------------------------------------------------------------------
    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(self.concurrency)
        return sem

    def _delay(self, exc: BaseException, attempt: int) -> float:
        """Seconds to wait before the attempt after ``attempt`` (1-based) failed with ``exc``: its Retry-After
        (capped), else exponential backoff with jitter."""
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and retry_after >= 0:
            return min(float(retry_after), self.retry.retry_after_cap)
        backoff = self.retry.initial * 2 ** max(0, attempt - 1)
        return min(self.retry.max_wait, backoff + random.uniform(0, self.retry.jitter))

    def _plan(self, missing: list[int], seed: int | None) -> list[tuple[list[int], int | None]]:
        """Group missing sample indices into calls: (indices, seed for the call)."""
        per_sample = self._force_per_sample or not getattr(self.backend, "native_n", True) or (
            seed is not None and getattr(self.backend, "seed_per_sample", False))
        if per_sample:
            return [([i], None if seed is None else seed + i) for i in missing]
        groups: list[list[int]] = []
        for i in missing:
            if groups and groups[-1][-1] == i - 1:
                groups[-1].append(i)
            else:
                groups.append([i])
        return [(g, None if seed is None else seed + g[0]) for g in groups]

    @property
    def supports_tools(self) -> bool:
        """Whether ``generate(tools=...)`` reaches the provider's own tool calling."""
        return bool(getattr(self.backend, "supports_tools", False))

    def where(self) -> str:
        """This LLM as errors name it: ``provider:model at URL`` when the back end has URLs, else its name."""
        urls = getattr(self.backend, "base_urls", None) or [getattr(self.backend, "base_url", None)]
        urls = [str(u) for u in urls if u]
        return describe(self.name, ", ".join(urls)) if urls else self.name

    def _limit(self, exc: BaseException | None) -> int:
        """Attempts allowed for a request whose last attempt raised ``exc``."""
        if isinstance(exc, Timeout):
            return min(self.retry.max_attempts, self.retry.timeout_attempts)
        return self.retry.max_attempts

    def _stop(self, exc: BaseException, attempt: int, first_start: float, upcoming: float) -> bool:
        """Stop after ``max_attempts`` (``timeout_attempts`` when the last one timed out), or when the next
        attempt would begin more than ``max_total`` seconds after the first one did."""
        if attempt >= self._limit(exc):
            return True
        return time.monotonic() - first_start + upcoming > self.retry.max_total

    def _final(self, exc: BaseException, attempts: int, first_start: float) -> None:
        """Name the endpoint on a final error; mark a transient one (timeouts, 5xx, dropped connections; not rate
        limits: a throttling server works) fatal when nothing this LLM sent was answered since its first attempt
        began: the server is down or hung, not this request slow."""
        if not isinstance(exc, LLMError):
            return
        if not exc.endpoint:
            exc.endpoint = self.where()
        evidence = attempts >= 2 or isinstance(exc, Timeout)  # one quick 5xx alone says little about the server
        if exc.transient and not isinstance(exc, RateLimited) and evidence and self._answered < first_start:
            elapsed = time.monotonic() - first_start
            exc.fatal = True
            exc.message = (f"{exc.message}; {attempts} attempt{'s' * (attempts > 1)} over {elapsed:.0f}s and no "
                           "request to it was answered meanwhile: is the server down, hung or overloaded?")

    async def _call(self, messages: list[Message], n: int, seed: int | None, kwargs: dict[str, Any],
                    scope: tuple[str | None, int | None]) -> list[Completion]:
        attempts = 0
        waited = 0.0
        spent = 0.0
        first_start: float | None = None
        try:
            while True:  # one attempt, then a retry per transient error, within the policy's bounds
                try:
                    async with self._semaphore():
                        attempts += 1
                        t0 = time.perf_counter()
                        if first_start is None:
                            first_start = time.monotonic()
                        try:
                            out = await self.backend.generate(messages, n=n, seed=seed, **kwargs)
                        except LLMError as exc:
                            if not exc.transient and not exc.fatal:  # the server answered, with an error
                                self._answered = time.monotonic()
                            raise
                        finally:
                            spent += time.perf_counter() - t0
                        self._answered = time.monotonic()
                    if not out:
                        raise BadResponse(f"asked for {n} completions, got none", provider=self.provider,
                                          endpoint=self.where())
                    out = list(out)[:n]  # fewer than n: the server ignored n; generate() asks for the rest
                    break
                except Exception as exc:
                    if not _transient(exc):
                        raise
                    delay = self._delay(exc, attempts)
                    if self._stop(exc, attempts, first_start if first_start is not None else time.monotonic(),
                                  delay):
                        raise
                    waited += delay
                    log.warning("%s: %s: %s; retry %d/%d in %.1fs", self.name, type(exc).__name__, exc,
                                attempts, self._limit(exc) - 1, delay)
                    await asyncio.sleep(delay)
        except asyncio.CancelledError:  # the caller gave up: count what was sent, not an error
            self.accounting.add(UsageTotals(requests=attempts, retries=max(0, attempts - 1), latency=spent,
                                            retry_wait=waited), scope)
            raise
        except Exception as exc:
            self._final(exc, attempts, first_start if first_start is not None else time.monotonic())
            self.accounting.record_call(model=self.model, prompt_tokens=0, completion_tokens=0, completions=0,
                                        requests=attempts, retries=max(0, attempts - 1), latency=spent,
                                        retry_wait=waited, failed=True, scope=scope)
            raise
        if out and all(c.latency > 0 for c in out):
            spent = sum(c.latency for c in out)  # the back end timed its own work (queueing excluded)
        per = spent / max(1, len(out))
        out = [c if c.latency else replace(c, latency=per) for c in out]
        self.accounting.record_call(
            model=self.model, prompt_tokens=sum(c.usage.prompt_tokens for c in out),
            completion_tokens=sum(c.usage.completion_tokens for c in out), completions=len(out),
            reasoning_tokens=sum(c.usage.reasoning_tokens for c in out),
            unfinished_reasoning=sum(c.reasoning_unfinished for c in out),
            requests=attempts, retries=attempts - 1, latency=spent, retry_wait=waited,
            free=bool(getattr(self.backend, "free", False)), scope=scope)
        return out

    def _identity(self) -> dict[str, Any]:
        fn = getattr(self.backend, "cache_identity", None)
        return dict(fn()) if callable(fn) else {}

    # -- the contract ----------------------------------------------------------------------------
    async def generate(self, messages: list[Message], *, n: int = 1, temperature: float = 0.0,
                       max_tokens: int = 1024, seed: int | None = None, stop: list[str] | None = None,
                       tools: list[ToolSpec] | None = None) -> list[Completion]:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if tools and not self.supports_tools:
            raise LLMConfigError(f"{self.name} has no native tool calling (supports_tools is False); describe the "
                                 "tools in the prompt instead of passing tools=")
        scope = current_scope()
        self.accounting.add(UsageTotals(calls=1), scope)
        kwargs: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens, "stop": stop}
        if tools:  # only then: a back end written before tools existed keeps working
            kwargs["tools"] = list(tools)
        results: list[Completion | None] = [None] * n
        keys: list[str] = []
        if self.cache is not None:
            params = {"temperature": temperature, "max_tokens": max_tokens, "stop": list(stop or []),
                      "backend": self._identity()}
            keys = [cache_key(self.provider, self.model, messages, params, seed, i, tools=tools) for i in range(n)]
            results = [self.cache.get(k) for k in keys]
            hits = [c for c in results if c is not None]
            if hits:
                self.accounting.record_cache_hits(
                    prompt_tokens=sum(c.usage.prompt_tokens for c in hits),
                    completion_tokens=sum(c.usage.completion_tokens for c in hits), hits=len(hits), scope=scope,
                    reasoning_tokens=sum(c.usage.reasoning_tokens for c in hits),
                    unfinished_reasoning=sum(c.reasoning_unfinished for c in hits))
        for _ in range(2):  # a second pass asks, one request per sample, for what a server that ignores n left out
            missing = [i for i, c in enumerate(results) if c is None]
            if not missing:
                break
            plan = self._plan(missing, seed)
            outs: list[Any]
            if len(plan) == 1:  # the usual case: one call, awaited here (no task of its own to schedule)
                try:
                    outs = [await self._call(messages, len(plan[0][0]), plan[0][1], kwargs, scope)]
                except Exception as exc:  # noqa: BLE001 - raised below, as gather's return_exceptions would
                    outs = [exc]
            else:
                outs = await asyncio.gather(
                    *(self._call(messages, len(idx), s, kwargs, scope) for idx, s in plan), return_exceptions=True)
            first_error: BaseException | None = None
            for (idx, _), out in zip(plan, outs):
                if isinstance(out, BaseException):
                    first_error = first_error or out
                    continue
                for i, comp in zip(idx, out):
                    results[i] = comp
                if self.cache is not None:
                    self.cache.put_many([(keys[i], self.provider, comp) for i, comp in zip(idx, out)])
            if first_error is not None:
                raise first_error
            if any(len(out) < len(idx) for (idx, _), out in zip(plan, outs)):  # type: ignore[arg-type]
                if not self._force_per_sample:
                    log.warning("%s: the back end returned fewer than n completions; asking one per sample",
                                self.name)
                self._force_per_sample = True
        if any(c is None for c in results):
            raise BadResponse(f"asked for {n} completions, got {sum(c is not None for c in results)}",
                              provider=self.provider, endpoint=self.where())
        return [c for c in results if c is not None]

    async def close(self) -> None:
        closer = getattr(self.backend, "close", None)
        if closer is not None:
            res = closer()
            if asyncio.iscoroutine(res):
                await res

    def __repr__(self) -> str:
        return f"ManagedLLM({self.name!r}, concurrency={self.concurrency}, cache={self.cache is not None})"
