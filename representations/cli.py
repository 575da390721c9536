"""``semtrace trace FILE.py --call "f(1, 2)"``: run one call in the sandbox, trace it and print what a model
sees."""

from __future__ import annotations

import ast
import asyncio
import json
import re
from pathlib import Path
from typing import NoReturn, cast

import typer
from semtrace.registry import RegistryError
from semtrace.representations.base import RENDERERS, LLMRenderer, capabilities, make_renderer
from semtrace.sandbox.types import DEFAULT_MAX_EVENTS, ExecRequest, ExecResult, Limits, TestCase, TraceSpec

_CALL = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*\((.*)\)\s*$", re.DOTALL)


def _fail(message: str, code: int = 2) -> NoReturn:
    """One line on stderr; exit 2 for bad input, 1 when the program could not be traced or the traced call raised
    or failed ``--expected``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def parse_call(call: str) -> tuple[str, str]:
    """``"f(1, [2])"`` -> ``("f", "1, [2]")``; raises ValueError with the fix when it is not one call."""
    m = _CALL.match(call)
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ValueError(
            f"--call {call!r} is not valid Python ({exc.msg}); write it as name(arg, ...)"
        ) from exc
    if m is None or not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(f'--call {call!r} must be one call of a function of the file, e.g. --call "f(1, 2)"')
    return m.group(1), m.group(2)


def _defined_names(source: str) -> set[str] | None:
    """Names the module binds at top level (defs, classes, assignments, imports); None when that cannot be known
    (the host Python cannot parse it, or ``from x import *``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add((alias.asname or alias.name).split(".")[0])
        else:  # assignments, for/with/try/if blocks at top level: every name they store
            names.update(
                n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            )
    return names


_SYNTAX = re.compile(r"^(SyntaxError|IndentationError|TabError): (.*?)(?: \(.*?, line (\d+)\))?$")


def explain_untraced(result: ExecResult, source: str, func: str, wall_time: float) -> str | None:
    """Why the call was not traced to its end (a syntax error, no such function, a timeout, the program stopping
    before the call), or None when the trace shows what happened (including an exception raised inside it)."""
    outcome = result.tests[0]
    events = bool(result.traces and result.traces[0].events)
    if outcome.status == "timeout" or result.status == "timeout":
        return f"the call timed out after {wall_time:g}s (raise it with --timeout)"
    if outcome.status == "oom" or result.status == "oom":
        return "the program ran out of memory"
    if events or outcome.status in ("passed", "failed"):
        return None
    message = outcome.message or result.message or outcome.status
    m = _SYNTAX.match(message.strip().splitlines()[-1] if message.strip() else "")
    if m:
        line = f" at line {m.group(3)}" if m.group(3) else ""
        return f"the program does not compile: {m.group(1).replace('Error', ' error').lower()}{line}: {m.group(2)}"
    defined = _defined_names(source)
    if defined is not None and func not in defined:
        shown = ", ".join(sorted(n for n in defined if not n.startswith("_"))[:10]) or "nothing callable"
        return f"the program has no function `{func}` (it defines: {shown})"
    return f"the program stopped before calling `{func}`: {message}"


def program_outcome(result: ExecResult, call: str, expected: str | None) -> str | None:
    """What went wrong in a traced call, for one line: the exception it raised (type and message), or the value
    it returned when ``--expected`` was not met; None when it returned (and matched ``--expected``)."""
    outcome = result.tests[0]
    if outcome.status == "failed":
        return f"{call.strip()} returned {outcome.actual}, expected {expected}"
    if outcome.status == "passed":
        return None
    text = (outcome.message or result.message or "").strip().replace("\n", "\\n")  # one line, as written
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{call.strip()} raised {text or outcome.status}"


async def _run(sandbox_name: str, request: ExecRequest) -> ExecResult:
    from semtrace.sandbox.base import make_sandbox

    sandbox = make_sandbox(sandbox_name)
    try:
        return await sandbox.run(request)
    finally:
        await sandbox.close()


def trace_command(
    file: Path = typer.Argument(..., help="The Python program to run."),  # noqa: B008
    call: str = typer.Option(..., "--call", "-c", help='The call to trace, e.g. "f(1, 2)".'),
    representation: str = typer.Option(
        "concise", "--representation", "-r", help=f"One of: {', '.join(RENDERERS.names())}, or a dotted path."
    ),
    budget: int = typer.Option(2048, "--budget", "-b", help="Token budget of the rendering."),
    expected: str | None = typer.Option(None, "--expected", "-e", help="Expected value (Python source)."),
    as_json: bool = typer.Option(False, "--json", help="Print the structured trace and outcome as JSON."),
    sandbox: str = typer.Option("local", "--sandbox", "-s", help="Sandbox back end: local or docker."),
    max_events: int = typer.Option(DEFAULT_MAX_EVENTS, "--max-events", help="Tracer step budget."),
    timeout: float = typer.Option(5.0, "--timeout", "-t", help="Wall-clock limit of the call, in seconds."),
    llm: str | None = typer.Option(
        None, "--llm", help="LLM spec for a representation written by an LLM, e.g. scripted:rules.jsonl."
    ),
) -> None:
    """Trace one call of a program and print it in a trace representation. Exit 0 when the call returned (and
    matched --expected); 1, with one line naming the exception or the wrong value after the trace, when it raised
    or failed --expected, or when it could not be traced; 2 for bad input."""
    if not file.is_file():
        _fail(f"{file} does not exist; pass the path of a Python file")
    if budget <= 0:
        _fail(f"--budget must be positive (got {budget})")
    try:
        func, args = parse_call(call)
    except ValueError as exc:
        _fail(str(exc))
    try:
        renderer = make_renderer(representation)
        needs_llm = capabilities(renderer).needs_llm
    except (RegistryError, ImportError) as exc:
        _fail(str(exc))
    if needs_llm and not llm:
        _fail(
            f"the {representation} representation is written by an LLM; add --llm SPEC (e.g. --llm "
            "openai:gpt-4o-mini)"
        )
    if timeout <= 0:
        _fail(f"--timeout must be positive seconds (got {timeout:g})")
    raw = file.read_bytes()
    try:
        code = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        _fail(f"{file} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); save it as UTF-8")
    request = ExecRequest(
        code=code,
        entry_point=func,
        trace=TraceSpec(tests=(0,), max_events=max_events),
        tests=(TestCase(kind="call", func=func, args=args, expected=expected),),
        limits=Limits(wall_time=timeout),
    )
    from semtrace.sandbox.base import SandboxUnavailable

    try:
        result = asyncio.run(_run(sandbox, request))
    except SandboxUnavailable as exc:
        _fail(f"sandbox '{sandbox}' is unavailable: {exc}")
    except (RegistryError, ImportError) as exc:
        _fail(f"cannot start sandbox '{sandbox}': {exc}")
    if result.status == "sandbox_error" or not result.tests:
        _fail(f"the sandbox could not run the program: {result.message or result.status}")
    problem = explain_untraced(result, code, func, timeout)
    if as_json:
        out = {
            "status": result.status,
            "outcome": result.tests[0].to_dict(),
            "trace": result.traces[0].to_dict() if result.traces else None,
        }
        typer.echo(json.dumps(out, indent=1))
        if problem:
            _fail(f"{file}: {problem}", code=1)
        outcome = program_outcome(result, call, expected)
        if outcome:
            _fail(f"{file}: {outcome}", code=1)
        return
    if problem:
        _fail(f"{file}: {problem}", code=1)
    outcome = program_outcome(result, call, expected)
    from semtrace.representations.views import view_from_result

    view = view_from_result(request, result, test_index=0)
    if needs_llm and llm:
        from semtrace.llms.registry import make_llm

        text = asyncio.run(cast(LLMRenderer, renderer).render_async(view, make_llm(llm), budget=budget))
    else:
        text = renderer.render(view, budget=budget)
    typer.echo(text)
    if outcome:  # after the rendering, which a budget may have cut before the error
        _fail(f"{file}: {outcome}", code=1)


def register(app: typer.Typer) -> None:
    app.command("trace")(trace_command)
