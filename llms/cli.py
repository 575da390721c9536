"""``semtrace llm ...``: check a back end before a run."""
# ruff: noqa: B008 - typer declares options as argument defaults

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def chat(
    prompt: str = typer.Argument(..., help="The user message."),
    model: str = typer.Option(..., "--model", "-m", help="Model spec provider:model[?key=value...]."),
    n: int = typer.Option(1, "--n", min=1, help="Number of completions."),
    system: str | None = typer.Option(None, "--system", help="An optional system message."),
    temperature: float = typer.Option(0.0, "--temperature", "-t", min=0.0),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1),
    seed: int | None = typer.Option(None, "--seed"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of text."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the response cache."),
    cache_path: Path | None = typer.Option(None, "--cache-path", help="SQLite cache file to use."),
    concurrency: int = typer.Option(8, "--concurrency", min=1),
    show_reasoning: bool = typer.Option(False, "--show-reasoning",
                                        help="Print a reasoning model's reasoning in full (folded by default)."),
) -> None:
    """Send one prompt; print the completions (reasoning folded apart from the answer) and the token usage."""
    from semtrace.jsonable import to_jsonable
    from semtrace.llms.base import UNFINISHED_REASONING, LLMError, Message
    from semtrace.llms.openai_wire import arguments_text
    from semtrace.llms.registry import MissingSDK, make_llm
    from semtrace.registry import RegistryError

    messages = ([Message("system", system)] if system else []) + [Message("user", prompt)]
    try:
        llm = make_llm(model, cache=not no_cache, cache_path=cache_path, concurrency=concurrency)
    except (MissingSDK, RegistryError, ValueError, FileNotFoundError, OSError) as exc:
        _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 2)
        return

    async def run() -> list:  # type: ignore[type-arg]
        try:
            return await llm.generate(messages, n=n, temperature=temperature, max_tokens=max_tokens, seed=seed)
        finally:
            await llm.close()

    try:
        completions = asyncio.run(run())
    except LLMError as exc:  # names the endpoint; a fatal one (unreachable, key refused, ...) is the user's to fix
        _fail(f"{type(exc).__name__}: {exc}", 2 if exc.fatal else 1)
        return
    usage = llm.accounting.total()
    if as_json:
        typer.echo(json.dumps({"model": llm.name, "completions": to_jsonable(completions),
                               "usage": usage.to_dict()}, indent=2))
        return
    for i, c in enumerate(completions):
        if n > 1:
            typer.echo(f"--- completion {i + 1}/{n} ---")
        if c.reasoning and show_reasoning:
            typer.echo(f"--- reasoning ---\n{c.reasoning}\n--- answer ---")
        elif c.reasoning or c.usage.reasoning_tokens:
            typer.echo(f"[reasoning: {len(c.reasoning)} characters, {c.usage.reasoning_tokens} tokens; "
                       "--show-reasoning prints it]")
        if c.reasoning_unfinished:
            typer.echo(f"[no answer: {UNFINISHED_REASONING}]")
        elif c.text or not c.tool_calls:
            typer.echo(c.text)
        for call in c.tool_calls:
            typer.echo(f"[tool call {call.id}: {call.name} {arguments_text(call.arguments)}]")
        reasoning = f" reasoning_tokens={c.usage.reasoning_tokens}" if c.usage.reasoning_tokens else ""
        typer.echo(f"[finish={c.finish_reason} prompt_tokens={c.usage.prompt_tokens} "
                   f"completion_tokens={c.usage.completion_tokens}{reasoning} latency={c.latency:.2f}s"
                   f"{' cached' if c.cached else ''}]", err=False)
    cost = "n/a" if usage.cost is None else f"${usage.cost:.6f}"
    reasoning = f"reasoning_tokens={usage.reasoning_tokens} " if usage.reasoning_tokens else ""
    typer.echo(f"usage: prompt_tokens={usage.prompt_tokens} completion_tokens={usage.completion_tokens} {reasoning}"
               f"total_tokens={usage.total_tokens} requests={usage.requests} retries={usage.retries} "
               f"cache_hits={usage.cache_hits} cost={cost}")
    sys.stdout.flush()


@app.command()
def providers() -> None:
    """List the registered LLM providers."""
    from semtrace.llms.registry import EXTRAS, LLMS

    for name in LLMS.names():
        extra = EXTRAS.get(name)
        typer.echo(f"{name}" + (f"  (pip install 'semtrace[{extra}]')" if extra else ""))
