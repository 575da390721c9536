"""A ``debug`` round as a multi-turn example: the round's prompt, each tool call with its observation, the fix.

A run whose strategy was ``debug`` records each round's tool loop on the candidate it produced
(``Candidate.transcript``, ``agents/transcript.py``). ``--debug-chains multi-turn`` (the default for such a run)
exports every round that ended in a passing program (``submit`` or an answer; the program passes the visible tests,
as every run pair's fix must) as the conversation it was:

- the round's request as recorded (``Candidate.prompt``: system + user);
- each earlier turn: an assistant message with its text and its tool calls, then one ``tool`` message per call
  holding the observation the loop said back (a notice said back to a reply with neither a call nor a program is a
  ``user`` message, as the loop sent it);
- the final assistant turn: the submitted program as one ```python block (the target; what ``llms.extract`` reads
  and what the loop accepts as ``submit``). Calls beside the ending ``submit`` were never run and are left out.

**One shape, whatever protocol served the round.** A text-protocol round (the model wrote fenced ``tool`` blocks;
llama.cpp or a server without a tool parser) is exported with the same structured calls as a native one: the fenced
blocks leave the assistant's text (what remains is its prose), and the system prompt's text-protocol instructions
are replaced by the native note (``agents.tools.NATIVE_NOTE``), so the example is the conversation the round would
have been on a tool-calling back end. A recorded prompt that does not end with those instructions (another
version's run) is kept as recorded.

**Malformed calls are kept as they were** (they are part of the trajectory, and the error observation that
answered each is what the model recovered from): an unknown tool or wrong arguments keep their name and arguments;
a text block that was not a JSON object with a name is a call with an empty name and its raw text as the
arguments. ``meta.malformed`` counts them per example so a user can filter them out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from semtrace.agents.transcript import Transcript, Turn
from semtrace.llms.base import Message
from semtrace.representations.base import TokenCounter

MODES = ("multi-turn", "single-turn")
ENDS = ("submit", "answer")  # how a round that produced a program ended (``budget``/``error`` carry the parent)
_TOOL_BLOCK = re.compile(r"```[ \t]*tool[ \t]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)  # agents/tools.py's blocks
LF_OBSERVATION_JOIN = "\n</tool_response>\n<tool_response>\n"  # how LLaMA-Factory's openai converter joins results


@dataclass(frozen=True)
class Call:
    """One tool call of an assistant turn. ``arguments``: JSON text (the decoded object re-encoded, or the raw
    text of a malformed call); ``error``: its observation was an error (malformed, or not run)."""

    id: str
    name: str
    arguments: str
    error: bool = False

    def decoded(self) -> Any:
        """The arguments as an object where they are one (LLaMA-Factory's calls hold objects), else the text."""
        try:
            return json.loads(self.arguments)
        except json.JSONDecodeError:
            return self.arguments


@dataclass(frozen=True)
class Step:
    """One message of the conversation after the prompt: an ``assistant`` turn (text, calls, reasoning), a
    ``tool`` observation (``call_id``, the tool ``name``) or a ``user`` notice."""

    role: Literal["assistant", "tool", "user"]
    content: str = ""
    calls: tuple[Call, ...] = ()
    call_id: str = ""
    name: str = ""
    reasoning: str = ""


def prose(text: str) -> str:
    """A text-protocol reply without its fenced ``tool`` blocks."""
    return _TOOL_BLOCK.sub("", text).strip()


def _arguments(args: dict[str, Any] | str) -> str:
    return args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)


def _assistant(turn: Turn, protocol: str) -> Step:
    calls = tuple(Call(c.id, c.name, _arguments(c.arguments), c.error) for c in turn.calls)
    text = prose(turn.text) if protocol == "text" else turn.text
    return Step("assistant", text, calls, reasoning=turn.reasoning)


def dialogue(transcript: Transcript) -> tuple[Step, ...]:
    """Every turn before the one that ended the round, with what was said back to it."""
    out: list[Step] = []
    for turn in transcript.turns[:-1]:
        out.append(_assistant(turn, transcript.protocol))
        out.extend(Step("tool", c.observation, call_id=c.id, name=c.name) for c in turn.calls if c.done)
        if turn.notice:
            out.append(Step("user", turn.notice))
    return tuple(out)


