"""One buggy/fixed pair -> one training example per representation, built the way the agent builds round 1.

The buggy program runs in the sandbox on its *visible* tests with the trace request the agent's ``execute`` node
makes (the first failing test, a passing one too when the representation reads it); a trace the run did not record
is taken by re-running just those tests, as the agent's ``trace`` node does. The view, the feedback, the rendering
and the trace section come from ``representations.views`` (what the agent's render stage calls), and the messages
from ``representations.prompts.refine_messages`` (the function the refine node calls). The target is the fixed
program as one ```python block, the answer format ``llms.extract`` parses.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from semtrace.config import RunConfig
from semtrace.llms.base import Message
from semtrace.representations import prompts, views
from semtrace.representations.base import LLMRenderer, Renderer, TokenCounter, approx_tokens, capabilities
from semtrace.sandbox.base import Sandbox
from semtrace.sandbox.types import ExecRequest, ExecResult, Limits, TestCase, TraceSpec
from semtrace.sft import chains

log = logging.getLogger(__name__)

History = Literal["all", "last"]


def _defaults() -> RunConfig:
    return RunConfig()


@dataclass(frozen=True)
class Pair:
    """A buggy program and its fix for one task, with the task's visible tests only (hidden tests never enter).

    ``earlier`` are the chain's earlier attempts (run source, ``history='all'``); ``sent`` the exact messages the
    agent sent for this round when the run recorded them; ``ids`` the candidate ids (buggy, fixed) of a run pair."""

    task_id: str
    prompt: str
    entry_point: str
    buggy: str
    fixed: str
    tests: tuple[TestCase, ...]
    test_setup: str = ""
    prelude: str = ""  # the benchmark's implicit imports (LiveCodeBench), run before the program as the agent runs it
    source: str = ""
    ids: tuple[str, str] | None = None
    earlier: tuple[prompts.Attempt, ...] = ()
    sent: tuple[Message, ...] | None = None
    sent_representation: str | None = None
    reasoning: str = ""  # what the model thought before writing ``fixed`` in reply to ``sent`` (run source)
    # a ``debug`` round exported as it was (``chains.py``): the turns between ``sent`` and the fix; None: one turn
    dialogue: tuple[chains.Step, ...] | None = None


@dataclass(frozen=True)
class BuildSettings:
    """The knobs that shape a prompt; the defaults are the agent's (``RunConfig``'s) so examples match a run."""

    trace_budget: int = field(default_factory=lambda: _defaults().trace.budget)
    max_events: int = field(default_factory=lambda: _defaults().trace.max_events)
    max_value_len: int = field(default_factory=lambda: _defaults().trace.max_value_len)
    limits: Limits = field(default_factory=lambda: _defaults().limits.to_limits())
    stop_on_timeout: bool = field(default_factory=lambda: _defaults().agent.stop_on_timeout)  # as the agent's run
    history: History = "last"
    max_tokens: int | None = None
    keep_reasoning: bool = False  # targets keep the model's reasoning (``--reasoning keep``; formats.py's conventions)


@dataclass(frozen=True)
class Example:
    task_id: str
    representation: str
    messages: tuple[Message, ...]
    target: str
    source: str
    ids: tuple[str, str] | None = None
    tokens: int = 0
    failing_test: int | None = None
    reasoning: str = ""  # the target's reasoning (kept with ``--reasoning keep``; else empty)
    dialogue: tuple[chains.Step, ...] | None = None  # a debug round's turns between the prompt and the target

    def chat(self, reasoning: bool = False) -> list[dict[str, Any]]:
        """The conversation and its target (a debug round's tool calls and observations between them, in OpenAI's
        shape: ``chains.openai_messages``); with ``reasoning``, every message has ``reasoning_content`` (the field
        vLLM, DeepSeek and Qwen3's chat template use; empty but for the model's own turns)."""
        extra = ({"reasoning_content": ""} if reasoning else {})
        return [{"role": m.role, "content": m.text, **extra} for m in self.messages] + chains.openai_messages(
            self.dialogue or (), reasoning) + [
            {"role": "assistant", "content": self.target, **({"reasoning_content": self.reasoning} if reasoning
                                                             else {})}
        ]

    def meta(self) -> dict[str, Any]:
        calls = {} if self.dialogue is None else {
            "turns": sum(1 for s in self.dialogue if s.role == "assistant") + 1,
            "tool_calls": sum(len(s.calls) for s in self.dialogue),
            "malformed": sum(1 for s in self.dialogue for c in s.calls if c.error),
        }
        return {
            "task_id": self.task_id,
            "representation": self.representation,
            "source": self.source,
            "ids": list(self.ids) if self.ids else None,
            "tokens": self.tokens,
            "failing_test": self.failing_test,
            **calls,
        }


@dataclass(frozen=True)
class Dropped:
    task_id: str
    representation: str | None
    reason: str
    ids: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "representation": self.representation, "reason": self.reason,
                "ids": list(self.ids) if self.ids else None}


def answer(fixed: str) -> str:
    """The target: the fixed program in the answer format the agent parses (one ```python block)."""
    return f"```python\n{fixed.rstrip()}\n```"


def example_tokens(messages: Sequence[Message], target: str, count: TokenCounter = approx_tokens) -> int:
    return sum(count(m.content) for m in messages) + count(target)


class Runner:
    """Runs requests in the sandbox once each (the builder asks for the same buggy run for several
    representations that trace alike, and for each fix once)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._cache: dict[str, ExecResult] = {}

    async def run(self, request: ExecRequest) -> ExecResult:
        key = hashlib.sha256(json.dumps(request.to_dict(), sort_keys=True).encode()).hexdigest()
        if key not in self._cache:
            self._cache[key] = await self.sandbox.run(request)
        return self._cache[key]


def _request(pair: Pair, code: str, tests: tuple[TestCase, ...], settings: BuildSettings,
             trace: TraceSpec | None = None) -> ExecRequest:
    return ExecRequest(code=code, tests=tests, entry_point=pair.entry_point, test_setup=pair.test_setup,
                       prelude=pair.prelude, trace=trace, limits=settings.limits,
                       stop_on_timeout=settings.stop_on_timeout)


async def check_fix(runner: Runner, pair: Pair, settings: BuildSettings) -> str | None:
    """None when the fix passes every visible test, else why the pair is dropped."""
    result = await runner.run(_request(pair, pair.fixed, pair.tests, settings))
    if result.passed:
        return None
    first = result.first_failure
    where = f"visible test {first.index} {first.status}" if first is not None else result.status
    return f"the fixed program fails its visible tests ({where}: {(first.message if first else result.message)[:120]})"


async def traced_run(
    runner: Runner, pair: Pair, renderer: Renderer, settings: BuildSettings
) -> tuple[ExecResult, dict[int, Any]]:
    """The buggy program's visible-test result and the traces of the failing (and passing) test, by test index:
    the agent's ``execute`` request, then its ``trace`` node's re-run of just those tests when one is missing."""
    caps = capabilities(renderer)
    spec = None
    if caps.needs_trace:
        spec = TraceSpec(max_failing=1, include_passing=caps.uses_passing, max_events=settings.max_events,
                         max_value_len=settings.max_value_len)
    result = await runner.run(_request(pair, pair.buggy, pair.tests, settings, spec))
    first = result.first_failure
    if not caps.needs_trace or first is None:
        return result, {}
    indices = [first.index]
    if caps.uses_passing:
        passing = next((t.index for t in result.tests if t.status == "passed"), None)
        if passing is not None:
            indices.append(passing)
    by_test: dict[int, Any] = {t.test_index: t for t in result.traces}
    if not all(i in by_test for i in indices):
        rerun = TraceSpec(tests=tuple(range(len(indices))), max_events=settings.max_events,
                          max_value_len=settings.max_value_len)
        again = await runner.run(_request(pair, pair.buggy, tuple(pair.tests[i] for i in indices), settings, rerun))
        by_test = {indices[t.test_index]: replace(t, test_index=indices[t.test_index])
                   for t in again.traces if 0 <= t.test_index < len(indices)}
    return result, {i: by_test[i] for i in indices if i in by_test}


async def attempt_of(
    pair: Pair, result: ExecResult, traces: dict[int, Any], renderer: Renderer, settings: BuildSettings,
    llm: Any = None,
) -> prompts.Attempt:
    """The round's Attempt exactly as the agent's render stage makes it: feedback = the ``none`` rendering of the failing
    test's view, rendering = the representation's text within the trace budget, not shown when it only repeats
    the feedback."""
    first = result.first_failure
    if first is None:
        return prompts.Attempt(code=pair.buggy, feedback=views.program_failed(result.status, result.message))
    shown = replace(result, traces=tuple(traces.values()))
    request = ExecRequest(code=pair.buggy, tests=pair.tests, entry_point=pair.entry_point)
    view = views.view_from_result(request, shown, test_index=first.index)
    feedback = views.feedback(view)
    if capabilities(renderer).needs_llm:
        if llm is None:
            from semtrace.representations.base import NeedsLLM

            raise NeedsLLM(f"representation '{renderer.name}' is written by an LLM: pass --llm SPEC "
                           "(responses are cached, so a rebuild costs nothing)")
        rendering = await cast(LLMRenderer, renderer).render_async(view, llm, budget=settings.trace_budget)
    else:
        rendering = renderer.render(view, budget=settings.trace_budget)
    rendering = views.shown_rendering(view, rendering, budget=settings.trace_budget)
    return prompts.Attempt(code=pair.buggy, feedback=feedback, rendering=rendering)


async def build_example(
    runner: Runner,
    pair: Pair,
    name: str,
    renderer: Renderer,
    settings: BuildSettings,
    *,
    llm: Any = None,
    count: TokenCounter = approx_tokens,
) -> Example | Dropped:
    """The example for one pair and representation, or why there is none."""
    if not pair.tests:
        return Dropped(pair.task_id, name, "no visible tests to run", pair.ids)
    result, traces = await traced_run(runner, pair, renderer, settings)
    if result.passed:
        return Dropped(pair.task_id, name, "the buggy program passes its visible tests", pair.ids)
    if result.traces or capabilities(renderer).needs_trace:
        plain = await runner.run(_request(pair, pair.buggy, pair.tests, settings))
        if plain.passed:  # e.g. a slow loop that only times out under the tracer: not a bug to learn from
            first = result.first_failure
            how = f"{first.status}: {first.message[:80]}" if first is not None else result.status
            return Dropped(pair.task_id, name, "the buggy program passes its visible tests (it fails only "
                           f"under the tracer, {how})", pair.ids)
    reasoning = ""
    if pair.dialogue is not None:
        return _chain_example(pair, name, result, settings, count)
    if pair.sent is not None and pair.sent_representation == name:
        messages = list(pair.sent)  # exactly what the agent sent for this round
        reasoning = pair.reasoning if settings.keep_reasoning else ""  # what it thought answering these messages
    else:
        attempt = await attempt_of(pair, result, traces, renderer, settings, llm)
        history = [*pair.earlier, attempt] if settings.history == "all" else [attempt]
        messages = prompts.refine_messages(pair.prompt, pair.entry_point, history, settings.history)
    target = answer(pair.fixed)
    tokens = example_tokens(messages, target, count) + (count(reasoning) if reasoning else 0)
    if settings.max_tokens is not None and tokens > settings.max_tokens:
        return Dropped(pair.task_id, name, f"{tokens} tokens > --max-tokens {settings.max_tokens} (after the "
                       f"rendering's own budget of {settings.trace_budget})", pair.ids)
    first = result.first_failure
    return Example(pair.task_id, name, tuple(messages), target, pair.source, pair.ids, tokens,
                   first.index if first is not None else None, reasoning)


def _chain_example(pair: Pair, name: str, result: ExecResult, settings: BuildSettings,
                   count: TokenCounter) -> Example | Dropped:
    """A debug round's conversation as it was recorded: only in the run's representation, with its prompt knobs
    (a conversation cannot be rebuilt). Tokens count every message, call and observation."""
    if pair.sent is None or pair.sent_representation != name:
        return Dropped(pair.task_id, name, f"a debug round is exported only as it was recorded (representation "
                       f"{pair.sent_representation}, the run's prompt knobs; --debug-chains single-turn rebuilds "
                       "it as one turn)", pair.ids)
    dialogue = pair.dialogue or ()
    reasoning = pair.reasoning if settings.keep_reasoning else ""
    target = answer(pair.fixed)
    tokens = (example_tokens(pair.sent, target, count) + chains.tokens(dialogue, count, settings.keep_reasoning)
              + (count(reasoning) if reasoning else 0))
    if settings.max_tokens is not None and tokens > settings.max_tokens:
        return Dropped(pair.task_id, name, f"{tokens} tokens > --max-tokens {settings.max_tokens} (the whole "
                       "conversation: tool calls and observations included)", pair.ids)
    first = result.first_failure
    return Example(pair.task_id, name, tuple(pair.sent), target, pair.source, pair.ids, tokens,
                   first.index if first is not None else None, reasoning, dialogue)


def normalised(code: str) -> str:
    """Program text for exact dedup: line endings, trailing spaces and blank lines do not count."""
    lines = (line.rstrip() for line in code.replace("\r\n", "\n").expandtabs(4).split("\n"))
    return "\n".join(line for line in lines if line)


def dedup_key(pair: Pair) -> str:
    key: list[Any] = [pair.prompt.strip(), normalised(pair.buggy), normalised(pair.fixed)]
    if pair.dialogue is not None:  # two investigations of the same bug are two examples; the same one is one
        key.append(chains.call_key(pair.dialogue))
    blob = json.dumps(key)
    return hashlib.sha256(blob.encode()).hexdigest()


def split_of(task_id: str, split: float, seed: int) -> str:
    """``train`` or ``test``, from the task id alone (every example of a task lands on the same side)."""
    h = int(hashlib.sha256(f"{seed}:{task_id}".encode()).hexdigest()[:12], 16) / float(16**12)
    return "train" if h < split else "test"

