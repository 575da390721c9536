"""``semtrace run``, ``semtrace ablate`` and ``semtrace schema`` (mounted on the root app by ``register``; ``semtrace
report`` lives in ``reports/cli.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from semtrace.agents.guard import fail as _fail
from semtrace.agents.guard import guard

log = logging.getLogger(__name__)

# the task and component selection `run` and `ablate` share (ablate applies them to every grid point)
BenchmarkOpt = Annotated[str | None, typer.Option(help="Benchmark name (default: demo).")]
DataOpt = Annotated[str | None, typer.Option("--data", help="Benchmark data dir (default: $SEMTRACE_DATA).")]
ModelOpt = Annotated[str | None, typer.Option(help="LLM spec (default: llamacpp:default).")]
SandboxOpt = Annotated[str | None, typer.Option(help="auto | docker | local (default: auto).")]
RepresentationOpt = Annotated[str | None, typer.Option("--representation", "-r", help="Trace representation.")]
StrategyOpt = Annotated[str | None, typer.Option(help="greedy | sequential | parallel | hybrid | debug.")]
WidthOpt = Annotated[int | None, typer.Option(help="Candidates grown side by side.")]
DepthOpt = Annotated[int | None, typer.Option(help="Refinement rounds per candidate.")]
SelectorOpt = Annotated[str | None, typer.Option(
    help="first_pass | visible_rate | majority_output | llm_judge | oracle (upper bound).")]
CritiqueOpt = Annotated[bool | None, typer.Option("--critique/--no-critique", help="LLM critique before refine.")]
LimitOpt = Annotated[int | None, typer.Option(help="Only the first K tasks.")]
TasksOpt = Annotated[str | None, typer.Option(help="Comma-separated task ids.")]
NoDisplayOpt = Annotated[bool, typer.Option("--no-display", help="No live display.")]


def selection_flags(**given: Any) -> dict[str, Any]:
    """The selection options as config flags (``data`` is the config's ``data_dir``)."""
    return {("data_dir" if k == "data" else k): v for k, v in given.items()}


def _default_out(flags: dict[str, Any], cfg: Any) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.benchmark}-{cfg.trace.representation}-{cfg.agent.strategy}-{stamp}"


def _with_data_dir(cfg: Any) -> Any:
    """The config with the data dir the run reads (--data, else $SEMTRACE_DATA, else the cache), resolved, so that
    --resume (which takes no --data) reads the same data without the environment the run started in."""
    from semtrace.benchmarks.registry import get_benchmark, resolve_data_dir

    bench = get_benchmark(cfg.benchmark)
    if cfg.data_dir is not None or not (bench.files or bench.data_folder):
        return cfg
    return cfg.model_copy(update={"data_dir": str(resolve_data_dir(None).resolve())})


async def _build(cfg: Any, run_dir: Path, resume: bool) -> Any:
    from semtrace.agents.build import build_components
    from semtrace.agents.rundir import CONFIG_FILE, RunError
    from semtrace.benchmarks.common import DataMissing

    try:
        return await build_components(cfg)  # bad names fail here, before a run directory exists
    except DataMissing as exc:
        if not resume:
            raise
        what = str(exc).split("; ")[0]  # the loader's hint names --data, which --resume does not take
        config = run_dir / CONFIG_FILE
        if cfg.data_dir:
            fix = f"put the data back in the run's data dir {cfg.data_dir}, or set data_dir in {config} to where it is now"
        else:  # a run from before data dirs were saved: it read $SEMTRACE_DATA (or the cache)
            fix = f"set SEMTRACE_DATA to the data dir the run started with, or data_dir in {config} to where it is"
        raise RunError(f"cannot resume '{run_dir}': {what}; {fix}") from None


async def _run(cfg: Any, run_dir: Path, console: Console, *, resume: bool) -> dict[str, Any]:
    from semtrace.agents.display import live_progress
    from semtrace.agents.run import Progress, run_tasks
    from semtrace.agents.rundir import open_run_dir

    comps = await _build(cfg, run_dir, resume)
    progress = Progress(total=len(comps.tasks))
    try:
        with open_run_dir(run_dir, cfg, resume=resume):  # held until the run ends: a second command is refused
            async with live_progress(progress, comps.llm, enabled=cfg.display, console=console):
                return await run_tasks(cfg, run_dir, comps, progress=progress)
    finally:
        await comps.sandbox.close()
        close = getattr(comps.llm, "close", None)
        if close is not None:
            await close()


