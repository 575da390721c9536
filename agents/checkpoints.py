"""The run's checkpointer: LangGraph's SQLite saver, each operation done whole, right where it is asked.

LangGraph's ``AsyncSqliteSaver`` holds an ``asyncio.Lock`` across every round trip to its database thread (open a
cursor, execute, fetch, commit, close), and each round trip waits for a turn of the event loop: with a hundred tasks
in flight, operations queued behind the lock (``perf/orchestration.py`` measured a mean of 53 s per operation, 164
tasks, width 8). A single worker thread doing each operation whole was better but still a queue: the thread
released and re-took the GIL at every SQLite call while the event loop's thread held it, so an operation took
~3.5 ms of wall for ~0.3 ms of work, and at a run's start (every task writing its first checkpoints) hundreds
waited, 0.2-0.5 s each on average. So here every operation is one call of the synchronous ``SqliteSaver`` on the
event loop's own thread: no queue, no thread hop; ~0.6 ms per operation on average, SQLite's own WAL checkpoints
included (measured: 18,512 operations of a 164-task, width-8 run in 11.8 s).

The database runs in WAL mode with ``synchronous=NORMAL``: a commit does not wait for the disk and survives the
process being killed (what ``--resume`` needs); only a power loss or an OS crash may lose the last commits, never
the database's consistency. Same file and schema as ``AsyncSqliteSaver``; the values are written by the run's
serializer (``serde.py``: the agent's typed chains and candidates as their JSON, type ``semtrace``; large blobs
compressed, ``+z``), so LangGraph's own savers read this file only with that serializer. The graph's
``candidates`` channel is a ``DeltaChannel`` (``state.py``): a checkpoint stores each step's finished candidates,
not the whole list again; raw traces never leave ``observe`` and a chain carries on only what later nodes read
(``Chain.carried``): checkpoint bytes per task are 0.07x of issue 20's start on a demo run, 0.17x on
``perf/orchestration.py``'s scenario (``perf/checkpoint_bytes.py``).

A file that cannot serve as the checkpoint database (not a SQLite database, read-only, in use, not a file) is a
``CheckpointError`` raised by ``open`` before any task starts: one line naming the file and the fix (a ``RunError``,
so the commands print it and exit 2). ``open`` proves the file writable (a table created and rolled back) and, for a
file that was already there, sound (``PRAGMA quick_check``). The same failure during the run (disk full, the file
made read-only) is a ``CheckpointError`` marked ``fatal``: the run stops instead of failing each task. Any other
SQLite error (misuse: a closed connection, a bad statement) stays what it is, a bug.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver
from semtrace.agents.rundir import RunError
from semtrace.agents.serde import TYPES, CompressedSerde


class CheckpointError(RunError):
    """The run's checkpoint database cannot be used; the message names the file and the fix. ``fatal`` (an
    operation failed during the run): the run stops rather than fail every task the same way."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


def explain(path: str | Path, exc: sqlite3.Error) -> str | None:
    """One line for an SQLite error that is the file's problem, not ours; None for anything else (a bug)."""
    where = Path(path)
    resume = f"`semtrace run --resume {where.parent}`"
    text = str(exc).lower()
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (f"{where} is not a SQLite database (corrupt?): move it away (with its -wal and -shm files, if any); "
                f"then {resume} redoes the unfinished tasks (finished ones are kept in results.jsonl)")
    if "readonly" in text or "read-only" in text:
        return (f"{where} is read-only: make it writable (chmod u+w; chattr -i if it is immutable) or move it away "
                f"(with its -wal and -shm files), then continue with {resume}")
    if "unable to open" in text:
        return (f"{where} cannot be opened as a database ({exc}): it must be a file in a writable directory "
                f"(SQLite writes its -wal and -shm files beside it); then continue with {resume}")
    if "locked" in text or "busy" in text:
        return (f"{where} is locked by another process (another `semtrace run` of this directory?): let it finish "
                f"or stop it, then continue with {resume}")
    if "disk is full" in text or "disk i/o" in text:
        return f"{where}: {exc}: free space or fix the disk, then continue with {resume}"
    return None


@contextlib.contextmanager
def _named(path: str, *, fatal: bool) -> Iterator[None]:
    """SQLite errors that are the file's problem as a CheckpointError naming it; other errors unchanged."""
    try:
        yield
    except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
        if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
            raise
        message = explain(path, exc)
        if message is None:
            raise
        raise CheckpointError(message, fatal=fatal) from exc


# the checkpoint database's format (SQLite's user_version): 1 (or 0) before issue 20, full candidate lists and
# plain blobs; 2: the candidates channel as deltas and compressed blobs; 3: typed chains and candidates
# (``state.Chain``, ``record.Candidate``) and the ``observe`` node. This version reads all three (the payloads of
# 1 and 2 through ``state.as_chain``, their nodes through ``graph.LEGACY_NODES``).
FORMAT = 3



class RunSaver(SqliteSaver):
    """``SqliteSaver`` whose async methods call its sync ones in place (see the module's docstring for why), with
    large blobs compressed (``CompressedSerde``)."""

    path: str = ""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: str) -> AsyncIterator[RunSaver]:
        """The saver over ``path``, proven usable before it is handed out: CheckpointError (one line naming the
        file and the fix) when it is not a SQLite database, read-only, locked or not a file."""
        existed = os.path.exists(path)
        with _named(path, fatal=False):
            conn = sqlite3.connect(path, check_same_thread=False)
        try:
            with _named(path, fatal=False):
                saver = cls(conn, serde=CompressedSerde(allowed_msgpack_modules=TYPES))
                saver.path = path
                saver.setup()  # WAL mode
                conn.execute("PRAGMA synchronous=NORMAL")
                if existed:  # a resume: the pages LangGraph will read must be sound, not only the header
                    problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
                    if problem != "ok":
                        raise sqlite3.DatabaseError(f"database disk image is malformed: {problem}")
                version = conn.execute("PRAGMA user_version").fetchone()[0] or 1  # (0: written before versions)
                if version > FORMAT:
                    raise CheckpointError(
                        f"{path} was written by a newer semtrace (checkpoint format {version}; this one reads "
                        f"formats 1 to {FORMAT}): run `semtrace run --resume` with that version, or move the file "
                        f"away (with its -wal and -shm files) to redo the unfinished tasks")
                conn.execute(f"PRAGMA user_version = {FORMAT}")
                conn.execute("BEGIN IMMEDIATE")  # writable? (setup writes nothing to a database that has its tables)
                try:
                    conn.execute("CREATE TABLE semtrace_write_probe (x)")
                finally:
                    conn.execute("ROLLBACK")
            yield saver
        finally:
            conn.close()

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with _named(self.path, fatal=True):
            return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        with _named(self.path, fatal=True):
            rows = list(self.list(config, filter=filter, before=before, limit=limit))  # read whole, then yielded
        for row in rows:
            yield row

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        with _named(self.path, fatal=True):
            return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        with _named(self.path, fatal=True):
            self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        with _named(self.path, fatal=True):
            self.delete_thread(thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        with _named(self.path, fatal=True):
            return self.get_delta_channel_history(config=config, channels=channels)
