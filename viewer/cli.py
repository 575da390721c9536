"""``semtrace view RUN_DIR... --out DIR``: the static HTML report and trajectory viewer (mounted by ``register``)."""

from __future__ import annotations

from pathlib import Path

import typer
from semtrace.agents.guard import guard


def view(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories (a run's --out, or an ablate --out)."),  # noqa: B008
    out: Path = typer.Option(..., "--out", help="The viewer folder to write (new, empty, or an earlier view)."),  # noqa: B008
    by: str | None = typer.Option(None, "--by", help="Group the report's tables by these knobs (comma-separated)."),
    baseline: Path | None = typer.Option(None, "--baseline", help="Compare every run to this run."),  # noqa: B008
    plots: bool = typer.Option(True, "--plots/--no-plots", help="Draw the report's plots."),
    title: str | None = typer.Option(None, help="Page title (default: the benchmark and the number of runs)."),
) -> None:
    """Write a static HTML report and trajectory viewer: open its index.html from the file system, no server."""
    from semtrace.viewer.build import build_viewer

    keys = [k.strip() for k in by.split(",") if k.strip()] if by else None
    result = guard(lambda: build_viewer(run_dirs, out, by=keys, baseline=baseline, plots=plots, title=title))
    index = result.index.resolve()
    typer.echo(f"viewer: {result.tasks} tasks from {len(result.runs)} run{'s' if len(result.runs) != 1 else ''} "
               f"-> {result.index} ({result.seconds:.1f} s)")
    typer.echo(f"open it in a browser (no server needed): {index.as_uri()}")


def register(app: typer.Typer) -> None:
    app.command("view")(view)
