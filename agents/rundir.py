"""The run directory's files: reading results (damaged lines are skipped and kept, never dropped), writing records
(a failed write stops the run with the file and the OS error), the saved config and the saved summary.

``results.jsonl`` is append-only. A line that is not a record (a torn write, a disk error, a hand edit) is skipped
with a warning naming ``file:line``; so is a record of another run (``run.json`` keeps the run's identity: its config
digest, which every record carries, and its task ids; ``identity.foreign_reason`` decides); every other line counts. ``repair_results`` (run at the start of a
resumed run) copies the bad lines to ``results.jsonl.corrupt`` and cuts off only a torn *last* line, so the next
append starts on a fresh line; lines in the middle stay where they are.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from semtrace.config import ConfigError, RunConfig, validate_config

log = logging.getLogger(__name__)

CONFIG_FILE, RESULTS_FILE, ERRORS_FILE = "config.yaml", "results.jsonl", "errors.jsonl"
CHECKPOINTS_FILE, SUMMARY_FILE, IDENTITY_FILE = "checkpoints.sqlite", "summary.json", "run.json"
CORRUPT_SUFFIX = ".corrupt"  # results.jsonl -> results.jsonl.corrupt: the bad lines, kept


class RunError(RuntimeError):
    """A run cannot start or go on (bad directory, nothing to do); the message says what to do instead."""


class RunWriteError(RunError):
    """A file of the run directory could not be written (read-only, disk full); the run stops, resumable."""

    def __init__(self, path: Path, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        errno = f"[Errno {exc.errno}] " if exc.errno else ""
        super().__init__(f"cannot write {path}: {errno}{reason}")
        self.path = path
        self.original = exc


@dataclass(frozen=True)
class BadLine:
    lineno: int
    text: str  # the line's bytes as text (undecodable bytes kept as surrogate escapes)
    reason: str
    last: bool  # the file's last line with no newline after it: a torn write
    foreign: bool = False  # a record, but of another run (``check`` said why)


@dataclass
class Results:
    """A results file as read: one record per task (the last line of a task wins) and the lines that were not."""

    path: Path
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    bad: list[BadLine] = field(default_factory=list)
    missing_newline: bool = False  # the last line is a good record whose newline was not written
    torn_at: int | None = None  # byte offset of a torn last line (cut off by ``repair_results``)


def _parse(line: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        rec = json.loads(line)
    except ValueError as exc:  # JSONDecodeError, or UnicodeDecodeError for bytes that are not UTF-8
        return None, f"not JSON ({exc})"
    if not isinstance(rec, dict) or not isinstance(rec.get("task_id"), str):
        return None, "not a task record (no task_id)"
    return rec, ""


def read_results(path: Path, *, warn: bool = True, check: Callable[[dict[str, Any]], str | None] | None = None
                 ) -> Results:
    """Every good record of ``path`` and every bad line (with its line number); warnings name ``file:line``.
    ``check`` (``identity.record_check``) says why a record is not this run's (None: it is); such records are set
    aside as bad lines."""
    out = Results(path)
    if not path.exists():
        return out
    if not path.is_file():  # a device or a fifo (reading /dev/full would never end): nothing to read
        log.warning("%s is not a regular file; no records read from it", path)
        return out
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    pos = 0
    for i, line in enumerate(lines):
        start, pos = pos, pos + len(line) + 1
        if not line.strip():
            continue
        last = i == len(lines) - 1  # nothing after the final b"\n": this line's newline was never written
        rec, reason = _parse(line)
        if rec is None:
            text = line.decode("utf-8", "surrogateescape")
            out.bad.append(BadLine(i + 1, text, "torn write: " + reason if last else reason, last))
            if last:
                out.torn_at = start
            continue
        out.missing_newline = last
        foreign = check(rec) if check is not None else None
        if foreign:
            out.bad.append(BadLine(i + 1, line.decode("utf-8", "surrogateescape"), foreign, False, foreign=True))
            continue
        out.records[rec["task_id"]] = rec
    if warn:
        for bad in out.bad:
            log.warning("%s:%d: %s (%s)", path, bad.lineno, _skipped(bad), bad.reason[:200])
    return out


def _skipped(bad: BadLine) -> str:
    if bad.foreign:
        return "set aside a record that is not this run's"
    return "cut off a torn last line" if bad.last else "skipped a line that is not a record"


def read_records(path: Path, *, repair: bool = False, check: bool = True) -> list[dict[str, Any]]:
    """The good records of a results file (see ``read_results``); ``repair`` as in ``repair_results``. With
    ``check``, the records of another run are set aside (the run directory holding ``path`` says which are)."""
    from semtrace.agents.identity import record_check

    results = read_results(path, warn=not repair, check=record_check(path.parent) if check else None)
    if repair:
        repair_results(results)
    return list(results.records.values())


def corrupt_path(path: Path) -> Path:
    return path.with_name(path.name + CORRUPT_SUFFIX)


def repair_results(results: Results) -> None:
    """Keep the bad lines in the side file (each once), cut off a torn last line, end the file with a newline."""
    path = results.path
    if results.bad:
        side = corrupt_path(path)
        seen: set[tuple[int, str]] = set()
        if side.exists():
            for line in side.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    seen.add((int(entry["line"]), str(entry["text"])))
                except (ValueError, KeyError, TypeError):
                    continue
        new = [b for b in results.bad if (b.lineno, b.text) not in seen]
        try:
            with side.open("a", encoding="utf-8") as fh:
                for b in new:
                    fh.write(json.dumps({"file": path.name, "line": b.lineno, "reason": b.reason,
                                         "text": b.text}) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise RunWriteError(side, exc) from exc
        for b in results.bad:
            log.warning("%s:%d: %s (%s); a copy is in %s", path, b.lineno, _skipped(b), b.reason[:200], side)
    try:
        if results.torn_at is not None:
            with path.open("r+b") as fh:
                fh.truncate(results.torn_at)
        elif results.missing_newline:
            with path.open("ab") as fh:
                fh.write(b"\n")
    except OSError as exc:
        raise RunWriteError(path, exc) from exc


def check_writable(path: Path) -> None:
    """Fail now, before any task runs, when ``path`` cannot be appended to."""
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise RunWriteError(path, exc) from exc


def append_line(path: Path, record: dict[str, Any] | str) -> None:
    """One JSON line (a dict, or its JSON already), flushed and fsynced; an OSError becomes a RunWriteError naming
    the file."""
    text = record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)
    data = (text + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:  # one write() for the whole line; loop only on a short write
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise RunWriteError(path, exc) from exc


def write_file(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a kill or a full disk leaves the old file, never half a new one)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise RunWriteError(path, exc) from exc


# ---------------------------------------------------------------- config and summary


def save_config(run_dir: Path, cfg: RunConfig) -> None:
    write_file(run_dir / CONFIG_FILE, yaml.safe_dump(cfg.dump(), sort_keys=False))


def load_run_config(run_dir: Path) -> RunConfig:
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunError(
            f"'{run_dir}' is not a run directory (no {CONFIG_FILE}); pass the --out DIR of an earlier run"
        )
    fix = "restore it, or start a new run with the same options and another --out"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RunError(f"{path} is not valid YAML ({first}); {fix}") from None
    if not isinstance(data, dict):
        raise RunError(f"{path} does not hold a run config (a mapping of key: value); {fix}")
    try:
        return validate_config(data)
    except ConfigError as exc:
        raise RunError(f"{path}: {exc}; {fix}") from None


def load_summary(run_dir: Path) -> dict[str, Any] | None:
    """The saved summary, or None when there is none or it cannot be read (a warning says it is rebuilt)."""
    path = run_dir / SUMMARY_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        log.warning("%s cannot be read (%s); rebuilding the summary from %s", path, exc, RESULTS_FILE)
        return None
    if not isinstance(data, dict):
        log.warning("%s does not hold a summary; rebuilding it from %s", path, RESULTS_FILE)
        return None
    return data


def check_new_run_dir(run_dir: Path) -> None:
    """A new run may go into ``run_dir``: it does not exist yet, or is an empty directory."""
    from semtrace.agents.runlock import LOCK_FILE, RunDirBusy, busy_holder

    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"--out '{run_dir}' is a file, not a directory; choose another --out")
    holder = busy_holder(run_dir)
    if holder is not None:
        raise RunDirBusy(f"run directory '{run_dir}' is in use by {holder}; choose another --out")
    try:
        not_empty = run_dir.exists() and any(p.name != LOCK_FILE for p in run_dir.iterdir())
    except OSError as exc:
        raise RunError(f"cannot read --out '{run_dir}': {exc.strerror or exc}; choose another --out") from None
    if not_empty:
        raise RunError(
            f"run directory '{run_dir}' is not empty; continue it with --resume {run_dir} "
            f"or choose another --out"
        )


@contextlib.contextmanager
def open_run_dir(run_dir: Path, cfg: RunConfig, *, resume: bool) -> Iterator[None]:
    """Hold ``run_dir`` for the block (``runlock.hold``: a second command there is refused, naming this one): a
    new run's directory created empty with its config saved, a resumed one's checked for its config."""
    from semtrace.agents.runlock import hold

    if resume:
        if not (run_dir / CONFIG_FILE).is_file():
            raise RunError(
                f"cannot resume '{run_dir}': no {CONFIG_FILE} there; start a run with --out {run_dir}"
            )
        with hold(run_dir):
            yield
        return
    check_new_run_dir(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(
            f"cannot create the run directory '{run_dir}': {exc.strerror or exc}; choose another --out"
        ) from None
    with hold(run_dir, "choose another --out"):
        check_new_run_dir(run_dir)  # again, holding it: another new run may have filled it meanwhile
        try:
            save_config(run_dir, cfg)
        except RunWriteError as exc:
            raise RunError(f"{exc}; choose another --out") from None
        yield


def prepare_run_dir(run_dir: Path, cfg: RunConfig, *, resume: bool) -> None:
    """``open_run_dir`` without holding the directory afterwards (``run_tasks`` holds it while it runs)."""
    with open_run_dir(run_dir, cfg, resume=resume):
        pass


def errored_ids(run_dir: Path) -> set[str]:
    """Task ids that errors.jsonl lists as failed (unreadable lines are skipped)."""
    path = run_dir / ERRORS_FILE
    ids: set[str] = set()
    if not path.is_file():
        return ids
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            task_id = json.loads(line).get("task_id")
        except (ValueError, AttributeError):
            continue
        if isinstance(task_id, str):
            ids.add(task_id)
    return ids


def run_summary(run_dir: Path) -> dict[str, Any]:
    """The summary of a run directory from its records; the saved summary adds the task total and the cost. When
    summary.json is unreadable the total is the finished tasks plus those errors.jsonl lists."""
    from semtrace.agents.identity import load_identity
    from semtrace.agents.metrics import summarize
    from semtrace.agents.settings import settings_view

    cfg = load_run_config(run_dir)
    records = read_records(run_dir / RESULTS_FILE)  # without the records of another run
    old = load_summary(run_dir)
    identity = load_identity(run_dir)
    if identity is not None and identity.task_ids is not None:
        total = len(identity.task_ids)
    elif old is not None:
        total = max(int(old.get("total_tasks") or 0), len(records))
    else:
        total = len({r["task_id"] for r in records} | errored_ids(run_dir))
    summary = summarize(records, total_tasks=total)
    summary["config"] = settings_view(cfg)
    summary["total_tasks"] = total
    summary["errors"] = total - len(records)
    summary["cost"] = (old or {}).get("cost")
    return summary
