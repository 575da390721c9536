"""Where a build goes: ``--out`` is a new or empty folder, or an earlier build's folder, which a rebuild replaces
whole (every file of the earlier build goes, so ``stats.json`` always describes exactly the files beside it).

A folder holding anything else (or an earlier build plus files it did not write) is refused, as ``semtrace run``
and ``semtrace view`` refuse a non-empty ``--out``; a file is refused before any work. The new build is written
into a hidden sibling folder and swapped in only when it is complete, so a failed rebuild leaves the earlier one.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATS_FILE = "stats.json"


class OutError(ValueError):
    """``--out`` cannot take a build; the message names the folder and the fix."""


def earlier_build(out: Path) -> dict[str, Any] | None:
    """The stats of the build in ``out`` (its ``stats.json`` lists the files it wrote), or None."""
    try:
        stats = json.loads((out / STATS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stats, dict) or not isinstance(stats.get("files"), list) or "representations" not in stats:
        return None
    return stats


def check_out(out: Path) -> None:
    """``out`` can take a build: it does not exist, is empty, or holds an earlier build and nothing else."""
    if out.exists() and not out.is_dir():
        raise OutError(f"--out '{out}' is a file, not a folder; pass a new or empty folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutError(f"--out '{out}': '{parent}' is a file, not a folder; choose another --out")
            break
    try:
        entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    except OSError as exc:
        raise OutError(f"cannot read --out '{out}': {exc.strerror or exc}; choose another --out") from None
    if not entries:
        return
    stats = earlier_build(out)
    if stats is None:
        raise OutError(f"--out '{out}' is not empty and holds no earlier build ({STATS_FILE} missing); pass a new "
                       f"or empty folder")
    ours = {STATS_FILE} | {Path(str(f)).parts[0] for f in stats["files"] if str(f)}
    others = [e for e in entries if e not in ours]
    if others:
        raise OutError(f"--out '{out}' holds an earlier build and files it did not write ({', '.join(others[:3])}); "
                       f"a rebuild replaces the whole folder: move them away or pass a new or empty folder")


@contextlib.contextmanager
def replacing(out: Path) -> Iterator[Path]:
    """A fresh folder to write the build into; on success it becomes ``out`` (an earlier build there is removed
    whole), on failure it is removed and ``out`` is left as it was."""
    check_out(out)
    tmp = out.parent / f".{out.name}.building-{os.getpid()}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise OutError(f"cannot create --out '{out}': {exc.strerror or exc}; choose another --out") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.parent / f".{out.name}.replaced-{os.getpid()}"
    if out.exists():
        out.rename(old)
    tmp.rename(out)
    if old.exists():
        log.info("replaced the earlier build in %s", out)
        shutil.rmtree(old, ignore_errors=True)
