"""The ``debug`` strategy's tools and their text protocol.

The contract (argument names are fixed: a user's own model or server may be written against them):

- ``run_tests()``: the visible tests on the current program, each test's outcome as ``none`` renders it;
- ``run(expression)``: the expression evaluated with the current program loaded: its value (repr, capped),
  stdout and exception;
- ``trace(expression, representation=PULLED_DEFAULT, lines=null, watch=null)``: that call traced and rendered by a
  registered renderer, optionally only source lines [a, b] and only the variables in ``watch``, within the trace
  budget, saying what was cut;
- ``submit(code)``: ends the round; the program is the round's candidate.

Back ends that declare ``supports_tools`` get these as ``ToolSpec`` s (their provider's own tool calling); the
others read :data:`TEXT_PROTOCOL` in the prompt and write one fenced block tagged ``tool`` holding
``{"name": ..., "arguments": {...}}``. Every expression runs in the sandbox (an ``ExecRequest`` with the run's
``Limits``, through the run's exec cache), never here; the tools see only the task's public view, so hidden tests
are out of their reach. Each observation is capped at the trace budget in tokens (``approx_tokens``).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import json
import re
import time
from typing import Any

from semtrace.agents.context import AgentContext
from semtrace.agents.transcript import ToolStep
from semtrace.llms.base import ToolSpec
from semtrace.representations import views
from semtrace.representations.base import RENDERERS, TraceView, approx_tokens, capabilities, make_renderer
from semtrace.representations.common import cap
from semtrace.representations.config import PULLED_DEFAULT
from semtrace.sandbox.trace import Trace, TraceEvent
from semtrace.sandbox.types import ExecRequest, ExecResult, TestCase, TestOutcome, TraceSpec

DEFAULT_REPRESENTATION = PULLED_DEFAULT  # (representations/config.py)
STDOUT_CHARS = 1500  # stdout kept in a `run` observation (the observation's token cap applies too)

_EXPR = {"type": "string", "description": "A Python expression, e.g. f([3, 1, 2]), evaluated with the program loaded"}
TOOL_SPECS: tuple[ToolSpec, ...] = (
    ToolSpec("run_tests", "Run the visible tests on the current program; each test's outcome.",
             {"type": "object", "properties": {}, "additionalProperties": False}),
    ToolSpec("run", "Evaluate a Python expression with the current program loaded: its value, stdout and exception.",
             {"type": "object", "properties": {"expression": _EXPR}, "required": ["expression"],
              "additionalProperties": False}),
    ToolSpec("trace", "Trace one call of the current program line by line and show the states, rendered as "
             "`representation`; optionally only source lines [a, b] and only the variables in `watch`.",
             {"type": "object", "properties": {
                 "expression": _EXPR,
                 "representation": {"type": "string", "description": "how to render the trace (default concise)"},
                 "lines": {"type": ["array", "null"], "items": {"type": "integer"}, "minItems": 2, "maxItems": 2,
                           "description": "[first, last] source lines to keep (default: all)"},
                 "watch": {"type": ["array", "null"], "items": {"type": "string"},
                           "description": "only these variables (default: all)"}},
              "required": ["expression"], "additionalProperties": False}),
    ToolSpec("submit", "Submit the corrected program; this ends the round.",
             {"type": "object", "properties": {"code": {"type": "string", "description": "the whole program"}},
              "required": ["code"], "additionalProperties": False}),
)
SPECS = {s.name: s for s in TOOL_SPECS}

TEXT_PROTOCOL = """You can investigate the program before you answer, with these tools:
- run_tests(): run the visible tests on the current program and see each test's outcome.
- run(expression): evaluate a Python expression with the current program loaded, e.g. {example}; see its value, \
its printed output and any exception.
- trace(expression, representation="{default}", lines=null, watch=null): trace that call line by line; `lines` \
[a, b] keeps only source lines a to b, `watch` a list of variable names keeps only those variables.
- submit(code): submit the corrected program (the whole program); this ends the round.
To call a tool, reply with one fenced block tagged tool holding a JSON object, and nothing after it:
```tool
{{"name": "trace", "arguments": {{"expression": "{example}", "watch": ["result"]}}}}
```
The result comes back in the next message. You have at most {budget} tool calls. When you know the fix, call \
submit, or answer with the corrected program in one ```python block."""

NATIVE_NOTE = ("Use the tools run_tests, run and trace to investigate the program (at most {budget} calls), then "
               "call submit with the corrected program, or answer with it in one ```python block.")