def run(
    config: Path | None = typer.Option(None, "-c", "--config", help="YAML run config."),  # noqa: B008
    benchmark: BenchmarkOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    sandbox: SandboxOpt = None,
    representation: RepresentationOpt = None,
    strategy: StrategyOpt = None,
    width: WidthOpt = None,
    depth: DepthOpt = None,
    selector: SelectorOpt = None,
    critique: CritiqueOpt = None,
    limit: LimitOpt = None,
    tasks: TasksOpt = None,
    out: Path | None = typer.Option(None, help="Run directory (default: runs/<benchmark>-...-<time>)."),  # noqa: B008
    resume: Path | None = typer.Option(None, help="Continue the run in this directory."),  # noqa: B008
    override: list[str] = typer.Option(  # noqa: B008
        [], "-o", "--override", help="key=value (repeatable), e.g. -o max_tokens=256"
    ),
    no_display: NoDisplayOpt = False,
) -> None:
    """Run the agent on a benchmark and print the results table."""
    from semtrace.agents.display import results_table, width_table
    from semtrace.agents.run import CONFIG_FILE, load_run_config
    from semtrace.agents.rundir import check_new_run_dir
    from semtrace.agents.runlock import hold
    from semtrace.config import build_config, with_absolute_paths

    console = Console()
    flags = selection_flags(benchmark=benchmark, data=data, model=model, sandbox=sandbox,
                            representation=representation, strategy=strategy, width=width, depth=depth,
                            selector=selector, critique=critique, limit=limit, tasks=tasks)

    if resume is not None:
        given = [f"--{k.replace('_dir', '')}" for k, v in flags.items() if v is not None]
        given += ["-c"] * (config is not None) + ["-o"] * bool(override) + ["--out"] * (out is not None)
        if given:
            _fail(
                f"--resume continues a run in its own directory with its saved config; drop {', '.join(given)} "
                f"(to change them, start a new run with --out)"
            )

    held = contextlib.ExitStack()  # a resumed run's directory, held from now until the command ends

    def prepare() -> tuple[Any, Path]:
        if resume is not None:
            cfg = load_run_config(resume)
            held.enter_context(hold(resume))  # before anything is built: a second command is refused at once
            return cfg, resume
        cfg = _with_data_dir(with_absolute_paths(build_config(config, flags, override)))
        run_dir = out or (Path(cfg.out) if cfg.out else _default_out(flags, cfg))
        check_new_run_dir(run_dir)  # not a file, not a non-empty directory (that names --resume), not in use
        return cfg, run_dir

    with held:
        cfg, run_dir = guard(prepare)
        if no_display:
            cfg = cfg.model_copy(update={"display": False})

        def continue_hint() -> str | None:
            return f"`semtrace run --resume {run_dir}`" if (run_dir / CONFIG_FILE).is_file() else None

        summary = guard(
            lambda: asyncio.run(_run(cfg, run_dir, console, resume=resume is not None)),
            run_dir=lambda: run_dir if (run_dir / CONFIG_FILE).is_file() else None,
            resume_hint=continue_hint,
        )
    console.print(results_table(summary, title="semtrace run"))
    widths = width_table(summary)
    if widths is not None:
        console.print(widths)
    console.print(f"run directory: {run_dir}  (records: {run_dir / 'results.jsonl'})")
    if summary.get("errors"):
        sys.exit(1)


def ablate(
    config: Path | None = typer.Option(None, "-c", "--config", help="Base YAML run config."),  # noqa: B008
    grid: list[str] = typer.Option([], "--grid", help="key=v1,v2 (repeatable): the grid's axes."),  # noqa: B008
    benchmark: BenchmarkOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    sandbox: SandboxOpt = None,
    representation: RepresentationOpt = None,
    strategy: StrategyOpt = None,
    width: WidthOpt = None,
    depth: DepthOpt = None,
    selector: SelectorOpt = None,
    critique: CritiqueOpt = None,
    limit: LimitOpt = None,
    tasks: TasksOpt = None,
    out: Path | None = typer.Option(None, help="Directory for all grid points (re-running continues it)."),  # noqa: B008
    override: list[str] = typer.Option([], "-o", "--override", help="key=value applied to every point."),  # noqa: B008
    no_display: NoDisplayOpt = False,
) -> None:
    """Run a grid of configs sharing one LLM cache; write one combined summary (ablation.json). The selection
    flags are `run`'s, applied to every point (a --grid axis over the same key wins)."""
    from semtrace.agents.ablate import parse_grid, run_grid
    from semtrace.agents.display import comparison_table
    from semtrace.config import build_config, canonical_key, with_absolute_paths

    console = Console()

    out_dir = out or Path("runs") / f"ablate-{time.strftime('%Y%m%d-%H%M%S')}"

    def go() -> dict[str, Any]:
        flags = selection_flags(benchmark=benchmark, data=data, model=model, sandbox=sandbox,
                                representation=representation, strategy=strategy, width=width, depth=depth,
                                selector=selector, critique=critique, limit=limit, tasks=tasks)
        base = _with_data_dir(with_absolute_paths(build_config(config, flags, override)))
        axes = parse_grid(grid)
        given = {k for k in ("width", "depth") if flags[k] is not None}
        given |= {canonical_key(o.partition("=")[0]).removeprefix("agent.") for o in override} & {"width", "depth"}
        result = asyncio.run(run_grid(base, axes, out_dir, display=base.display and not no_display,
                                      keep=frozenset(given)))
        result["out"] = str(out_dir)
        return result

    combined = guard(
        go,
        run_dir=lambda: out_dir if out_dir.is_dir() else None,
        resume_hint=lambda: f"the same `semtrace ablate` command with --out {out_dir}" if out_dir.is_dir() else None,
    )
    console.print(comparison_table(list(combined["points"].items()), title="ablation"))
    console.print(f"combined summary: {Path(combined['out']) / 'ablation.json'}")


def schema(
    what: str = typer.Argument("record", help="Which schema: record (one line of results.jsonl)."),
) -> None:
    """Print the JSON Schema of what a run writes, generated from the record types (agents/record.py)."""
    if what != "record":
        typer.echo(f"error: unknown schema {what!r}; valid: record", err=True)
        raise typer.Exit(2)
    from semtrace.agents.record import record_schema

    typer.echo(json.dumps(record_schema(), indent=2))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("ablate")(ablate)
    app.command("schema")(schema)
