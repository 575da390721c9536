"""``semtrace run``, ``semtrace ablate`` and ``semtrace report`` (mounted on the root app by ``register``)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

log = logging.getLogger(__name__)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _guard(fn: Callable[[], Any]) -> Any:
    """Turn expected user-facing failures into one clear line and a non-zero exit."""
    from semtrace.config import ConfigError
    from semtrace.registry import RegistryError
    from semtrace.sandbox.base import SandboxUnavailable

    try:
        return fn()
    except (ConfigError, RegistryError, SandboxUnavailable, FileNotFoundError) as exc:
        _fail(str(exc))
    except ImportError as exc:  # a missing optional SDK names its extra
        _fail(str(exc))
    except Exception as exc:
        from semtrace.agents.run import RunError
        from semtrace.llms.base import AuthFailed

        if isinstance(exc, (RunError, AuthFailed, ValueError)):
            _fail(str(exc))
        raise


def _default_out(flags: dict[str, Any], cfg: Any) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.benchmark}-{cfg.representation}-{cfg.strategy}-{stamp}"


async def _run(cfg: Any, run_dir: Path, console: Console, *, resume: bool) -> dict[str, Any]:
    from semtrace.agents.build import build_components
    from semtrace.agents.display import live_progress
    from semtrace.agents.run import Progress, prepare_run_dir, run_tasks

    comps = await build_components(cfg)  # bad names fail here, before a run directory exists
    progress = Progress(total=len(comps.tasks))
    try:
        prepare_run_dir(run_dir, cfg, resume=resume)
        async with live_progress(progress, comps.llm, enabled=cfg.display, console=console):
            return await run_tasks(cfg, run_dir, comps, progress=progress)
    finally:
        await comps.sandbox.close()
        close = getattr(comps.llm, "close", None)
        if close is not None:
            await close()


def run(
    config: Path | None = typer.Option(None, "-c", "--config", help="YAML run config."),  # noqa: B008
    benchmark: str | None = typer.Option(None, help="Benchmark name (default: demo)."),
    data: str | None = typer.Option(None, "--data", help="Benchmark data dir (default: $SEMTRACE_DATA)."),
    model: str | None = typer.Option(None, help="LLM spec (default: llamacpp:default)."),
    sandbox: str | None = typer.Option(None, help="auto | docker | local (default: auto)."),
    representation: str | None = typer.Option(None, "--representation", "-r", help="Trace representation."),
    strategy: str | None = typer.Option(None, help="greedy | sequential | parallel | hybrid."),
    width: int | None = typer.Option(None, help="Candidates grown side by side."),
    depth: int | None = typer.Option(None, help="Refinement rounds per candidate."),
    selector: str | None = typer.Option(
        None, help="first_pass | visible_rate | majority_output | llm_judge | oracle (upper bound)."
    ),
    critique: bool | None = typer.Option(
        None, "--critique/--no-critique", help="LLM critique before refine."
    ),
    limit: int | None = typer.Option(None, help="Only the first K tasks."),
    tasks: str | None = typer.Option(None, help="Comma-separated task ids."),
    out: Path | None = typer.Option(None, help="Run directory (default: runs/<benchmark>-...-<time>)."),  # noqa: B008
    resume: Path | None = typer.Option(None, help="Continue the run in this directory."),  # noqa: B008
    override: list[str] = typer.Option(  # noqa: B008
        [], "-o", "--override", help="key=value (repeatable), e.g. -o max_tokens=256"
    ),
    no_display: bool = typer.Option(False, "--no-display", help="No live display."),
) -> None:
    """Run the agent on a benchmark and print the results table."""
    from semtrace.agents.display import results_table, width_table
    from semtrace.agents.run import load_run_config, prepare_run_dir
    from semtrace.config import build_config

    console = Console()
    flags = {
        "benchmark": benchmark,
        "data_dir": data,
        "model": model,
        "sandbox": sandbox,
        "representation": representation,
        "strategy": strategy,
        "width": width,
        "depth": depth,
        "selector": selector,
        "critique": critique,
        "limit": limit,
        "tasks": tasks,
    }

    def prepare() -> tuple[Any, Path]:
        if resume is not None:
            if config is not None or override or any(v is not None for v in flags.values()):
                raise typer.BadParameter(
                    "--resume continues a run with its saved config; drop the other options"
                )
            cfg = load_run_config(resume)
            prepare_run_dir(resume, cfg, resume=True)
            return cfg, resume
        cfg = build_config(config, flags, override)
        run_dir = out or (Path(cfg.out) if cfg.out else _default_out(flags, cfg))
        if run_dir.exists() and any(run_dir.iterdir()):
            prepare_run_dir(run_dir, cfg, resume=False)  # raises: not empty, names --resume
        return cfg, run_dir

    try:
        cfg, run_dir = _guard(prepare)
    except typer.BadParameter as exc:
        _fail(str(exc))
    if no_display:
        cfg = cfg.model_copy(update={"display": False})
    summary = _guard(lambda: asyncio.run(_run(cfg, run_dir, console, resume=resume is not None)))
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
    out: Path | None = typer.Option(None, help="Directory for all grid points (re-running continues it)."),  # noqa: B008
    override: list[str] = typer.Option([], "-o", "--override", help="key=value applied to every point."),  # noqa: B008
    no_display: bool = typer.Option(False, "--no-display", help="No live display."),
) -> None:
    """Run a grid of configs sharing one LLM cache; write one combined summary (ablation.json)."""
    from semtrace.agents.ablate import parse_grid, run_grid
    from semtrace.agents.display import comparison_table
    from semtrace.config import build_config

    console = Console()

    def go() -> dict[str, Any]:
        base = build_config(config, None, override)
        axes = parse_grid(grid)
        out_dir = out or Path("runs") / f"ablate-{time.strftime('%Y%m%d-%H%M%S')}"
        result = asyncio.run(run_grid(base, axes, out_dir, display=base.display and not no_display))
        result["out"] = str(out_dir)
        return result

    combined = _guard(go)
    console.print(comparison_table(list(combined["points"].items()), title="ablation"))
    console.print(f"combined summary: {Path(combined['out']) / 'ablation.json'}")


def report(
    run_dirs: list[Path] = typer.Argument(..., help="One or more run directories (or ablation directories)."),  # noqa: B008
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
) -> None:
    """Print the results table of one or more runs."""
    from semtrace.agents.display import comparison_table, results_table, width_table
    from semtrace.agents.records import summarize
    from semtrace.agents.run import CONFIG_FILE, RESULTS_FILE, load_run_config, read_records, settings_view

    def collect() -> list[tuple[str, dict[str, Any]]]:
        found: list[tuple[str, dict[str, Any]]] = []
        for d in run_dirs:
            dirs = (
                [d] if (d / CONFIG_FILE).is_file() else sorted(p.parent for p in d.glob(f"*/{CONFIG_FILE}"))
            )
            if not dirs:
                raise FileNotFoundError(
                    f"'{d}' holds no run ({CONFIG_FILE} missing); pass a run's --out directory"
                )
            for rd in dirs:
                cfg = load_run_config(rd)
                records = read_records(rd / RESULTS_FILE)
                summary = summarize(records, total_tasks=None)
                summary["config"] = settings_view(cfg)
                saved = rd / "summary.json"
                if saved.is_file():
                    old = json.loads(saved.read_text())
                    summary["total_tasks"] = max(old.get("total_tasks", 0), summary.get("tasks", 0))
                    summary["errors"] = summary["total_tasks"] - summary.get("tasks", 0)
                    summary["cost"] = old.get("cost")
                    if summary["errors"]:
                        summary = {
                            **summarize(records, total_tasks=summary["total_tasks"]),
                            **{k: summary[k] for k in ("config", "total_tasks", "errors", "cost")},
                        }
                found.append((rd.name if len(run_dirs) == 1 and rd != d else str(rd), summary))
        return found

    summaries = _guard(collect)
    console = Console()
    if as_json:
        console.print_json(json.dumps({name: s for name, s in summaries}))
        return
    for name, s in summaries:
        console.print(results_table(s, title=name))
        widths = width_table(s)
        if widths is not None:
            console.print(widths)
    if len(summaries) > 1:
        console.print(comparison_table(summaries, title="comparison"))


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("ablate")(ablate)
    app.command("report")(report)
