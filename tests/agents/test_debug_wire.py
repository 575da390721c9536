"""The ``debug`` strategy through the providers' own tool calling: the real ``openai`` and ``anthropic`` SDKs
against the loopback server (tests/llms/fakeserver.py), a real run on ``demo`` with the local sandbox. The server
answers with ``tool_calls`` / ``tool_use`` blocks; the test asserts what came back to it (tools, the assistant's
calls, ``tool`` messages / ``tool_result`` blocks) and that the task was repaired in round 1."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openai")
pytest.importorskip("anthropic")

from debughelp import MAX_OF_FIX
from fakeserver import FakeLLMServer
from runhelp import run_config
from semtrace.agents.record import Candidate
from semtrace.agents.run import read_records
from semtrace.benchmarks.demo import load
from semtrace.config import build_config
from semtrace.llms import make_llm

TRACE = {"expression": "max_of([1, 5, 3])", "watch": ["best"]}


@pytest.fixture
def server() -> Any:
    s = FakeLLMServer().start()
    yield s
    s.stop()


async def _run(tmp_path: Path, llm: Any, model: str) -> list[Candidate]:
    cfg = build_config(flags={"benchmark": "demo", "strategy": "debug", "depth": 1, "representation": "none",
                              "model": model, "sandbox": "local", "display": False})
    tasks = [t for t in load() if t.task_id == "demo/max_of"]
    await run_config(cfg, tmp_path / "run", llm=llm, tasks=tasks)
    [record] = read_records(tmp_path / "run" / "results.jsonl")
    return [Candidate.from_dict(c) for c in record["candidates"]]


def _check(cands: list[Candidate], ids: list[str]) -> None:
    assert [c.round for c in cands] == [0, 1] and cands[1].correct and cands[1].code == MAX_OF_FIX
    t = cands[1].transcript
    assert t is not None and t.protocol == "native" and t.end == "submit"
    assert [(c.id, c.name) for turn in t.turns for c in turn.calls] == list(zip(ids, ["run_tests", "trace", "submit"]))
    assert "only best" in t.turns[1].calls[0].observation


async def test_openai_format_tool_calls_drive_the_loop(server: FakeLLMServer, tmp_path: Path) -> None:
    def calls(cid: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"message": {"content": None, "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]},
            "finish_reason": "tool_calls"}

    server.replies = [calls("call_a", "run_tests", {}), calls("call_b", "trace", TRACE),
                      calls("call_c", "submit", {"code": MAX_OF_FIX})]
    llm = make_llm("openai:test-model", base_url=server.openai_url, api_key="sk-test", timeout=10, cache=False)
    _check(await _run(tmp_path, llm, "openai:test-model"), ["call_a", "call_b", "call_c"])
    bodies = [r["body"] for r in server.requests]
    assert len(bodies) == 3
    assert [t["function"]["name"] for t in bodies[0]["tools"]] == ["run_tests", "run", "trace", "submit"]
    assert bodies[0]["tools"][2]["function"]["parameters"]["properties"].keys() == {
        "expression", "representation", "lines", "watch"}
    sent = bodies[2]["messages"]
    assert sent[2] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "run_tests", "arguments": "{}"}}]}
    assert sent[3]["role"] == "tool" and sent[3]["tool_call_id"] == "call_a"
    assert sent[3]["content"].startswith("0 of 1 visible tests passed.")
    assert sent[5]["tool_call_id"] == "call_b" and "[L2] best = 1 [/L2]" in sent[5]["content"]
    assert "```tool" not in sent[0]["content"]  # native calls: the text protocol is not described


async def test_anthropic_format_tool_use_drives_the_loop(server: FakeLLMServer, tmp_path: Path) -> None:
    def use(cid: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": f"Calling {name}."},
                            {"type": "tool_use", "id": cid, "name": name, "input": args}], "stop_reason": "tool_use"}

    server.replies = [use("toolu_1", "run_tests", {}), use("toolu_2", "trace", TRACE),
                      use("toolu_3", "submit", {"code": MAX_OF_FIX})]
    llm = make_llm("anthropic:claude-test", base_url=server.anthropic_url, api_key="sk-test", timeout=10,
                   cache=False)
    _check(await _run(tmp_path, llm, "anthropic:claude-test"), ["toolu_1", "toolu_2", "toolu_3"])
    bodies = [r["body"] for r in server.requests]
    assert len(bodies) == 3 and [t["name"] for t in bodies[0]["tools"]] == ["run_tests", "run", "trace", "submit"]
    turns = bodies[2]["messages"]
    assert turns[1] == {"role": "assistant", "content": [
        {"type": "text", "text": "Calling run_tests."},
        {"type": "tool_use", "id": "toolu_1", "name": "run_tests", "input": {}}]}
    result = turns[2]["content"][0]
    assert turns[2]["role"] == "user" and result["type"] == "tool_result" and result["tool_use_id"] == "toolu_1"
    content = result["content"] if isinstance(result["content"], str) else json.dumps(result["content"])
    assert "0 of 1 visible tests passed." in content
    assert turns[4]["content"][0]["tool_use_id"] == "toolu_2"
