"""A run's identity, and which records are its own.

The identity (``RunIdentity``) is the run's benchmark, a digest of its config (``config_digest``: every knob that
changes results, fixed when the run started and kept in ``run.json``) and its task ids. Every record carries the
digest (``TaskRecord.config_digest``); ``foreign_reason`` says why a record is another run's, and ``record_check``
gives that check for a run directory to every reader of results (``rundir.read_results``, the run loop,
``reports/load.py``), which sets such records aside.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from semtrace.agents.rundir import IDENTITY_FILE, RunError, load_run_config, write_file
from semtrace.config import RunConfig

log = logging.getLogger(__name__)


DIGEST_IGNORES = ("display", "out", "task_concurrency")  # how a run is watched and scheduled, not what it computes


def config_digest(cfg: RunConfig) -> str:
    """A digest of everything in the config that changes results (what every record of the run carries)."""
    data = {k: v for k, v in cfg.dump().items() if k not in DIGEST_IGNORES}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunIdentity:
    """What makes a record this run's: the benchmark, the config digest (fixed when the run started, kept in
    ``run.json``) and the task ids (None: not known, for a run older than ``run.json``)."""

    benchmark: str
    config_digest: str = ""
    task_ids: frozenset[str] | None = None


def _read_identity(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / IDENTITY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s cannot be read (%s); its records are checked by their benchmark only", path, exc)
        return None
    ok = isinstance(data, dict) and isinstance(data.get("config_digest"), str) and isinstance(data.get("tasks"), list)
    if not ok:
        log.warning("%s does not hold a run's identity; its records are checked by their benchmark only", path)
        return None
    return data


def load_identity(run_dir: Path) -> RunIdentity | None:
    """The identity of the run in ``run_dir`` (None: not a run directory, or its config cannot be read)."""
    try:
        cfg = load_run_config(run_dir)
    except RunError:
        return None
    data = _read_identity(run_dir)
    if data is None:
        return RunIdentity(cfg.benchmark)
    return RunIdentity(cfg.benchmark, data["config_digest"], frozenset(str(t) for t in data["tasks"]))


def ensure_identity(run_dir: Path, cfg: RunConfig, task_ids: list[str]) -> RunIdentity:
    """The run's identity: as ``run.json`` holds it, else (a new run, or one older than ``run.json``) made now
    from the config and the tasks, and written there."""
    data = _read_identity(run_dir)
    if data is None:
        data = {"config_digest": config_digest(cfg), "tasks": list(task_ids)}
        write_file(run_dir / IDENTITY_FILE, json.dumps(data, indent=1))
    return RunIdentity(cfg.benchmark, data["config_digest"], frozenset(str(t) for t in data["tasks"]))


def foreign_reason(record: dict[str, Any], identity: RunIdentity) -> str | None:
    """Why ``record`` is not a record of the run ``identity`` describes (None: it is). A record older than the
    digest (schema 1) is checked by its benchmark and task id."""
    bench = record.get("benchmark")
    if bench not in (None, "") and bench != identity.benchmark:
        return f"a record of benchmark {bench!r}, this run's is {identity.benchmark!r}"
    digest = record.get("config_digest")
    if identity.config_digest and digest not in (None, "") and digest != identity.config_digest:
        return f"a record of another run: config digest {digest!r}, this run's is {identity.config_digest!r}"
    if identity.task_ids is not None and record.get("task_id") not in identity.task_ids:
        return f"a record of task {record.get('task_id')!r}, which this run does not have"
    return None


def _belongs(_record: dict[str, Any]) -> str | None:
    return None


def record_check(run_dir: Path) -> Callable[[dict[str, Any]], str | None]:
    """For the records of ``run_dir``'s results file: why a record is another run's (``foreign_reason``), None
    when it is this run's. Every reader of results sets such records aside (``rundir.read_results``, the run loop,
    ``reports/load.py``). Outside a run directory every record passes."""
    identity = load_identity(run_dir)
    return _belongs if identity is None else partial(foreign_reason, identity=identity)
