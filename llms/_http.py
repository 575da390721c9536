"""Shared helpers for the HTTP back ends: status codes and headers to the LLMError hierarchy, and the balancing of
several endpoints (replicas of one model) by outstanding requests."""

from __future__ import annotations

import email.utils
import logging
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from semtrace.llms.base import (
    AuthFailed,
    BadRequest,
    BadResponse,
    ContextTooLong,
    LLMConfigError,
    LLMError,
    QuotaExceeded,
    RateLimited,
    ServerError,
    Timeout,
    Unreachable,
)

log = logging.getLogger(__name__)

_CONTEXT = re.compile(
    r"context[_ ]length|maximum context|context window|prompt is too long|too many tokens|"
    r"exceeds? (the )?(model'?s? )?(max(imum)? )?(context|input)|input is too long|reduce the length", re.IGNORECASE)


def is_context_error(message: str, code: str | None = None) -> bool:
    return code in {"context_length_exceeded", "string_above_max_length"} or bool(_CONTEXT.search(message or ""))


def retry_after(headers: Mapping[str, str] | Any | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date); None when absent."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
        value = headers.get("retry-after")
    except AttributeError:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_from_status(status: int, message: str, *, provider: str, original: BaseException,
                      headers: Any = None, code: str | None = None) -> LLMError:
    """Map an HTTP error response to the hierarchy; transient classes get ``retry_after`` when sent."""
    wait = retry_after(headers)
    message = " ".join(str(message).split())  # one line, whatever the server's body held
    text = f"HTTP {status}: {message}"
    if status == 429:
        if code == "insufficient_quota" or "insufficient_quota" in message:
            return QuotaExceeded(text, provider=provider, original=original)
        return RateLimited(text, provider=provider, original=original, retry_after=wait)
    if status in (401, 403):
        return AuthFailed(f"{text} (check the API key and its permissions)", provider=provider, original=original)
    if status in (400, 413, 422) and is_context_error(message, code):
        return ContextTooLong(text, provider=provider, original=original)
    if status in (408, 409) or status >= 500:
        return ServerError(text, provider=provider, original=original, retry_after=wait)
    return BadRequest(text, provider=provider, original=original)


UNREACHABLE_FIX = ("is the server running at that URL? It is the back end's base_url option "
                   "(in a run: -o llm.options.base_url=URL)")


def check_timeouts(provider: str, timeout: Any, connect_timeout: Any) -> tuple[float, float]:
    """(timeout, connect_timeout) as positive seconds; LLMConfigError naming both when either is not one."""
    try:
        read, connect = float(timeout), float(connect_timeout)
    except (TypeError, ValueError):
        read = connect = -1.0
    if not (read > 0 and connect > 0):
        raise LLMConfigError(f"{provider}: timeout and connect_timeout must be > 0 seconds, got {timeout} and "
                             f"{connect_timeout}")
    return read, connect


def describe(name: str, url: str | None) -> str:
    """How errors name an endpoint: ``"openai:gpt-4o-mini at https://api.openai.com/v1"``."""
    return f"{name} at {url.rstrip('/')}" if url else name


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def _connect_failure(exc: BaseException) -> BaseException | None:
    """The root cause when ``exc`` failed to open a connection at all (refused, unknown host, no route): the
    HTTP client's ``ConnectError`` (httpx and its forks) or the OSError under it; None for failures after the
    connection was made (reset, closed without a response)."""
    chain = _chain(exc)
    if not any(type(e).__name__ == "ConnectError" or isinstance(e, (ConnectionRefusedError, socket.gaierror))
               for e in chain):
        return None
    return chain[-1]


