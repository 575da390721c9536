"""The LLM contract: messages in, completions out. Every back end implements ``generate``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class TextPart:
    """Answer or prompt text."""

    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class ReasoningPart:
    """What a reasoning model thought before it answered (OpenAI/vLLM ``reasoning_content``/``reasoning``,
    Anthropic ``thinking``, an inline ``<think>`` block). ``signature``: Anthropic's, kept so a turn can be sent
    back verbatim within one tool loop; ``redacted``: Anthropic's ``redacted_thinking`` (``text`` is its opaque
    data). Recorded and counted; never sent back in a later round."""

    text: str
    signature: str = ""
    redacted: bool = False
    kind: Literal["reasoning"] = "reasoning"


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for. ``arguments``: the decoded JSON object, or the raw text when it is not one
    (a malformed call is the caller's to answer, never a crash of the back end)."""

    id: str
    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True)
class ToolResult:
    """The answer to one ``ToolCall`` (a ``tool`` message's part)."""

    call_id: str
    content: str
    is_error: bool = False
    kind: Literal["tool_result"] = "tool_result"


Part = TextPart | ReasoningPart | ToolCall | ToolResult
PART_TYPES: dict[str, type] = {"text": TextPart, "reasoning": ReasoningPart, "tool_call": ToolCall,
                               "tool_result": ToolResult}


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and its arguments' JSON Schema."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class Message:
    """One turn. ``content`` is plain text (the common case) or typed parts; ``text`` is its text either way."""

    role: Role
    content: str | tuple[Part, ...]

    @property
    def parts(self) -> tuple[Part, ...]:
        if isinstance(self.content, str):
            return (TextPart(self.content),) if self.content else ()
        return self.content

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    def to_dict(self) -> dict[str, Any]:
        if isinstance(self.content, str):
            return {"role": self.role, "content": self.content}
        return {"role": self.role, "content": [dataclasses.asdict(p) for p in self.content]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        content = data["content"]
        if isinstance(content, str):
            return cls(data["role"], content)
        return cls(data["role"], tuple(part_from_dict(p) for p in content))


def part_from_dict(data: dict[str, Any]) -> Part:
    kind = data.get("kind", "text")
    if kind not in PART_TYPES:
        raise ValueError(f"unknown message part kind {kind!r}; valid: {', '.join(PART_TYPES)}")
    return PART_TYPES[kind](**{k: v for k, v in data.items() if k != "kind"})


@dataclass(frozen=True)
class Usage:
    """Tokens of one call. ``completion_tokens`` counts everything the model wrote, reasoning included (the
    providers' convention); ``reasoning_tokens`` is the reasoning's share, so the answer's is the difference."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def answer_tokens(self) -> int:
        return max(0, self.completion_tokens - self.reasoning_tokens)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    """One sample. ``text`` is the answer only (reasoning split off: code is extracted from it alone);
    ``reasoning`` what the model thought first; ``tool_calls`` the calls it asked for; ``reasoning_unfinished``
    that the reasoning never closed (the budget ran out while thinking): there is no answer, and ``text`` is
    empty."""

    text: str
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    latency: float = 0.0
    cached: bool = False
    model: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning_unfinished: bool = False
    reasoning_parts: tuple[ReasoningPart, ...] = ()  # as the provider sent them (signatures, redacted blocks)

    @property
    def parts(self) -> tuple[Part, ...]:
        """The reply as message parts: reasoning, answer text, tool calls."""
        reasoning: tuple[Part, ...] = self.reasoning_parts or ((ReasoningPart(self.reasoning),) if self.reasoning
                                                               else ())
        text: tuple[Part, ...] = (TextPart(self.text),) if self.text else ()
        return (*reasoning, *text, *self.tool_calls)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-able (the cache and run records store completions whole)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Completion:
        """The inverse of ``to_dict``; keys it does not know are ignored (a record from a newer version)."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        usage = values.get("usage") or {}
        values["usage"] = usage if isinstance(usage, Usage) else Usage(
            **{k: int(v) for k, v in usage.items() if k in {"prompt_tokens", "completion_tokens",
                                                           "reasoning_tokens"}})
        values["tool_calls"] = tuple(p if isinstance(p, ToolCall) else part_from_dict({**p, "kind": "tool_call"})
                                     for p in values.get("tool_calls") or ())
        values["reasoning_parts"] = tuple(
            p if isinstance(p, ReasoningPart) else part_from_dict({**p, "kind": "reasoning"})
            for p in values.get("reasoning_parts") or ())
        return cls(**values)

    def to_message(self, *, reasoning: bool = False) -> Message:
        """The reply as an assistant turn to send back: without its reasoning (the vendors' rule across rounds),
        unless ``reasoning`` (within one tool loop, where Anthropic requires the signed thinking blocks)."""
        parts = tuple(p for p in self.parts if reasoning or not isinstance(p, ReasoningPart))
        if all(isinstance(p, TextPart) for p in parts):
            return Message("assistant", self.text)
        return Message("assistant", parts)


UNFINISHED_REASONING = "the reasoning did not finish within max_tokens"
"""Why a completion with ``reasoning_unfinished`` has no program (what a run records as the reason)."""


@runtime_checkable
class LLM(Protocol):
    """An LLM back end. ``generate`` returns ``n`` completions for one conversation. A back end declares
    ``supports_tools = True`` when it passes ``tools`` through its provider's own tool calling; one that does not
    (the attribute absent or False) is given none, and the caller describes tools in the prompt instead."""

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
        tools: list[ToolSpec] | None = None,
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
    return [m if isinstance(m, Message) else Message.from_dict(m) for m in data]


class BadRequest(LLMError):
    """The provider rejected the request itself (a 4xx other than auth, rate limit or context length)."""


class QuotaExceeded(LLMError):
    """The account is out of quota or credit (e.g. OpenAI's 429 ``insufficient_quota``): retrying will not help."""

    fatal = True
