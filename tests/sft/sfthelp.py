"""Test helpers: a recording LLM back end (the scripted one, keeping every request it is sent) and a run driver
that uses the real agent, sandbox and renderers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semtrace.llms.base import Completion, Message
from semtrace.llms.scripted import ScriptedLLM


class RecordingLLM(ScriptedLLM):
    """``scripted:PATH`` that records each request's messages (as the agent sent them) in ``requests``."""

    def __init__(self, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.name = f"recording:{model}"
        self.requests: list[list[Message]] = []

    async def generate(self, messages: list[Message], **options: Any) -> list[Completion]:
        self.requests.append([Message(m.role, m.content) for m in messages])
        return await super().generate(messages, **options)


def requests_for(llm: RecordingLLM, entry_point: str) -> list[list[Message]]:
    marker = f"The function to implement is `{entry_point}`."
    return [r for r in llm.requests if marker in r[-1].content]


async def run_agent(cfg: Any, run_dir: Path, llm: Any) -> dict[str, Any]:
    from semtrace.agents.build import build_components
    from semtrace.agents.run import prepare_run_dir, run_tasks

    comps = await build_components(cfg, llm=llm)
    prepare_run_dir(run_dir, cfg, resume=False)
    try:
        return await run_tasks(cfg, run_dir, comps)
    finally:
        await comps.sandbox.close()
