"""A cache of a results file's reduced records, so a second report (or the viewer) on a large run does not parse
every trace again.

Kept under ``$SEMTRACE_CACHE/reports`` (default ``~/.cache/semtrace``), one JSON file per results file, named after
its resolved path. It is used only when it was made from a file of the same path, size, mtime and inode by the
same reduction code (a digest of ``agents/metrics.py``, ``agents/record.py``, ``agents/identity.py``,
``agents/state.py``, ``reports/load.py``, ...); any change to the file or the code makes a fresh one. ``SEMTRACE_REPORT_CACHE=0`` turns it off; ``SEMTRACE_REPORT_CACHE=DIR``
keeps it in DIR. A cache that cannot be read or written is ignored (a debug message), never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

VERSION = 1
# the code a cached reduction depends on (the verdict rule lives in agents/record.py, the metrics in metrics.py)
_CODE = ("agents/metrics.py", "agents/record.py", "agents/identity.py", "agents/state.py", "agents/selectors.py",
         "reports/load.py", "benchmarks/metrics.py")
_code_digest: str | None = None


def enabled() -> bool:
    return os.environ.get("SEMTRACE_REPORT_CACHE", "1").lower() not in ("0", "false", "no", "off")


def cache_dir() -> Path:
    chosen = os.environ.get("SEMTRACE_REPORT_CACHE", "")
    if chosen and chosen not in ("1", "true", "yes", "on"):
        return Path(chosen).expanduser()
    root = os.environ.get("SEMTRACE_CACHE")
    return (Path(root) if root else Path("~/.cache/semtrace").expanduser()) / "reports"


def _code() -> str:
    global _code_digest
    if _code_digest is None:
        repo = Path(__file__).resolve().parents[1]
        h = hashlib.sha256(str(VERSION).encode())
        for rel in _CODE:
            try:
                h.update((repo / rel).read_bytes())
            except OSError:
                h.update(rel.encode())
        _code_digest = h.hexdigest()[:16]
    return _code_digest


def _key(results: Path) -> list[Any] | None:
    try:
        st = results.stat()
    except OSError:
        return None
    return [str(results.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, _code()]


def _path(results: Path) -> Path:
    return cache_dir() / (hashlib.sha256(str(results.resolve()).encode()).hexdigest()[:24] + ".json")


def load(results: Path) -> dict[str, Any] | None:
    """The cached ``{"stats": {task_id: reduced}, "bad": [[line, reason], ...]}`` of ``results``, if current."""
    if not enabled():
        return None
    key = _key(results)
    path = _path(results)
    if key is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.debug("report cache %s unreadable (%s); rebuilding it", path, exc)
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    return data


def save(results: Path, stats: dict[str, Any], bad: list[tuple[int, str]]) -> None:
    if not enabled():
        return
    key = _key(results)
    if key is None:
        return
    path = _path(results)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"key": key, "stats": stats, "bad": bad}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("report cache %s not written (%s)", path, exc)
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
