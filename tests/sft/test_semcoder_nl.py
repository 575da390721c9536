"""``semcoder_nl``: the rationale is written through the LLM contract and cached, so a second build with the same
(paid) model sends no request and writes the same examples; without ``--llm`` the build says what to pass."""

from __future__ import annotations

import pytest

pytest.importorskip("openai")

from fakeserver import FakeLLMServer
from semtrace.llms import make_llm
from semtrace.sandbox.local import LocalSandbox
from semtrace.sandbox.types import TestCase
from semtrace.sft.build import BuildSettings, Pair
from semtrace.sft.dataset import build_examples

PAIR = Pair(task_id="p/1", prompt="Add two numbers.", entry_point="add", buggy="def add(a, b):\n    return a - b\n",
            fixed="def add(a, b):\n    return a + b\n", tests=(TestCase(kind="assert", source="assert add(1, 2) == 3"),))


async def test_rationales_come_from_the_llm_and_are_cached(tmp_path):
    server = FakeLLMServer().start()
    cache = tmp_path / "cache.sqlite"
    sandbox = LocalSandbox(concurrency=1)
    try:
        runs = []
        for _ in range(2):  # a second build: a new LLM object over the same cache file
            llm = make_llm("openai:gpt-4o-mini", base_url=server.openai_url, api_key="sk-test", timeout=5,
                           cache_path=cache)
            runs.append(await build_examples([PAIR], ["semcoder_nl"], sandbox, BuildSettings(), llm=llm))
            if len(runs) == 1:
                assert server.count() == 1
        assert server.count() == 1  # the second build cost nothing
    finally:
        await sandbox.close()
        server.stop()
    first, second = (r.examples["semcoder_nl"] for r in runs)
    assert len(first) == 1 and first[0].messages == second[0].messages
    trace = first[0].messages[-1].content.split("## Trace")[1]
    assert "echo:" in trace  # the fake provider's reply is the rationale shown