_TOOL_BLOCK = re.compile(r"```[ \t]*tool[ \t]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)


def text_calls(text: str, turn: int) -> list[ToolStep]:
    """The tool calls a reply holds under the text protocol, in order; ids ``t<turn>c<k>``. A block that is not
    a JSON object with a string ``name`` is kept as a malformed call (its raw text as the arguments)."""
    out = []
    for k, m in enumerate(_TOOL_BLOCK.finditer(text), 1):
        raw = m.group(1).strip()
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and isinstance(obj.get("name"), str):
            args = obj.get("arguments", {})
            out.append(ToolStep(id=f"t{turn}c{k}", name=obj["name"], arguments=args if isinstance(args, dict)
                                else json.dumps(args)))
        else:
            out.append(ToolStep(id=f"t{turn}c{k}", name="", arguments=raw))
    return out


class BadCall(ValueError):
    """A malformed call: unknown tool, bad JSON, wrong arguments (answered with its one line)."""


@functools.lru_cache(maxsize=1)
def representations() -> tuple[str, ...]:
    """The registered renderers a ``trace`` call may name (those written by an LLM are not tools)."""
    out = []
    for name in RENDERERS.names():
        try:
            if not capabilities(make_renderer(name)).needs_llm:
                out.append(name)
        except Exception:  # noqa: BLE001, S112 - a broken plugin is simply not offered (make_renderer says why)
            continue
    return tuple(out)


def check_call(step: ToolStep) -> dict[str, Any]:
    """The call's arguments, checked against its tool's schema; :class:`BadCall` with one line otherwise."""
    if step.name not in SPECS:
        if not step.name:
            raise BadCall(f"malformed tool call {cap(str(step.arguments), 200)!r}: write a JSON object "
                          '{"name": ..., "arguments": {...}}')
        raise BadCall(f"unknown tool {step.name!r}; the tools are {', '.join(SPECS)}")
    args = step.arguments
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except json.JSONDecodeError as exc:
            raise BadCall(f"{step.name}: the arguments are not valid JSON ({exc.msg})") from None
    if not isinstance(args, dict):
        raise BadCall(f"{step.name}: the arguments must be a JSON object")
    schema = SPECS[step.name].parameters
    known = schema.get("properties", {})
    extra = sorted(set(args) - set(known))
    if extra:
        raise BadCall(f"{step.name}: unknown argument {extra[0]!r}; it takes {', '.join(known) or 'no arguments'}")
    missing = [k for k in schema.get("required", []) if k not in args]
    if missing:
        raise BadCall(f"{step.name}: missing argument {missing[0]!r}")
    for key in ("expression", "code", "representation"):
        if key in args and not (isinstance(args[key], str) and args[key].strip()):
            raise BadCall(f"{step.name}: {key} must be a non-empty string")
    lines = args.get("lines")
    if lines is not None and not (isinstance(lines, list) and len(lines) == 2
                                  and all(isinstance(x, int) and not isinstance(x, bool) for x in lines)):
        raise BadCall(f"{step.name}: lines must be [first, last] (two integers) or null")
    watch = args.get("watch")
    if watch is not None and not (isinstance(watch, list) and watch and all(isinstance(x, str) for x in watch)):
        raise BadCall(f"{step.name}: watch must be a list of variable names or null")
    if step.name == "trace":
        rep = args.get("representation") or DEFAULT_REPRESENTATION
        if rep not in representations():
            raise BadCall(f"trace: unknown representation {rep!r}; valid: {', '.join(representations())}")
    return args


def fit(text: str, budget: int) -> str:
    """``text`` within ``budget`` tokens: whole lines from the start, then one line saying what was cut."""
    if budget <= 0 or approx_tokens(text) <= budget:
        return text
    lines, kept = text.split("\n"), []
    for line in lines:
        if approx_tokens("\n".join([*kept, line])) > budget - 24:
            break
        kept.append(line)
    cut = len(lines) - len(kept)
    return "\n".join([*kept, f"... {cut} more lines cut: an observation is capped at {budget} tokens ..."])


def call_test(expression: str, entry_point: str | None) -> TestCase:
    """A ``call`` test that records the expression's value without judging it (``expected=None``); a plain call
    of the entry point (``f([3, 1, 2])``) becomes ``func`` + ``args``, so renderers show it as written."""
    text = expression.strip()
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return TestCase(kind="call", expr=text, expected=None)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point
            and text.endswith(")")):
        rest = text[len(node.func.id):].lstrip()
        if rest.startswith("(") and text.startswith(node.func.id):
            return TestCase(kind="call", func=node.func.id, args=rest[1:-1], expected=None)
    return TestCase(kind="call", expr=text, expected=None)


