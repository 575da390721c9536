"""``semtrace sft build`` and ``semtrace sft train``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import typer
from semtrace.agents.guard import fail, guard

log = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Fine-tuning data built with the agent's own renderers and prompts, and a LoRA trainer.")


def _counter(tokenizer: str | None) -> Any:
    from semtrace.representations.base import approx_tokens

    if not tokenizer:
        return approx_tokens
    try:
        from transformers import AutoTokenizer
    except ModuleNotFoundError:
        fail("--tokenizer needs transformers: pip install 'semtrace[train]' (or leave it out for the fast "
             "approximation)")
    tok = AutoTokenizer.from_pretrained(tokenizer)
    return lambda text: len(tok.encode(text, add_special_tokens=False))


async def _build(source: str, reps: list[str], out: Path, *, data_dir: str | None, sandbox_name: str,
                 fmt: str, split: float, seed: int, limit: int | None, llm_spec: str | None,
                 tokenizer: str | None, flags: dict[str, Any], debug_chains: str | None = None) -> dict[str, Any]:
    from semtrace.representations.base import capabilities, make_renderer
    from semtrace.sandbox.base import make_sandbox
    from semtrace.sft.dataset import build_examples, write_dataset
    from semtrace.sft.formats import FORMATS, FormatError, check_chains
    from semtrace.sft.sources import load_source, settings_for

    if fmt not in FORMATS:
        raise FormatError(f"unknown --format '{fmt}'; choose one of {', '.join(FORMATS)}")
    renderers = {r: make_renderer(r) for r in reps}  # an unknown name fails here with the valid ones
    llm = None
    if any(capabilities(r).needs_llm for r in renderers.values()):
        if not llm_spec:
            names = [n for n, r in renderers.items() if capabilities(r).needs_llm]
            fail(f"representation {', '.join(names)} is written by an LLM: pass --llm SPEC (responses are "
                 "cached, so rebuilding costs nothing)")
        from semtrace.llms.registry import make_llm

        llm = make_llm(llm_spec)
    count = _counter(tokenizer)
    loaded = load_source(source, data_dir=data_dir, sandbox=sandbox_name, limit=limit, debug_chains=debug_chains)
    check_chains(fmt, loaded.chains == "multi-turn")  # before any sandbox work
    settings = settings_for(loaded, **flags)
    sandbox = make_sandbox(sandbox_name)
    try:
        built = await build_examples(loaded.pairs, reps, sandbox, settings, llm=llm, count=count)
    finally:
        await sandbox.close()
        close = getattr(llm, "close", None)
        if close is not None:
            res = close()
            if asyncio.iscoroutine(res):
                await res
    return write_dataset(built, out, fmt=fmt, split=split, seed=seed, source=source, settings=settings,
                         dropped_before=loaded.dropped, chains=loaded.chains)


@app.command("build")
def build_cmd(
    source: str = typer.Option(..., "--source", help="benchmark:NAME | run:DIR | pairs:FILE.jsonl"),
    representation: str = typer.Option("concise", "--representation", "-r", help="R[,R...]"),
    out: Path = typer.Option(..., "--out", help="output folder: new, empty, or an earlier build (replaced whole)"),  # noqa: B008
    max_tokens: int = typer.Option(None, "--max-tokens", help="drop examples longer than this (after the "
                                   "rendering's own --trace-budget)"),
    split: float = typer.Option(0.9, "--split", help="share of task ids in train"),
    seed: int = typer.Option(0, "--seed"),
    fmt: str = typer.Option("messages", "--format", help="messages | openai | llamafactory | hf"),
    sandbox: str = typer.Option("local", "--sandbox", help="docker | local"),
    data: str = typer.Option(None, "--data", help="benchmark data directory"),
    limit: int = typer.Option(None, "--limit", help="only the first N pairs"),
    history: str = typer.Option(None, "--history", help="last | all (default: last; a run's own for run:)"),
    trace_budget: int = typer.Option(None, "--trace-budget", help="the rendering's token budget (agent default)"),
    llm: str = typer.Option(None, "--llm", help="LLM spec for representations written by a model (semcoder_nl)"),
    tokenizer: str = typer.Option(None, "--tokenizer", help="HF tokenizer for --max-tokens (else the fast "
                                  "approximation)"),
    reasoning: str = typer.Option("drop", "--reasoning", help="drop | keep: the model's reasoning in the targets "
                                  "(run:DIR; in each format's convention: sft/README.md)"),
    debug_chains: str = typer.Option(None, "--debug-chains", help="multi-turn | single-turn: a debug run's "
                                     "rounds as the conversations they were, with their tool calls (default), or "
                                     "as one-turn refine prompts (run:DIR of --strategy debug)"),
) -> None:
    """Build fine-tuning examples: each buggy program traced on its first failing visible test, rendered and
    prompted exactly as the agent's round 1, with the fix as the answer."""
    from semtrace.sft.formats import FormatError, check_reasoning
    from semtrace.sft.outdir import OutError, check_out, earlier_build
    from semtrace.sft.sources import SourceError

    try:
        check_out(out)  # before any work: a file, a folder of other things
    except OutError as exc:
        fail(str(exc))
    replaces = earlier_build(out) is not None
    reps = [r.strip() for r in representation.split(",") if r.strip()]
    if not reps:
        fail("--representation: give at least one name, e.g. concise,next,none")
    if not 0.0 <= split <= 1.0:
        fail(f"--split {split}: give a share between 0 and 1, e.g. 0.9")
    if history not in (None, "last", "all"):
        fail(f"--history {history}: choose last or all")
    if reasoning not in ("drop", "keep"):
        fail(f"--reasoning {reasoning}: choose drop or keep")
    if debug_chains not in (None, "multi-turn", "single-turn"):
        fail(f"--debug-chains {debug_chains}: choose multi-turn or single-turn")
    try:
        check_reasoning(fmt, reasoning == "keep")
    except FormatError as exc:
        fail(str(exc))

    def go() -> dict[str, Any]:
        try:
            return asyncio.run(_build(source, reps, out, data_dir=data, sandbox_name=sandbox, fmt=fmt,
                                      split=split, seed=seed, limit=limit, llm_spec=llm, tokenizer=tokenizer,
                                      flags={"max_tokens": max_tokens, "history": history,
                                             "trace_budget": trace_budget,
                                             "keep_reasoning": reasoning == "keep"},
                                      debug_chains=debug_chains))
        except (SourceError, FormatError, OutError) as exc:
            fail(str(exc))

    stats = guard(go)
    for rep, row in stats["representations"].items():
        typer.echo(f"{rep}: {row['examples']} examples ({row['train']} train, {row['test']} test), "
                   f"{row['dropped']} dropped")
    typer.echo(f"wrote {out} ({stats['format']}{'; the earlier build there was replaced' if replaces else ''}); "
               f"reasons for dropped rows in {out / 'stats.json'}")


