"""``semtrace benchmarks list`` and ``semtrace benchmarks verify NAME``."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from semtrace.benchmarks.calibrate import CalibrationError
from semtrace.benchmarks.common import DataError, DataMissing
from semtrace.benchmarks.registry import BENCHMARKS, get_benchmark, parse_benchmark_spec, resolve_data_dir
from semtrace.benchmarks.verify import VerifyReport, program_count, verify_tasks
from semtrace.registry import RegistryError

app = typer.Typer(no_args_is_help=True, add_completion=False)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command("list")
def list_benchmarks(
    data: Annotated[Path | None, typer.Option("--data", help="Data dir (else $SEMTRACE_DATA).")] = None,
) -> None:
    """List the registered benchmarks and whether their data files are present."""
    root = resolve_data_dir(data)
    for name in BENCHMARKS.names():
        try:
            bench = get_benchmark(name)
        except (RegistryError, ImportError) as exc:
            typer.echo(f"{name:16} (cannot load: {exc})")
            continue
        missing = [rel for rel in bench.files if not (root / rel).is_file()]
        folder = root / bench.data_folder if bench.data_folder else None  # a loader finding its own files
        if folder is not None and not (folder.is_dir() and any(folder.iterdir())):
            missing.append(bench.data_folder)
        needs_data = bool(bench.files or bench.data_folder)
        where = "built in" if not needs_data else ("data missing" if missing else "data found")
        typer.echo(f"{name:16} {where:13} {bench.description}")
        for task_id, reason in bench.known_broken.items():
            typer.echo(f"{'':16} {'':13} known broken: {task_id}: {reason}")
    typer.echo(f"\ndata dir: {root} (--data DIR or SEMTRACE_DATA to change)")


async def _verify(name: str, data: Path | None, sandbox_name: str, limit: int | None,
                  show_progress: bool) -> VerifyReport:
    from semtrace.sandbox.base import make_sandbox

    bench = get_benchmark(name)
    options = parse_benchmark_spec(name)[1]  # livecodebench?difficulty=hard verifies those tasks only
    tasks = await asyncio.to_thread(bench.load, data, sandbox=sandbox_name, options=options)
    if limit is not None:
        tasks = tasks[:limit]
    sandbox = make_sandbox(sandbox_name)
    try:
        if not show_progress:
            return await verify_tasks(name, tasks, sandbox, known_broken=bench.known_broken)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn(f"verify {name}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      transient=True) as bar:
            job = bar.add_task("programs", total=program_count(tasks))
            return await verify_tasks(name, tasks, sandbox, known_broken=bench.known_broken,
                                      progress=lambda n: bar.advance(job, n))
    finally:
        await sandbox.close()


@app.command()
def verify(
    name: Annotated[str, typer.Argument(help="Benchmark name (see `semtrace benchmarks list`).")],
    data: Annotated[Path | None, typer.Option("--data", help="Data dir laid out like shared/benchmarks.")] = None,
    sandbox: Annotated[str, typer.Option("--sandbox", help="Sandbox back end: local or docker.")] = "local",
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N tasks.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run every reference solution (must pass) and starting program (must fail) through the sandbox.

    Exit code 1 when a reference fails or a starting program passes outside the known-broken tasks.
    """
    if limit is not None and limit < 1:
        _fail(f"--limit must be a positive number of tasks, got {limit}")
    if sandbox not in ("local", "docker") and "." not in sandbox and ":" not in sandbox:
        _fail(f"--sandbox must be local or docker (or a dotted path), got {sandbox!r}")
    from semtrace.sandbox.base import SandboxUnavailable

    try:
        report = asyncio.run(_verify(name, data, sandbox, limit, show_progress=sys.stderr.isatty()))
    except (RegistryError, DataMissing, DataError, SandboxUnavailable, CalibrationError) as exc:
        _fail(str(exc))
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        _print_human(report)
    raise typer.Exit(0 if report.ok else 1)


def _print_human(report: VerifyReport) -> None:
    typer.echo(f"{report.benchmark}: {report.tasks} tasks, {report.programs} programs in {report.seconds:.1f}s")
    typer.echo(f"  reference passed:     {report.reference_passed}/{report.reference_total}")
    if report.starting_total:
        typer.echo(f"  starting code passed: {report.starting_passed}/{report.starting_total}")
    for task_id in report.known_broken:
        typer.echo(f"  known broken: {task_id}: {report.known_broken_reasons.get(task_id, '')}")
    for m in report.mismatches:
        if m.task_id not in report.known_broken:
            typer.echo(f"  MISMATCH {m.task_id} {m.which}: {m.status}: {m.message}")
    typer.echo("OK" if report.ok else "FAILED")
