"""Shared helpers for the HTTP back ends: status codes and headers to the LLMError hierarchy."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from semtrace.llms.base import (
    AuthFailed,
    BadRequest,
    BadResponse,
    ContextTooLong,
    LLMError,
    QuotaExceeded,
    RateLimited,
    ServerError,
    Timeout,
)

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


def map_sdk_error(exc: BaseException, sdk: ModuleType, provider: str,
                  status_detail: Callable[[Any], tuple[str, str | None]]) -> LLMError:
    """An exception of a Stainless-generated SDK (``openai``, ``anthropic``: same exception classes) as an
    LLMError, keeping the original. ``status_detail(exc)`` reads (message, error code) from an APIStatusError's
    body, the one thing the providers' wire formats do differently."""
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, sdk.APITimeoutError):
        return Timeout(f"request timed out: {exc}", provider=provider, original=exc)
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc
        return ServerError(f"connection failed: {type(cause).__name__}: {cause}", provider=provider, original=exc)
    if isinstance(exc, sdk.APIStatusError):
        message, code = status_detail(exc)
        return error_from_status(exc.status_code, message, provider=provider,
                                 original=exc, headers=exc.response.headers, code=code)
    return BadResponse(f"unreadable response: {type(exc).__name__}: {exc}", provider=provider, original=exc)


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` shared across ``parts`` integers that sum back to it exactly."""
    q, r = divmod(max(0, total), max(1, parts))
    return [q + 1 if i < r else q for i in range(parts)]
