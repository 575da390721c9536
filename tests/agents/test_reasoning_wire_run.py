"""Acceptance (issue 20): ``semtrace run`` (sequential, depth 2, demo) against a loopback server in each wire format
— OpenAI ``reasoning_content``, vLLM ``reasoning``, Anthropic ``thinking`` blocks, an inline ``<think>`` left
unclosed — through the real SDKs: programs from answers only (a draft in the reasoning is never run), no program
from an unclosed reasoning and its reason recorded, reasoning and its tokens in every record, no reasoning in any
later request, the code stop off once a reply carried reasoning, and the one warning about the cut reply."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from clihelp import invoke
from rules import fenced
from semtrace.agents.run import read_records
from semtrace.benchmarks.demo import load
from semtrace.llms import UNFINISHED_REASONING

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "llms"))
from fakeserver import FakeLLMServer

CANARY = "WIRE-REASONING-CANARY-91c2"
TASK = next(t for t in load() if t.task_id == "demo/sum_to_n")
DRAFT = fenced("def sum_to_n(n):\n    return 'DRAFT-FROM-REASONING'\n")
WRONG, FIX = fenced(TASK.starting_code or ""), fenced(TASK.reference or "")
USAGE = {"completion_tokens": 60, "completion_tokens_details": {"reasoning_tokens": 45}}


def _openai(content: str, reasoning: str, field: str) -> dict[str, Any]:
    return {"message": {"content": content, field: reasoning}, "usage": USAGE}


def _anthropic(text: str, thinking: str) -> dict[str, Any]:
    return {"content": [{"type": "thinking", "thinking": thinking, "signature": "sig-" + str(len(thinking))},
                        {"type": "text", "text": text}], "usage": {"output_tokens": 80}}


# round 1 answers the buggy program again (or nothing: the unclosed case), round 2 the fix; both reason first
FORMATS = {
    "openai-reasoning_content": ("openai:gpt-test", [
        _openai(WRONG, f"{CANARY} one\n{DRAFT}", "reasoning_content"),
        _openai(FIX, f"{CANARY} two", "reasoning_content")]),
    "vllm-reasoning": ("vllm:qwen-test", [
        _openai(WRONG, f"{CANARY} one\n{DRAFT}", "reasoning"),
        _openai(FIX, f"{CANARY} two", "reasoning")]),
    "anthropic-thinking": ("anthropic:claude-test", [
        _anthropic(WRONG, f"{CANARY} one\n{DRAFT}"),
        _anthropic(FIX, f"{CANARY} two")]),
    "inline-unclosed-think": ("openai:gpt-test", [
        {"message": {"content": f"<think>{CANARY} one\n{DRAFT}\nstill thinking"}, "finish_reason": "length",
         "usage": {"completion_tokens": 60}},
        {"message": {"content": f"<think>{CANARY} two</think>\n{FIX}"}}]),
}


def run_against(server: FakeLLMServer, name: str, out: Path) -> Any:
    model, replies = FORMATS[name]
    server.replies = [dict(r) for r in replies]
    url = server.anthropic_url if model.startswith("anthropic") else server.openai_url
    return invoke("run", "--benchmark", "demo", "--tasks", TASK.task_id, "--model", model, "--sandbox", "local",
                  "--strategy", "sequential", "--depth", "2", "--out", str(out), "--no-display",
                  "-o", f"llm.options.base_url={url}", "-o", "llm.options.api_key=sk-test")


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SEMTRACE_LLM_CACHE", str(tmp_path / "llm-cache.sqlite"))
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "VLLM_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    s = FakeLLMServer().start()
    yield s
    s.stop()


def _stop_of(body: dict[str, Any]) -> Any:
    return body.get("stop") or body.get("stop_sequences")


@pytest.mark.parametrize("name", list(FORMATS))
def test_a_run_keeps_reasoning_apart_in_each_wire_format(server: FakeLLMServer, tmp_path: Path, name: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="semtrace.agents.run"):
        res = run_against(server, name, tmp_path / "run")
    warned = [r.getMessage() for r in caplog.records if "inside the reasoning" in r.getMessage()]
    assert res.exit_code == 0, res.output
    [rec] = read_records(tmp_path / "run" / "results.jsonl")
    r0, r1, r2 = rec["candidates"]
    assert [c["id"] for c in (r0, r1, r2)] == ["c0r0", "c0r1", "c0r2"] and rec["correct"]
    for c in (r1, r2):  # reasoning in every record, its tokens counted per call; programs from answers only
        assert CANARY in c["reasoning"] and c["usage"]["reasoning_tokens"] > 0 and c["usage"]["calls"] == 1
        assert "DRAFT-FROM-REASONING" not in c["code"] + c["raw"] and CANARY not in c["raw"]
    assert r2["code"].strip() == (TASK.reference or "").strip()
    if name == "inline-unclosed-think":
        assert r1["code"] == "" and r1["note"] == UNFINISHED_REASONING and r1["visible"]["status"] == "no_program"
        assert len(warned) == 1 and warned[0].startswith("1 of 2 replies (50%) ran out of max_tokens inside the")
    else:
        assert r1["code"].strip() == (TASK.starting_code or "").strip() and r1["note"] == ""
        assert warned == []
    if name.startswith(("openai", "vllm")):  # the server's own count (completion_tokens_details)
        assert r1["usage"]["reasoning_tokens"] == r2["usage"]["reasoning_tokens"] == 45
    # no reasoning in any later request; the code stop only until a reply showed reasoning
    bodies = [r["body"] for r in server.requests]
    assert len(bodies) == 2 and not [b for b in bodies if CANARY in json.dumps(b)]
    assert CANARY in json.dumps(rec)  # the control: it is there to be leaked
    assert _stop_of(bodies[0]) == ["\n```\n"] and not _stop_of(bodies[1])


def test_a_reply_the_code_stop_cut_inside_its_reasoning_is_asked_again_without_it(
        server: FakeLLMServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The stop sequence (a closing fence) fired on a code block inside the reasoning: the same request goes again
    without it, both calls are counted in the candidate, and the cut reply is not reported as out of max_tokens."""
    FORMATS["cut-by-code-stop"] = ("openai:gpt-test", [
        {"message": {"content": f"<think>{CANARY} one\n```python\ndef sum_to_n(n):\n    return 0"}},  # stopped
        {"message": {"content": f"<think>{CANARY} one\n{DRAFT}</think>\n{WRONG}"}},
        {"message": {"content": FIX}}])
    try:
        with caplog.at_level(logging.WARNING, logger="semtrace.agents.run"):
            res = run_against(server, "cut-by-code-stop", tmp_path / "run")
    finally:
        del FORMATS["cut-by-code-stop"]
    assert res.exit_code == 0, res.output
    [rec] = read_records(tmp_path / "run" / "results.jsonl")
    _, r1, _ = rec["candidates"]
    assert r1["code"].strip() == (TASK.starting_code or "").strip() and r1["usage"]["calls"] == 2 and rec["correct"]
    bodies = [r["body"] for r in server.requests]
    assert len(bodies) == 3 and bodies[0]["messages"] == bodies[1]["messages"]
    assert _stop_of(bodies[0]) == ["\n```\n"] and not _stop_of(bodies[1]) and not _stop_of(bodies[2])
    assert not [r for r in caplog.records if "inside the reasoning" in r.getMessage()]
