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
the database's consistency. Same file, schema and serializer as ``AsyncSqliteSaver`` (either reads what the other
wrote).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver


class RunSaver(SqliteSaver):
    """``SqliteSaver`` whose async methods call its sync ones in place (see the module's docstring for why)."""

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: str) -> AsyncIterator[RunSaver]:
        conn = sqlite3.connect(path, check_same_thread=False)
        try:
            saver = cls(conn)
            saver.setup()  # WAL mode
            conn.execute("PRAGMA synchronous=NORMAL")
            yield saver
        finally:
            conn.close()

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for row in list(self.list(config, filter=filter, before=before, limit=limit)):  # read whole, then yielded
            yield row

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        self.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        self.delete_thread(thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return self.get_delta_channel_history(config=config, channels=channels)