def _request(ctx: AgentContext, code: str, test: TestCase, trace: TraceSpec | None = None) -> ExecRequest:
    task = ctx.task  # the public view: hidden tests are not here
    return ExecRequest(code=code, tests=(test,), entry_point=task.entry_point, test_setup=task.test_setup,
                       prelude=task.prelude, trace=trace, limits=ctx.settings.limits)


def _value_lines(result: ExecResult, outcome: TestOutcome | None) -> list[str]:
    if outcome is None:
        return [views.program_failed(result.status, result.message)]
    if outcome.status == "passed":
        lines = [f"value: {cap(outcome.actual if outcome.actual is not None else 'None')}"]
    elif outcome.status == "timeout":
        lines = ["error: the call timed out (possible infinite loop)"]
    elif outcome.status == "oom":
        lines = ["error: the program ran out of memory"]
    else:
        lines = [f"exception: {cap(outcome.message or outcome.status)}"]
    if result.stdout:
        out = result.stdout if len(result.stdout) <= STDOUT_CHARS else (
            result.stdout[:STDOUT_CHARS] + f"... [{len(result.stdout) - STDOUT_CHARS} chars cut]")
        lines.append("stdout:\n" + out.rstrip("\n"))
    return lines


def run_tests_text(ctx: AgentContext, code: str, visible: dict[str, Any]) -> str:
    """The visible tests' outcomes on ``code``: its visible run (the execution this round started from)."""
    result = ExecResult.from_dict({**visible, "traces": []})
    tests = ctx.task.visible_tests
    if not result.tests:
        return views.program_failed(result.status, result.message)
    request = ExecRequest(code=code, tests=tests, entry_point=ctx.task.entry_point)
    passed = sum(t.status == "passed" for t in result.tests)
    lines = [f"{passed} of {len(tests)} visible tests passed."]
    for outcome in result.tests:
        view = views.view_from_result(request, result, test_index=outcome.index)
        text = views.feedback(view)
        if outcome.status == "passed":
            lines.append(f"[test {outcome.index + 1}] passed: {text.splitlines()[0]}")
        else:
            lines.append(f"[test {outcome.index + 1}] {outcome.status}\n{text}")
    if len(result.tests) < len(tests):
        lines.append(f"{len(tests) - len(result.tests)} more tests did not run (the run stopped at a timeout)")
    return "\n".join(lines)