def native_prompt(prompt: Sequence[Message], transcript: Transcript, entry_point: str) -> tuple[Message, ...]:
    """A text-protocol round's prompt with the native note in place of the text protocol's instructions (the
    ``debug`` node writes ``{system}\n\n{instructions}``); any other prompt, or one whose instructions cannot be
    found or the note filled, as it is."""
    from semtrace.agents import tools

    if transcript.protocol != "text" or not prompt or prompt[0].role != "system":
        return tuple(prompt)
    system = prompt[0].text
    start = system.rfind("\n\n" + tools.TEXT_PROTOCOL.split("\n", 1)[0])
    if start < 0:
        return tuple(prompt)
    fields = {"budget": transcript.budget, "example": tools.example_call(entry_point),
              "default": getattr(tools, "DEFAULT_REPRESENTATION", "")}
    try:
        native = tools.NATIVE_NOTE.format_map(fields)
    except (KeyError, IndexError):
        return tuple(prompt)
    return (Message("system", f"{system[:start]}\n\n{native}"), *prompt[1:])


def final_reasoning(transcript: Transcript) -> str:
    return transcript.turns[-1].reasoning if transcript.turns else ""


def ends_with_program(transcript: Transcript) -> bool:
    return transcript.end in ENDS and bool(transcript.turns)


def tokens(steps: Sequence[Step], count: TokenCounter, reasoning: bool = False) -> int:
    """The dialogue's tokens: texts, observations, each call's name and arguments (and reasoning when kept)."""
    total = 0
    for s in steps:
        total += count(s.content) if s.content else 0
        total += sum(count(c.name) + count(c.arguments) for c in s.calls)
        total += count(s.reasoning) if reasoning and s.reasoning else 0
    return total


def call_key(steps: Sequence[Step]) -> list[list[str]]:
    """What tells two trajectories of the same fix apart for dedup: the calls, in order."""
    return [[c.name, c.arguments] for s in steps for c in s.calls]


def tool_specs() -> list[dict[str, Any]]:
    """The ``debug`` tools as OpenAI function definitions (``tools`` of a chat fine-tuning row)."""
    from semtrace.agents.tools import TOOL_SPECS

    return [{"type": "function", "function": {"name": s.name, "description": s.description,
                                              "parameters": s.parameters}} for s in TOOL_SPECS]


def openai_messages(steps: Sequence[Step], reasoning: bool = False) -> list[dict[str, Any]]:
    """The dialogue in OpenAI's chat shape: assistant ``tool_calls`` ([{id, type: function, function: {name,
    arguments: JSON text}}]) and ``{"role": "tool", "tool_call_id", "content"}``; with ``reasoning``, every
    message has ``reasoning_content`` (an assistant turn's own, else empty)."""
    out: list[dict[str, Any]] = []
    for s in steps:
        msg: dict[str, Any] = {"role": s.role, "content": s.content}
        if s.calls:
            msg["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name,
                                                                               "arguments": c.arguments}}
                                 for c in s.calls]
        if s.role == "tool":
            msg["tool_call_id"] = s.call_id
        if reasoning:
            msg["reasoning_content"] = s.reasoning
        out.append(msg)
    return out


def _think(text: str, reasoning: bool) -> str:
    from semtrace.sft.formats import THINK

    return f"{THINK[0]}{text}{THINK[1]}" if reasoning and text else ""


def sharegpt_turns(steps: Sequence[Step], reasoning: bool = False) -> list[dict[str, str]]:
    """The dialogue as LLaMA-Factory sharegpt turns: an assistant turn with calls is one ``function_call`` turn
    holding ``{"name", "arguments": {...}}`` (a list of them for several calls; the text beside the calls has no
    place there), its results one ``observation`` turn (several joined as LLaMA-Factory's own OpenAI-format
    converter joins them); a turn without calls is ``gpt``, a notice ``human``. With ``reasoning``, an assistant
    turn's reasoning is a ``<think>`` block before its value (LLaMA-Factory strips it from a call's JSON)."""
    out: list[dict[str, str]] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            out.append({"from": "observation", "value": LF_OBSERVATION_JOIN.join(pending)})
            pending.clear()

    for s in steps:
        if s.role == "tool":
            pending.append(s.content)
            continue
        flush()
        if s.role == "user":
            out.append({"from": "human", "value": s.content})
        elif s.calls:
            calls = [{"name": c.name, "arguments": c.decoded()} for c in s.calls]
            value = json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
            out.append({"from": "function_call", "value": _think(s.reasoning, reasoning) + value})
        else:
            out.append({"from": "gpt", "value": _think(s.reasoning, reasoning) + s.content})
    flush()
    return out


def lf_tools() -> str:
    """The tools as LLaMA-Factory's ``tools`` column reads them: a JSON list of {name, description, parameters}."""
    return json.dumps([spec["function"] for spec in tool_specs()], ensure_ascii=False)
