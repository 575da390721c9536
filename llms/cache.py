"""A persistent SQLite response cache, one row per sample.

The key is a SHA-256 digest of (format version, provider, model, messages with all their parts, tools, sampling
params and back-end options, seed, sample index), so a second identical run is served entirely from disk and
returns identical completions: every field (answer, reasoning and its provider parts, tool calls,
``reasoning_unfinished``, finish reason, usage with reasoning tokens) is stored as one JSON document. Format 2
lives in its own table (``completions_v2``): entries of format 1 (answer text only, the reasoning lost) are never
read, so a reasoning model's old entries cannot come back as answers, and an older semtrace sharing the file
keeps its own. Safe under concurrent use from one process (one connection behind a lock; WAL so several
processes can share the file too).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from semtrace.llms.base import Completion, Message, ToolSpec

FORMAT = 2

log = logging.getLogger(__name__)


def default_cache_path() -> Path:
    """``$SEMTRACE_LLM_CACHE`` or ``$XDG_CACHE_HOME/semtrace/llm-cache.sqlite`` (``~/.cache`` by default)."""
    env = os.environ.get("SEMTRACE_LLM_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    return base / "semtrace" / "llm-cache.sqlite"


def cache_key(provider: str, model: str, messages: list[Message], params: dict[str, Any],
              seed: int | None, index: int, *, tools: list[ToolSpec] | None = None) -> str:
    """Digest of everything that determines one sample. ``params`` must be JSON-able."""
    payload = {
        "format": FORMAT,
        "provider": provider,
        "model": model,
        "messages": [m.to_dict() for m in messages],
        "tools": [dataclasses.asdict(t) for t in tools or []],
        "params": params,
        "seed": seed,
        "index": index,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions_v2 (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL
)
"""


class CacheUnavailable(OSError):
    """The response cache cannot be opened (unwritable path, not a database); the message names the fix."""


class ResponseCache:
    """``get(key) -> Completion | None`` and ``put(key, provider, completion)``; ``cached=True`` on hits."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path else default_cache_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30.0,
                                         isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise CacheUnavailable(f"cannot open the LLM cache at '{self.path}': {exc}; "
                          "pass another cache path (--cache-path) or disable it (--no-cache)") from exc
        self._lock = threading.Lock()

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._conn.execute("SELECT completion FROM completions_v2 WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            data = json.loads(row[0])
            return dataclasses.replace(Completion.from_dict(data), cached=True)
        except (ValueError, TypeError, KeyError) as exc:  # a damaged row is a miss, not a crash
            log.warning("LLM cache %s: unreadable entry %s (%s); asking again", self.path, key[:12], exc)
            return None

    def put(self, key: str, provider: str, completion: Completion) -> None:
        self.put_many([(key, provider, completion)])

    def put_many(self, items: list[tuple[str, str, Completion]]) -> None:
        """Store several samples in one transaction."""
        now = time.time()
        rows = [(key, provider, c.model, json.dumps(dataclasses.replace(c, cached=False).to_dict(), ensure_ascii=False),
                 now) for key, provider, c in items]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT OR REPLACE INTO completions_v2 VALUES (?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def get_many(self, keys: list[str]) -> list[Completion | None]:
        return [self.get(k) for k in keys]

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM completions_v2").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
