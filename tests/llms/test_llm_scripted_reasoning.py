"""Scripted rules with reasoning, inline tags and native tool calls (a multi-turn tool loop matched on the whole
conversation); the ledger's reasoning counts and the run's warning; ``semtrace llm chat`` folding the reasoning;
the cache keeping whole completions."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from semtrace.llms import (
    UNFINISHED_REASONING,
    LLMConfigError,
    Message,
    ToolCall,
    ToolResult,
    ToolSpec,
    make_llm,
    reasoning_warning,
)
from semtrace.llms.cli import app
from semtrace.llms.scripted import ScriptError, render_conversation
from typer.testing import CliRunner

RUN = ToolSpec("run_tests", "Run the visible tests.", {"type": "object", "properties": {"code": {"type": "string"}}})
CODE = "```python\ndef f():\n    return 1\n```"


def _rules(tmp_path: Path, *rules: dict, query: str = "") -> str:
    path = tmp_path / "rules.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rules) + "\n")
    return f"scripted:{path}{query}"


async def test_scripted_reasoning_inline_tags_and_unfinished(tmp_path):
    llm = make_llm(_rules(tmp_path,
                          {"when": "field", "reply": CODE, "reasoning": "return one"},
                          {"when": "inline", "reply": f"<think>plan</think>\n{CODE}"},
                          {"when": "cut", "reply": "<think>draft:\n" + CODE, "finish_reason": "length"},
                          {"when": "items", "reply": [{"reasoning": "hmm", "finish_reason": "length"}, "done"]}))
    [field] = await llm.generate([Message("user", "field")])
    [inline] = await llm.generate([Message("user", "inline")])
    [cut] = await llm.generate([Message("user", "cut")])
    first, second = await llm.generate([Message("user", "items")], n=2)
    assert (field.text, field.reasoning) == (CODE, "return one") and field.usage.reasoning_tokens > 0
    assert (inline.text, inline.reasoning) == (CODE, "plan")
    assert (cut.text, cut.reasoning_unfinished) == ("", True) and "def f" in cut.reasoning
    assert (first.text, first.reasoning, first.reasoning_unfinished) == ("", "hmm", True)
    assert (second.text, second.reasoning_unfinished) == ("done", False)
    total = llm.accounting.total()
    assert (total.completions, total.unfinished_reasoning) == (5, 2) and total.reasoning_tokens > 0
    assert reasoning_warning(total).startswith("2 of 5 replies (40%) ran out of max_tokens inside the reasoning")
    assert reasoning_warning(llm.accounting.for_task("none-such")) is None


async def test_scripted_tool_loop_matched_on_the_conversation(tmp_path):
    spec = _rules(tmp_path,
                  {"when": r"\[tool_result call_1\] 1 passed", "match": "conversation", "reply": CODE},
                  {"when": r"\[tool_result call_1 error\]", "match": "conversation", "reply": "give up"},
                  {"when": "fix f", "reasoning": "test it first",
                   "tool_calls": [{"name": "run_tests", "arguments": {"code": "f()"}}]},
                  query="?tools=true")
    llm = make_llm(spec)
    assert llm.supports_tools
    ask = [Message("system", "You fix programs."), Message("user", "fix f")]
    [call] = await llm.generate(ask, tools=[RUN])
    assert call.tool_calls == (ToolCall("call_1", "run_tests", {"code": "f()"}),) and call.text == ""
    turn = call.to_message()
    for result, answer in [(ToolResult("call_1", "1 passed"), CODE),
                           (ToolResult("call_1", "boom", is_error=True), "give up")]:
        [final] = await llm.generate([*ask, turn, Message("tool", (result,))], tools=[RUN])
        assert final.text == answer
    rendered = render_conversation([*ask, turn, Message("tool", (ToolResult("call_1", "1 passed"),))])
    assert rendered == ('[system]\nYou fix programs.\n[user]\nfix f\n[assistant]\n'
                        '[tool_call call_1 run_tests] {"code": "f()"}\n[tool]\n[tool_result call_1] 1 passed')


async def test_scripted_tool_calls_need_the_tools_option(tmp_path):
    rule = {"when": "x", "tool_calls": [{"name": "run_tests", "arguments": {}}]}
    with pytest.raises(ScriptError, match=r"tools=true"):
        make_llm(_rules(tmp_path, rule))
    text_only = make_llm(_rules(tmp_path, {"when": "x", "reply": "y"}))
    assert not text_only.supports_tools
    with pytest.raises(LLMConfigError, match="describe the tools in the prompt"):
        await text_only.generate([Message("user", "x")], tools=[RUN])


@pytest.mark.parametrize("rule, message", [
    ({"when": "x", "reply": "y", "match": "everything"}, "match"),
    ({"when": "x", "tool_calls": [{"arguments": {}}]}, "tool_calls"),
    ({"when": "x"}, "bad rule"),
])
def test_scripted_bad_extended_rules(tmp_path, rule, message):
    with pytest.raises(ScriptError, match=message):
        make_llm(_rules(tmp_path, rule, query="?tools=true"))


def test_chat_folds_the_reasoning_apart_from_the_answer(tmp_path):
    spec = _rules(tmp_path, {"when": "think", "reply": "the answer", "reasoning": "step one\nstep two"},
                  {"when": "cut", "reasoning": "never done", "finish_reason": "length"})
    runner = CliRunner()
    folded = runner.invoke(app, ["chat", "-m", spec, "think"])
    assert folded.exit_code == 0, folded.output
    lines = folded.stdout.splitlines()
    assert lines[0].startswith("[reasoning: 17 characters, ") and "--show-reasoning" in lines[0]
    assert lines[1] == "the answer" and "step one" not in folded.stdout and "reasoning_tokens=" in lines[-1]
    shown = runner.invoke(app, ["chat", "-m", spec, "think", "--show-reasoning"])
    assert "--- reasoning ---\nstep one\nstep two\n--- answer ---\nthe answer" in shown.stdout
    cut = runner.invoke(app, ["chat", "-m", spec, "cut"])
    assert f"[no answer: {UNFINISHED_REASONING}]" in cut.stdout


# -- the cache keeps whole completions ------------------------------------------------------------------------
async def test_cache_round_trips_every_field(fake_server, tmp_path):
    pytest.importorskip("openai")
    path = tmp_path / "cache.sqlite"
    fake_server.replies = [
        {"message": {"content": "<think>a</think>ok", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "run_tests", "arguments": "{oops"}}]},
         "finish_reason": "tool_calls",
         "usage": {"completion_tokens": 9, "completion_tokens_details": {"reasoning_tokens": 4}}},
        {"message": {"content": None, "reasoning_content": "long"}, "finish_reason": "length"}]

    def llm(**options):
        return make_llm("openai:test-model", base_url=fake_server.openai_url, api_key="k", cache_path=path,
                        **options)

    first = llm()
    fresh = [*(await first.generate([Message("user", "q")], tools=[RUN], seed=1)),
             *(await first.generate([Message("user", "q")], tools=[RUN], seed=2))]
    assert fresh[0].tool_calls == (ToolCall("c1", "run_tests", "{oops"),) and fresh[1].reasoning_unfinished
    second = llm()
    hits = [*(await second.generate([Message("user", "q")], tools=[RUN], seed=1)),
            *(await second.generate([Message("user", "q")], tools=[RUN], seed=2))]
    assert fake_server.count() == 2 and all(h.cached for h in hits)
    assert [replace(h, cached=False) for h in hits] == fresh
    t = second.accounting.total()
    assert (t.cache_hits, t.reasoning_tokens, t.unfinished_reasoning) == (2, 4 + fresh[1].usage.reasoning_tokens, 1)
    # the key covers the tools and the reasoning options
    await second.generate([Message("user", "q")], seed=1)
    await llm(reasoning_effort="low").generate([Message("user", "q")], tools=[RUN], seed=1)
    assert fake_server.count() == 4


def test_cache_ignores_format_1_entries(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # what an older semtrace wrote: answer text only
        conn.execute("CREATE TABLE completions (key TEXT PRIMARY KEY, provider TEXT NOT NULL, model TEXT NOT NULL, "
                     "text TEXT NOT NULL, finish_reason TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, "
                     "completion_tokens INTEGER NOT NULL, latency REAL NOT NULL, created REAL NOT NULL)")
        conn.execute("INSERT INTO completions VALUES ('k', 'vllm', 'm', '<think>draft', 'length', 1, 2, 0.1, 0)")
    from semtrace.llms.cache import ResponseCache

    cache = ResponseCache(path)
    assert len(cache) == 0 and cache.get("k") is None


async def test_scripted_tool_call_ids_follow_the_conversation_not_the_process(tmp_path):
    """An unnamed call is numbered after the calls already in the conversation: a second back end (a resumed
    run's process) given the same conversation names its calls the same."""
    spec = _rules(tmp_path, {"when": "fix f", "tool_calls": [{"name": "run_tests", "arguments": {}},
                                                            {"name": "run_tests", "arguments": {"code": "f()"}}]},
                  query="?tools=true")
    first, other = make_llm(spec, cache=False), make_llm(spec, cache=False)
    ask = [Message("user", "fix f")]
    [one] = await first.generate(ask, tools=[RUN])
    [again] = await first.generate(ask, tools=[RUN])  # the same process, asked again: the same ids
    [two] = await other.generate(ask, tools=[RUN])
    assert [c.id for c in one.tool_calls] == [c.id for c in again.tool_calls] == [c.id for c in two.tool_calls] \
        == ["call_1", "call_2"]
    [later] = await other.generate([*ask, one.to_message(), Message("tool", (ToolResult("call_1", "ok"),
                                                                               ToolResult("call_2", "ok")))],
                                   tools=[RUN])
    assert [c.id for c in later.tool_calls] == ["call_3", "call_4"]
