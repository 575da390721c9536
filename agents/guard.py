"""How the run, ablate and report commands end: an expected user error is one line (exit 2); Ctrl-C says how to
continue (exit 130); anything else is a bug: its traceback goes to a file (the run's ``errors.jsonl`` when there is
a run directory, else a file in the temp directory) and one line says where (exit 1)."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import typer

log = logging.getLogger(__name__)

T = TypeVar("T")

EXIT_USER, EXIT_BUG, EXIT_INTERRUPTED = 2, 1, 130


def user_errors() -> tuple[type[BaseException], ...]:
    """The project's own error types whose message is written for the user (names the problem and the fix)."""
    from semtrace.agents.rundir import RunError
    from semtrace.benchmarks.calibrate import CalibrationError
    from semtrace.benchmarks.common import DataError, DataMissing
    from semtrace.config import ConfigError
    from semtrace.llms.base import AuthFailed, LLMConfigError
    from semtrace.llms.cache import CacheUnavailable
    from semtrace.llms.registry import MissingSDK
    from semtrace.registry import RegistryError
    from semtrace.representations.base import NeedsLLM
    from semtrace.sandbox.base import SandboxUnavailable

    return (ConfigError, RegistryError, SandboxUnavailable, RunError, DataError, DataMissing, CalibrationError,
            AuthFailed, LLMConfigError, CacheUnavailable, MissingSDK, NeedsLLM)


def fail(message: str, code: int = EXIT_USER) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def record_crash(exc: BaseException, run_dir: Path | None) -> Path:
    """Write ``exc``'s traceback to the run's errors.jsonl (a run directory exists) or a temp file; its path."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if run_dir is not None and run_dir.is_dir():
        from semtrace.agents.rundir import ERRORS_FILE

        path = run_dir / ERRORS_FILE
        try:
            with path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"task_id": None, "error": f"{type(exc).__name__}: {exc}",
                                     "traceback": text}) + "\n")
            return path
        except OSError:
            pass  # the run directory is not writable: fall back to the temp directory
    stamp = time.strftime("%Y%m%d-%H%M%S")
    fd, name = tempfile.mkstemp(prefix=f"semtrace-error-{stamp}-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(name)


def guard(fn: Callable[[], T], *, run_dir: Callable[[], Path | None] | None = None,
          resume_hint: Callable[[], str | None] | None = None) -> T:
    """Call ``fn``; end the command cleanly on the project's user errors, on Ctrl-C and on unexpected errors.

    ``run_dir`` gives the run directory (if any) for the traceback of a bug; ``resume_hint`` how to continue the
    work after Ctrl-C or a write failure, e.g. "`semtrace run --resume DIR`" (None: nothing to continue)."""
    from semtrace.agents.rundir import RunWriteError

    try:
        return fn()
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        hint = resume_hint() if resume_hint else None
        typer.echo("interrupted" + (f"; continue with {hint}" if hint else ""), err=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except RunWriteError as exc:
        hint = resume_hint() if resume_hint else None
        fix = "free space or fix the permissions" + (f", then continue with {hint}" if hint else "")
        fail(f"{exc}; every finished task is kept: {fix}")
    except user_errors() as exc:
        fail(str(exc))
    except Exception as exc:
        if getattr(exc, "fatal", False):  # an LLM endpoint no task can use (llms/base.py): names it and the fix
            hint = resume_hint() if resume_hint else None
            fail(f"{exc}" + (f"; every finished task is kept: continue with {hint}" if hint else ""))
        log.debug("unexpected error", exc_info=True)
        where = record_crash(exc, run_dir() if run_dir else None)
        fail(f"unexpected {type(exc).__name__}: {exc} (a bug, not a problem with the input; the traceback is in "
             f"{where})", EXIT_BUG)
