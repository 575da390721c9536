"""The typed transcript of one ``debug`` round: the model's turns, the tool calls it made and what each observed.

A round of the ``debug`` strategy is a tool loop (``agents/debug.py``): the model is sent the repair prompt and the
tools (``agents/tools.py``), asks for runs and traces of the current program, and ends the round with ``submit``
(or a reply holding a program and no tool call). Everything the loop did is one :class:`Transcript`, kept on the
candidate the round produced (``Candidate.transcript``), in order, with tokens and latency, so the viewer can show
the round as the conversation it was, reports can count tool use, and ``sft`` can export it as a multi-turn
example. The loop's state between graph steps *is* this transcript (it travels in the chain's ``Send`` payload),
so a run killed mid-round resumes at the step it stopped at.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from semtrace.llms.accounting import Spent
from semtrace.llms.base import Message, ReasoningPart, TextPart, ToolCall, ToolResult

TOOL_NAMES = ("run_tests", "run", "trace", "submit")
Protocol = Literal["native", "text"]
# why a round ended: ``submit`` (the tool), ``answer`` (a reply with a program and no tool call), ``budget`` (the
# tool budget ran out without either: the parent program is carried forward), ``error`` (the LLM call failed)
End = Literal["", "submit", "answer", "budget", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")


class ReasoningBlock(_Model):
    """A reasoning part as the provider sent it (Anthropic's signed thinking goes back verbatim within the loop)."""

    text: str = ""
    signature: str = ""
    redacted: bool = False


class ToolStep(_Model):
    """One tool call and its observation. ``arguments``: the decoded object, or the raw text of a malformed call.
    ``error``: the observation is a one-line error (unknown tool, bad JSON, wrong arguments, budget spent).
    ``tokens``: the observation's tokens (``representations.base.approx_tokens``); ``latency``: seconds the tool
    took (the sandbox included). ``done``: observed (False only between the graph steps of one turn)."""

    id: str
    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)
    observation: str = ""
    error: bool = False
    tokens: int = 0
    latency: float = 0.0
    done: bool = False

    def to_call(self) -> ToolCall:
        return ToolCall(id=self.id, name=self.name, arguments=self.arguments)

    def to_result(self) -> ToolResult:
        return ToolResult(call_id=self.id, content=self.observation, is_error=self.error)


class Turn(_Model):
    """One LLM call of the loop: the answer text, the reasoning, the tool calls it asked for (with their
    observations), what it used. ``notice``: what was said back when the reply had neither a tool call nor a
    program (it counts against the budget like a call)."""

    text: str = ""
    reasoning: str = ""
    reasoning_parts: tuple[ReasoningBlock, ...] = ()
    calls: tuple[ToolStep, ...] = ()
    notice: str = ""
    finish_reason: str = "stop"
    usage: Spent = Spent()  # frozen: one shared default
    latency: float = 0.0

    def assistant_message(self, protocol: Protocol) -> Message:
        """The reply as the next request's assistant turn: with its calls (native) or as the text it was."""
        if protocol == "text":
            return Message("assistant", self.text)
        parts: list[Any] = [ReasoningPart(p.text, p.signature, p.redacted) for p in self.reasoning_parts]
        if self.text:
            parts.append(TextPart(self.text))
        parts.extend(c.to_call() for c in self.calls)
        if all(isinstance(p, TextPart) for p in parts):
            return Message("assistant", self.text)
        return Message("assistant", tuple(parts))


class Transcript(_Model):
    """A round's tool loop, in order. ``budget``: the calls it may make (``agent.tool_calls``; ``submit`` is
    not counted). ``end`` and ``reason``: how it ended (empty while it runs)."""

    protocol: Protocol = "text"
    budget: int = 8
    turns: tuple[Turn, ...] = ()
    end: End = ""
    reason: str = ""

    @property
    def used(self) -> int:
        """Calls counted against the budget: every call but the ``submit`` that ended the round (malformed calls,
        a malformed ``submit`` too), and every notice."""
        return sum(1 for t in self.turns for c in t.calls if not (c.name == "submit" and c.done and not c.error)) + sum(
            1 for t in self.turns if t.notice)

    @property
    def pending(self) -> tuple[int, int] | None:
        """(turn, call) of the first call not observed yet; None when every call has its observation."""
        for i, turn in enumerate(self.turns):
            for j, call in enumerate(turn.calls):
                if not call.done:
                    return i, j
        return None

    def by_tool(self) -> dict[str, int]:
        """Calls per tool name (malformed names as written, counted too)."""
        return dict(Counter(c.name for t in self.turns for c in t.calls))

    @property
    def traced(self) -> bool:
        """Whether the round traced anything (a ``trace`` call that was not an error)."""
        return any(c.name == "trace" and not c.error for t in self.turns for c in t.calls)

    def usage(self) -> Spent:
        """What the loop's LLM calls used."""
        return sum((t.usage for t in self.turns), Spent())

    @property
    def latency(self) -> float:
        return round(sum(t.latency for t in self.turns), 4)

    def messages(self, prompt: list[Message]) -> list[Message]:
        """The conversation so far: the round's prompt, then each turn and what was said back to it."""
        out = list(prompt)
        for turn in self.turns:
            out.append(turn.assistant_message(self.protocol))
            answered = [c for c in turn.calls if c.done]
            if self.protocol == "native" and answered:
                out.append(Message("tool", tuple(c.to_result() for c in answered)))
            elif answered:
                out.append(Message("user", "\n\n".join(observation_text(c) for c in answered)))
            if turn.notice:
                out.append(Message("user", turn.notice))
        return out

    def replace_call(self, turn: int, call: int, step: ToolStep) -> Transcript:
        turns = list(self.turns)
        calls = list(turns[turn].calls)
        calls[call] = step
        turns[turn] = turns[turn].model_copy(update={"calls": tuple(calls)})
        return self.model_copy(update={"turns": tuple(turns)})

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        return cls.model_validate(data)


def observation_text(step: ToolStep) -> str:
    """One observation as the text protocol says it back (a user message)."""
    head = f"[{step.name or 'tool'} result{' (error)' if step.error else ''}]"
    return f"{head}\n{step.observation}"
