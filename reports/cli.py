"""``semtrace report`` and ``semtrace score`` (mounted on the root app by ``register``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from semtrace.agents.guard import fail, guard


def _by(value: str | None) -> list[str] | None:
    return [k.strip() for k in value.split(",") if k.strip()] if value else None


def report(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories or ablate directories."),  # noqa: B008
    by: str | None = typer.Option(None, "--by", help="Group by these knobs, e.g. representation,depth "
                                  "(default: the knobs that differ between the runs)."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | md | csv | json | latex"),
    out: Path | None = typer.Option(None, "--out", help="Also write the tables (and plots) into this directory."),  # noqa: B008
    baseline: Path | None = typer.Option(None, "--baseline", help="Compare every run with this run, paired "  # noqa: B008
                                         "over the same tasks."),
    plots: bool = typer.Option(False, "--plots", help="Write PNG and SVG plots (into --out, else RUN_DIR/report)."),
    as_json: bool = typer.Option(False, "--json", hidden=True, help="Print the runs' summaries as JSON (legacy)."),
) -> None:
    """Tables (pass@1 with 95% intervals by depth and width, pass@k, selector and oracle, cost), paired
    comparisons and plots of one or more runs."""
    from rich.console import Console
    from semtrace.reports.build import build_report
    from semtrace.reports.render import FORMATS, SUFFIX, csv_all, csv_text, json_text, markdown, rich_table

    if fmt not in FORMATS:
        fail(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    if out is not None:
        _check_out_dir(out)  # before any work: a file (or a path under one) cannot hold the report
    plot_dir = out if out is not None else run_dirs[0] / "report"
    result = guard(lambda: build_report(run_dirs, plot_dir, by=_by(by), baseline=baseline, plots=plots))
    console = Console(width=None if sys.stdout.isatty() else 160)
    if as_json:
        console.print_json(json.dumps(result.summaries))
        return
    if fmt == "table":
        for t in result.tables:
            console.print(rich_table(t))
        text = None
    elif fmt == "md":
        text = markdown(result.tables)
    elif fmt == "csv":
        text = csv_all(result.tables)
    elif fmt == "json":
        text = json_text(result.to_dict())
    else:
        from semtrace.reports.latex import latex

        text = latex(result.tables)
    if text is not None:
        typer.echo(text, nl=False)
    if out is not None:
        def write() -> None:
            from semtrace.agents.rundir import RunWriteError, write_file

            try:
                out.mkdir(parents=True, exist_ok=True)
                if text is None:
                    write_file(out / "report.txt", "\n".join(_plain(rich_table(t)) for t in result.tables))
                else:
                    write_file(out / f"report.{SUFFIX[fmt]}", text)
                if fmt == "csv":
                    for t in result.tables:
                        write_file(out / f"{t.name}.csv", csv_text(t))
            except (OSError, RunWriteError) as exc:
                fail(f"cannot write the report into --out '{out}': {exc}; the runs are unchanged: fix that or "
                     f"choose another --out")

        guard(write)
        typer.echo(f"report written to {out}", err=True)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    for path in result.plots:
        typer.echo(f"plot: {path}", err=True)


def _check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        fail(f"--out '{out}' is a file; --out names a folder for the report files, e.g. --out {out.with_suffix('')}"
             f"-report")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                fail(f"--out '{out}': '{parent}' is a file, not a folder; choose another --out")
            break


def _plain(table: object) -> str:
    import io

    from rich.console import Console

    console = Console(width=160, record=True, color_system=None, file=io.StringIO())
    console.print(table)
    return console.export_text()


def score(
    samples: Path = typer.Argument(..., help="EvalPlus-format JSONL: task_id and solution (or completion)."),  # noqa: B008
    benchmark: str = typer.Option(..., "--benchmark", "-b", help="The benchmark the samples answer."),
    sandbox: str = typer.Option("auto", "--sandbox", help="auto | docker | local"),
    data: str | None = typer.Option(None, "--data", help="Benchmark data dir (default: $SEMTRACE_DATA)."),
    out: Path | None = typer.Option(None, "--out", help="Per-task JSONL (default: SAMPLES with .scores.jsonl)."),  # noqa: B008
    override: list[str] = typer.Option([], "-o", "--override", help="key=value of the run config, e.g. "  # noqa: B008
                                       "-o limits.wall_time=10"),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Also write the samples as a run directory "  # noqa: B008
                                        "(one chain per sample) for `semtrace report`."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Score another tool's samples with semtrace's judge (the hidden tests, as a run scores them): pass@1, pass@k
    for several samples per task, and a per-task JSONL."""
    import asyncio

    from rich.console import Console
    from semtrace.reports.score import default_out, score_file, summary_table

    dest = out or default_out(samples)
    result = guard(lambda: asyncio.run(score_file(samples, benchmark, sandbox=sandbox, data_dir=data, out=dest,
                                                  overrides=override, run_dir=run_dir)))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        from semtrace.reports.render import rich_table

        Console(width=None if sys.stdout.isatty() else 120).print(rich_table(summary_table(result)))
    typer.echo(f"per-task results: {dest}", err=True)
    if run_dir is not None:
        typer.echo(f"run directory: {run_dir} (semtrace report {run_dir})", err=True)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("score")(score)