def filter_trace(trace: Trace, lines: list[int] | None, watch: list[str] | None) -> tuple[Trace, str]:
    """Only the events of source lines [a, b] and only the variables in ``watch`` (calls stay, for the inputs
    of the frames shown); the filtered trace and a sentence saying what was cut ("" when nothing)."""
    if lines is None and watch is None:
        return trace, ""
    lo, hi = (min(lines), max(lines)) if lines else (None, None)
    wanted = set(watch or ())
    kept: list[TraceEvent] = []
    for ev in trace.events:
        if lines is not None and ev.kind != "call" and not lo <= ev.line <= hi:  # type: ignore[operator]
            continue
        if watch is not None and ev.kind in ("call", "line"):
            changes = tuple(c for c in ev.changes if c[0] in wanted)
            if ev.kind == "line" and not changes:
                continue
            ev = dataclasses.replace(ev, changes=changes)
        kept.append(ev)
    what = []
    if lines is not None:
        what.append(f"only lines {lo}-{hi}")
    if watch is not None:
        what.append(f"only {', '.join(sorted(wanted))}")
    note = f"{' and '.join(what)}: {len(kept)} of {len(trace.events)} events kept"
    if watch is not None and not any(c[0] in wanted for ev in kept for c in ev.changes):
        note += f" (no event set {', '.join(sorted(wanted))})"
    return dataclasses.replace(trace, events=tuple(kept)), note


async def run_call(ctx: AgentContext, round_: int, code: str, step: ToolStep, visible: dict[str, Any]) -> ToolStep:
    """Perform one call (never ``submit``) and return the step with its observation: a one-line error for a
    malformed call. Expressions run in the sandbox, through the run's exec cache."""
    start = time.perf_counter()
    budget = ctx.settings.trace.budget
    try:
        args = check_call(step)
        if step.name == "run_tests":
            text = run_tests_text(ctx, code, visible)
        elif step.name == "run":
            text = await _run(ctx, round_, code, args["expression"])
        elif step.name == "trace":
            text = await _trace(ctx, round_, code, args, budget)
        else:
            raise BadCall(f"{step.name} ends the round; it is not run")
        error = False
    except BadCall as exc:
        text, error = f"error: {exc}", True
    text = fit(text, budget)
    return step.model_copy(update={"observation": text, "error": error, "tokens": approx_tokens(text),
                                   "latency": round(time.perf_counter() - start, 4), "done": True})


async def _run(ctx: AgentContext, round_: int, code: str, expression: str) -> str:
    test = call_test(expression, ctx.task.entry_point)
    result = await ctx.exec_cache.run(ctx.sandbox_for(round_), _request(ctx, code, test), ctx.stats)
    outcome = result.tests[0] if result.tests else None
    return "\n".join([f"{expression.strip()}", *_value_lines(result, outcome)])


async def _trace(ctx: AgentContext, round_: int, code: str, args: dict[str, Any], budget: int) -> str:
    s = ctx.settings
    expression = args["expression"].strip()
    name = args.get("representation") or DEFAULT_REPRESENTATION
    test = call_test(expression, ctx.task.entry_point)
    spec = TraceSpec(tests=(0,), max_events=s.trace.max_events, max_value_len=s.trace.max_value_len)
    result = await ctx.exec_cache.run(ctx.sandbox_for(round_), _request(ctx, code, test, spec), ctx.stats)
    outcome = result.tests[0] if result.tests else None
    head = [f"trace of {expression} ({name})", *_value_lines(result, outcome)]
    if outcome is None or not result.traces:
        return "\n".join([*head, "(no trace: the call did not run)"])
    trace, note = filter_trace(result.traces[0], args.get("lines"), args.get("watch"))
    if note:
        head.append(f"cut: {note}")
    shown = test if test.expr is None else TestCase(kind="assert", source=expression)
    view = TraceView(code=code, entry_point=ctx.task.entry_point, test=shown, outcome=outcome, trace=trace)
    rest = max(64, budget - approx_tokens("\n".join(head)) - 8)
    return "\n".join([*head, make_renderer(name).render(view, budget=rest)])


def example_call(entry_point: str | None) -> str:
    return f"{entry_point or 'f'}(...)"
