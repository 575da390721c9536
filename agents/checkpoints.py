"""The run's checkpointer: LangGraph's SQLite saver, each operation done whole in one worker thread.

LangGraph's ``AsyncSqliteSaver`` holds an ``asyncio.Lock`` across every round trip to its database thread (open a
cursor, execute, fetch, commit, close), and each round trip waits for a turn of the event loop. With a hundred
tasks in flight a turn takes milliseconds, so checkpoint operations queue behind the lock and a run ends up
bound by them (``perf/orchestration.py`` measured a mean of 53 s per operation, 164 tasks, width 8). Here every
operation is one call of the synchronous ``SqliteSaver`` on a single worker thread: one hop per operation, in the
order they were asked, none waiting on the event loop while it holds the database.

Same file, schema and serializer as ``AsyncSqliteSaver`` (either reads what the other wrote). The database runs
in WAL mode with ``synchronous=NORMAL``: a commit survives the process being killed (what ``--resume`` needs);
only a power loss or an OS crash may lose the last commits, never the database's consistency.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata, CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver

T = TypeVar("T")


class RunSaver(SqliteSaver):
    """``SqliteSaver`` whose async methods run its sync ones on one dedicated thread."""

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        super().__init__(conn)
        self._executor = executor

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, path: str) -> AsyncIterator[RunSaver]:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="semtrace-checkpoints")
        loop = asyncio.get_running_loop()

        def connect() -> RunSaver:
            conn = sqlite3.connect(path, check_same_thread=False)
            saver = cls(conn, executor)
            saver.setup()
            conn.execute("PRAGMA synchronous=NORMAL")
            return saver

        saver = await loop.run_in_executor(executor, connect)
        try:
            yield saver
        finally:
            await loop.run_in_executor(executor, saver.conn.close)
            executor.shutdown(wait=True)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._call(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        rows = await self._call(lambda: list(self.list(config, filter=filter, before=before, limit=limit)))
        for row in rows:
            yield row

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._call(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str, task_path: str = ""
    ) -> None:
        await self._call(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._call(self.delete_thread, thread_id)

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, Any]:
        return await self._call(self.get_delta_channel_history, config=config, channels=channels)