@app.command("train")
def train_cmd(
    data: Path = typer.Option(..., "--data", help="a `semtrace sft build` output directory"),  # noqa: B008
    model: str = typer.Option(..., "--model", help="HF model path or id"),
    out: Path = typer.Option(..., "--out", help="where the adapter and its config go"),  # noqa: B008
    representation: str = typer.Option(None, "--representation", "-r", help="which representation (default: "
                                       "the only one in --data)"),
    lora_r: int = typer.Option(16, "--lora-r"),
    lora_alpha: int = typer.Option(32, "--lora-alpha"),
    epochs: float = typer.Option(1.0, "--epochs"),
    max_steps: int = typer.Option(-1, "--max-steps"),
    lr: float = typer.Option(2e-4, "--lr"),
    batch_size: int = typer.Option(1, "--batch-size"),
    max_length: int = typer.Option(2048, "--max-length"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """LoRA fine-tuning with TRL's SFTTrainer on the builder's train split (loss on the answer tokens only)."""
    from semtrace.sft.train import TrainError, TrainOptions, train

    opts = TrainOptions(lora_r=lora_r, lora_alpha=lora_alpha, epochs=epochs, max_steps=max_steps, lr=lr,
                        batch_size=batch_size, max_length=max_length, seed=seed)

    def go() -> dict[str, Any]:
        try:
            return train(data, model, out, representation=representation, options=opts)
        except TrainError as exc:
            fail(str(exc))

    result = guard(go)
    typer.echo(f"adapter in {out}; loss {result['first_loss']:.4f} -> {result['last_loss']:.4f}; "
               f"data digest {result['data_digest'][:16]}")
