"""The LLM contract: messages in, completions out. Every back end implements ``generate``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    latency: float = 0.0
    cached: bool = False
    model: str = ""


@runtime_checkable
class LLM(Protocol):
    """An LLM back end. ``generate`` returns ``n`` completions for one conversation."""

    name: str

    async def generate(
        self,
        messages: list[Message],
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        seed: int | None = None,
        stop: list[str] | None = None,
    ) -> list[Completion]: ...


class LLMConfigError(ValueError):
    """A bad LLM spec or option (unknown provider syntax, no API key, an option the back end does not take); the
    message says what to write instead. A user error, reported in one line by the commands."""


class LLMError(Exception):
    """An infrastructure failure talking to an LLM; keeps the provider and the original exception.

    ``endpoint`` says where (``"openai:gpt-4o-mini at https://api.openai.com/v1"``; the back end's name alone when it
    has no URL) and starts the message, so every error names the model and the server. ``fatal`` (class default,
    or set on one error by ``ManagedLLM``) means every other request to this endpoint would fail the same way (it
    cannot be reached, answered nothing at all, refuses the key, has no quota): a caller sending many requests,
    such as a run, should stop instead of failing them one by one."""

    transient: bool = False
    fatal: bool = False

    def __init__(self, message: str, *, provider: str = "", original: BaseException | None = None,
                 retry_after: float | None = None, endpoint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.original = original
        self.retry_after = retry_after
        self.endpoint = endpoint

    def __str__(self) -> str:
        if self.endpoint and not self.message.startswith(self.endpoint):
            return f"{self.endpoint}: {self.message}"
        return self.message


class RateLimited(LLMError):
    transient = True


class Timeout(LLMError):
    transient = True


class ServerError(LLMError):
    transient = True


class Unreachable(LLMError):
    """No connection could be made (refused, unknown host): nothing serves at that URL, so retrying is pointless;
    the message names the URL and the option that sets it. ``reason``: the connection's own error, in words."""

    fatal = True
    reason: str = ""


class ContextTooLong(LLMError):
    pass


class AuthFailed(LLMError):
    fatal = True


class BadResponse(LLMError):
    pass


def messages_from(data: list[dict[str, Any]] | list[Message]) -> list[Message]:
    return [m if isinstance(m, Message) else Message(role=m["role"], content=m["content"]) for m in data]


class BadRequest(LLMError):
    """The provider rejected the request itself (a 4xx other than auth, rate limit or context length)."""


class QuotaExceeded(LLMError):
    """The account is out of quota or credit (e.g. OpenAI's 429 ``insufficient_quota``): retrying will not help."""

    fatal = True