def map_sdk_error(exc: BaseException, sdk: ModuleType, provider: str,
                  status_detail: Callable[[Any], tuple[str, str | None]], *, endpoint: str | None = None,
                  timeout: float | None = None, connect_timeout: float | None = None) -> LLMError:
    """An exception of a Stainless-generated SDK (``openai``, ``anthropic``: same exception classes) as an
    LLMError, keeping the original. ``status_detail(exc)`` reads (message, error code) from an APIStatusError's
    body, the one thing the providers' wire formats do differently. ``endpoint`` (``describe(name, url)``) starts
    the message; ``timeout``/``connect_timeout`` (seconds) are named in a timeout's."""
    if isinstance(exc, LLMError):
        if endpoint and not exc.endpoint:
            exc.endpoint = endpoint
        return exc
    if isinstance(exc, sdk.APITimeoutError):
        if any(type(e).__name__ == "ConnectTimeout" for e in _chain(exc)):
            limit = f" within {connect_timeout:g}s (the connect_timeout option)" if connect_timeout else ""
            return Timeout(f"could not connect{limit}", provider=provider, original=exc, endpoint=endpoint)
        limit = f" within {timeout:g}s" if timeout else ""
        return Timeout(f"no answer{limit}; if the server is only slow, raise the back end's timeout option (in a "
                       "run: -o llm.options.timeout=SECONDS)", provider=provider, original=exc, endpoint=endpoint)
    if isinstance(exc, sdk.APIConnectionError):
        root = _connect_failure(exc)
        if root is not None:
            err = Unreachable(f"cannot connect ({type(root).__name__}: {root}); {UNREACHABLE_FIX}",
                              provider=provider, original=exc, endpoint=endpoint)
            err.reason = f"{type(root).__name__}: {root}"
            return err
        cause = exc.__cause__ or exc
        return ServerError(f"connection failed: {type(cause).__name__}: {cause}", provider=provider, original=exc,
                           endpoint=endpoint)
    if isinstance(exc, sdk.APIStatusError):
        message, code = status_detail(exc)
        err = error_from_status(exc.status_code, message, provider=provider,
                                original=exc, headers=exc.response.headers, code=code)
        err.endpoint = endpoint
        return err
    return BadResponse(f"unreadable response: {type(exc).__name__}: {exc}", provider=provider, original=exc,
                       endpoint=endpoint)


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` shared across ``parts`` integers that sum back to it exactly."""
    q, r = divmod(max(0, total), max(1, parts))
    return [q + 1 if i < r else q for i in range(parts)]


def endpoint_urls(value: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``base_url`` as given: one URL, a comma-separated string of them, or a list."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    urls = [str(u).strip() for u in items if str(u).strip()]
    if len(set(urls)) != len(urls):
        raise ValueError(f"base_url lists a URL twice: {', '.join(urls)}")
    return urls


@dataclass(eq=False)
class Endpoint:
    """One server of a back end: its outstanding requests and its health."""

    url: str
    outstanding: int = 0
    failures: int = 0  # consecutive transient failures; 0 = in service
    down_until: float = 0.0  # monotonic time before which it gets no request
    served: int = 0
    failed: int = 0
    last_pick: int = 0  # for ties: the least recently chosen goes first

    @property
    def healthy(self) -> bool:
        return self.failures == 0


class Endpoints:
    """Several replicas of one model, balanced by outstanding requests. An endpoint whose request fails with a
    transient server error (connection refused or reset, timeout, 5xx) is out for ``backoff`` seconds, doubling
    per consecutive failure up to ``max_backoff``; after that one request probes it (others keep going to the
    healthy ones) and the first answer puts it back."""

    def __init__(self, urls: list[str], *, backoff: float = 1.0, max_backoff: float = 30.0) -> None:
        if not urls:
            raise ValueError("no endpoint URL")
        self.all = [Endpoint(u) for u in urls]
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self._picks = 0

    def pick(self, exclude: set[Endpoint] | None = None) -> Endpoint | None:
        """A due probe first (one at a time), else the healthy endpoint with the fewest outstanding requests;
        None when every endpoint not in ``exclude`` is out."""
        now = time.monotonic()
        pool = [e for e in self.all if not exclude or e not in exclude]
        if len(self.all) == 1:  # one server: always tried; its failures are the caller's retries' business
            return self._take(pool[0]) if pool else None
        probes = [e for e in pool if not e.healthy and e.down_until <= now and e.outstanding == 0]
        if probes:
            chosen = min(probes, key=lambda e: e.down_until)
        else:
            up = [e for e in pool if e.healthy]
            if not up:
                return None
            chosen = min(up, key=lambda e: (e.outstanding, e.last_pick))
        return self._take(chosen)

    def _take(self, endpoint: Endpoint) -> Endpoint:
        self._picks += 1
        endpoint.outstanding += 1
        endpoint.last_pick = self._picks
        return endpoint

    def next_due(self) -> float | None:
        """Seconds until the first endpoint that is out and not being probed may be probed; None when every
        endpoint that is out has a probe in flight (its answer, not a clock, decides: the caller's own backoff
        applies, instead of a zero wait that would spend every attempt at once)."""
        waiting = [e.down_until for e in self.all if not e.healthy and e.outstanding == 0]
        if not waiting:
            return None
        return max(0.0, min(waiting) - time.monotonic())

    def release(self, endpoint: Endpoint) -> None:
        """After a request that ended with neither an answer nor a server failure (cancelled): no evidence
        either way, so its health stays as it was."""
        endpoint.outstanding -= 1

    def done(self, endpoint: Endpoint, ok: bool) -> None:
        """After a request: ``ok`` (it answered, even with an error of the request's own) or a server failure."""
        endpoint.outstanding -= 1
        if ok:
            endpoint.served += 1
            if endpoint.failures:
                log.info("endpoint %s answers again; back in service", endpoint.url)
            endpoint.failures, endpoint.down_until = 0, 0.0
            return
        endpoint.failed += 1
        if len(self.all) == 1:
            return
        endpoint.failures += 1
        pause = min(self.max_backoff, self.backoff * 2 ** (endpoint.failures - 1))
        endpoint.down_until = time.monotonic() + pause
        log.warning("endpoint %s failed (%d in a row); out of service for %.1fs", endpoint.url,
                    endpoint.failures, pause)
