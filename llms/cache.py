"""A persistent SQLite response cache, one row per sample.

The key is a SHA-256 digest of (provider, model, messages, sampling params, seed, sample index), so a
second identical run is served entirely from disk and returns identical text. Safe under concurrent use
from one process (one connection behind a lock; WAL so several processes can share the file too).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from semtrace.llms.base import Completion, Message, Usage

log = logging.getLogger(__name__)


def default_cache_path() -> Path:
    """``$SEMTRACE_LLM_CACHE`` or ``$XDG_CACHE_HOME/semtrace/llm-cache.sqlite`` (``~/.cache`` by default)."""
    env = os.environ.get("SEMTRACE_LLM_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    return base / "semtrace" / "llm-cache.sqlite"


def cache_key(provider: str, model: str, messages: list[Message], params: dict[str, Any],
              seed: int | None, index: int) -> str:
    """Digest of everything that determines one sample. ``params`` must be JSON-able."""
    payload = {
        "provider": provider,
        "model": model,
        "messages": [[m.role, m.content] for m in messages],
        "params": params,
        "seed": seed,
        "index": index,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency REAL NOT NULL,
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
            row = self._conn.execute(
                "SELECT model, text, finish_reason, prompt_tokens, completion_tokens, latency "
                "FROM completions WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        model, text, finish, pt, ct, latency = row
        return Completion(text=text, finish_reason=finish, usage=Usage(pt, ct), latency=latency,
                          cached=True, model=model)

    def put(self, key: str, provider: str, completion: Completion) -> None:
        self.put_many([(key, provider, completion)])

    def put_many(self, items: list[tuple[str, str, Completion]]) -> None:
        """Store several samples in one transaction."""
        now = time.time()
        rows = [(key, provider, c.model, c.text, c.finish_reason, c.usage.prompt_tokens, c.usage.completion_tokens,
                 c.latency, now) for key, provider, c in items]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany("INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                       rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def get_many(self, keys: list[str]) -> list[Completion | None]:
        return [self.get(k) for k in keys]

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM completions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
