"""``semtrace sandbox ...``: build the offline image, check containment, remove leftover containers."""

from __future__ import annotations

import json
import sys

import typer
from semtrace.sandbox.image import BUILT_IMAGE

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Build the sandbox image and check its containment.")

BACKENDS = ("docker", "local")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command("build-image")
def build_image_cmd(
    tag: str = typer.Option(BUILT_IMAGE, "--tag", help="image name:tag to create"),
    suite: str = typer.Option("auto", help="Debian suite (auto: trixie, else bookworm)"),
    mirror: str | None = typer.Option(None, help="Debian mirror (default: the one apt uses)"),
    if_missing: bool = typer.Option(False, "--if-missing", help="do nothing when the image exists"),
) -> None:
    """Build the sandbox image with no registry: debootstrap a minimal Debian with python3, import it."""
    from semtrace.sandbox.base import SandboxUnavailable
    from semtrace.sandbox.image import ImageBuildError, build_image, docker_client, image_exists

    try:
        if if_missing and image_exists(docker_client(), tag):
            typer.echo(f"{tag}: already present")
            return
        typer.echo(f"building {tag} (debootstrap + import; about a minute) ...", err=True)
        built = build_image(tag=tag, suite=suite, mirror=mirror)
    except (ImageBuildError, SandboxUnavailable) as exc:
        _fail(str(exc), 1)
    typer.echo(f"{built.tag}: {built.image_id[:19]} Debian {built.suite}, python {built.python}, "
               f"{built.size_mb:.0f} MB, built in {built.seconds:.0f}s")


@app.command("check")
def check_cmd(
    backend: str = typer.Option("docker", "--backend", help="docker | local"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    case: list[str] | None = typer.Option(None, "--case", help="run only these cases (repeatable)"),
) -> None:
    """Run the conformance suite of hostile programs against a back end; exit 1 if any case fails."""
    from semtrace.sandbox.base import SandboxUnavailable
    from semtrace.sandbox.conformance import CaseResult, case_names, run_suite_sync

    if backend not in BACKENDS:
        _fail(f"unknown --backend {backend!r}; use one of: {', '.join(BACKENDS)}")
    unknown = sorted(set(case or ()) - set(case_names()))
    if unknown:
        _fail(f"unknown --case {', '.join(unknown)}; valid: {', '.join(case_names())}")

    def progress(r: CaseResult) -> None:
        mark = "skip" if r.skipped else ("ok" if r.ok else "FAIL")
        typer.echo(f"  {r.name:<24} {r.expected:<14} {r.got:<28} {mark}", err=as_json)

    if not as_json:
        typer.echo(f"  {'case':<24} {'expected':<14} {'got':<28} ok")
    try:
        report = run_suite_sync(backend, list(case) if case else None, progress)
    except SandboxUnavailable as exc:
        _fail(str(exc), 2)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for r in report.cases:
            if r.skipped or (not r.ok and r.detail):
                typer.echo(f"  - {r.name}: {r.skipped or r.detail}")
        skipped = len(report.cases) - len(report.run)
        typer.echo(f"{backend} (python {report.python}): {report.passed}/{len(report.run)} cases ok"
                   + (f", {skipped} not run (documented above)" if skipped else ""))
    if not report.ok:
        raise typer.Exit(1)


@app.command("cleanup")
def cleanup_cmd(
    everything: bool = typer.Option(False, "--all", help="also containers of live semtrace processes"),
) -> None:
    """Remove semtrace sandbox containers left on this host by dead runs."""
    from semtrace.sandbox.base import SandboxUnavailable
    from semtrace.sandbox.docker import remove_leftovers
    from semtrace.sandbox.image import docker_client

    try:
        n = remove_leftovers(docker_client(), everything=everything)
    except SandboxUnavailable as exc:
        _fail(str(exc), 2)
    typer.echo(f"removed {n} container(s)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
