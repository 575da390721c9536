"""Reasoning and tools on the wire: the real ``openai`` and ``anthropic`` SDKs against the loopback server, asserting
what the server received and what comes back typed."""

from __future__ import annotations

import json
import logging

import pytest

pytest.importorskip("openai")
pytest.importorskip("anthropic")

from fakeserver import FakeLLMServer
from semtrace.llms import (
    BadRequest,
    Completion,
    Message,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    make_llm,
)

RUN = ToolSpec("run_tests", "Run the visible tests on a program.",
               {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]})
ASK = [Message("system", "You fix programs."), Message("user", "fix f")]


def _openai(server: FakeLLMServer, provider: str = "openai", model: str = "test-model", **options):
    return make_llm(f"{provider}:{model}", base_url=server.openai_url, api_key="sk-test", timeout=10, cache=False,
                    **options)


def _anthropic(server: FakeLLMServer, **options):
    return make_llm("anthropic:claude-test", base_url=server.anthropic_url, api_key="sk-test", timeout=10,
                    cache=False, **options)


def _body(server: FakeLLMServer, i: int = -1) -> dict:
    return server.requests[i]["body"]


# -- OpenAI / vLLM ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])  # vLLM's older and newer field
async def test_openai_reasoning_field_and_reported_reasoning_tokens(fake_server, field):
    fake_server.replies = [{"message": {"content": "```python\ndef f(): return 1\n```", field: "I should return 1."},
                            "usage": {"completion_tokens": 50, "completion_tokens_details": {"reasoning_tokens": 30}}}]
    llm = _openai(fake_server, "vllm")
    [c] = await llm.generate(ASK)
    assert c.text == "```python\ndef f(): return 1\n```" and c.reasoning == "I should return 1."
    assert (c.usage.completion_tokens, c.usage.reasoning_tokens, c.usage.answer_tokens) == (50, 30, 20)
    assert not c.reasoning_unfinished
    total = llm.accounting.total()
    assert (total.reasoning_tokens, total.unfinished_reasoning) == (30, 0)
    assert llm.accounting.snapshot()["total"]["reasoning_tokens"] == 30


async def test_openai_field_and_inline_tags_both_split_and_unreported_tokens_estimated(fake_server):
    fake_server.replies = [{"message": {"content": "<think>inline part</think>\nthe answer",
                                        "reasoning_content": "field part"}, "usage": {"completion_tokens": 40}}]
    [c] = await _openai(fake_server, "vllm").generate(ASK)
    assert (c.text, c.reasoning) == ("the answer", "field part\n\ninline part")
    assert 0 < c.usage.reasoning_tokens < 40  # the server did not count it: the characters' share


async def test_openai_unclosed_think_is_unfinished_reasoning_not_an_answer(fake_server):
    draft = "<think>\nLet me try:\n```python\ndef f(): return 0\n```\nhmm, but"
    fake_server.replies = [{"message": {"content": draft}, "finish_reason": "length"},
                           {"message": {"content": None, "reasoning_content": "still thinking"},
                            "finish_reason": "length"},
                           {"message": {"content": "", "reasoning_content": "thought it through"},
                            "finish_reason": "stop"}]
    llm = _openai(fake_server, "vllm")
    [inline] = await llm.generate(ASK, seed=1)
    [field] = await llm.generate(ASK, seed=2)
    [only] = await llm.generate(ASK, seed=3)
    assert (inline.text, inline.reasoning_unfinished, inline.finish_reason) == ("", True, "length")
    assert "def f(): return 0" in inline.reasoning
    assert (field.text, field.reasoning, field.reasoning_unfinished) == ("", "still thinking", True)
    assert (only.text, only.reasoning_unfinished) == ("", False)  # a reasoning-only reply that did finish
    assert llm.accounting.total().unfinished_reasoning == 2


async def test_openai_tools_both_ways_in_the_wire_shape(fake_server):
    fake_server.replies = [{"message": {"content": None, "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "run_tests", "arguments": '{"code": "f()"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "run_tests", "arguments": '{"code": "f('}}]},
        "finish_reason": "tool_calls"}]
    llm = _openai(fake_server)
    assert llm.supports_tools
    [c] = await llm.generate(ASK, tools=[RUN])
    assert c.finish_reason == "tool_calls" and c.text == ""
    assert c.tool_calls == (ToolCall("call_a", "run_tests", {"code": "f()"}),
                            ToolCall("call_b", "run_tests", '{"code": "f('))  # malformed: the raw text
    assert _body(fake_server)["tools"] == [{"type": "function", "function": {
        "name": "run_tests", "description": RUN.description, "parameters": RUN.parameters}}]
    # the next turn: the assistant's calls (its reasoning never sent back) and one tool message per result
    reply = Completion(text="", reasoning="secret", tool_calls=c.tool_calls).to_message(reasoning=True)
    results = Message("tool", (ToolResult("call_a", "1 passed"), ToolResult("call_b", "bad JSON", is_error=True)))
    await llm.generate([*ASK, reply, results], tools=[RUN])
    sent = _body(fake_server)["messages"]
    assert sent[2] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "run_tests", "arguments": '{"code": "f()"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "run_tests", "arguments": '{"code": "f('}}]}
    assert sent[3:] == [{"role": "tool", "tool_call_id": "call_a", "content": "1 passed"},
                        {"role": "tool", "tool_call_id": "call_b", "content": "bad JSON"}]
    assert "secret" not in json.dumps(sent)


async def test_openai_reasoning_options_pass_through(fake_server):
    llm = _openai(fake_server, "vllm", model="Qwen/Qwen3-8B", reasoning_effort="low", enable_thinking=False,
                  extra_body={"chat_template_kwargs": {"custom": 1}}, top_k=20)
    await llm.generate(ASK, max_tokens=300)
    body = _body(fake_server)
    assert body["reasoning_effort"] == "low" and body["max_tokens"] == 300 and body["top_k"] == 20
    assert body["chat_template_kwargs"] == {"custom": 1, "enable_thinking": False}


@pytest.mark.parametrize("model, param", [("o3-mini", "max_completion_tokens"), ("gpt-5-mini", "max_completion_tokens"),
                                          ("gpt-4o-mini", "max_tokens")])
async def test_openai_max_completion_tokens_chosen_by_model(fake_server, model, param):
    await _openai(fake_server, model=model).generate(ASK, max_tokens=77)
    body = _body(fake_server)
    [other] = {"max_tokens", "max_completion_tokens"} - {param}
    assert body[param] == 77 and other not in body


async def test_openai_max_tokens_rejected_once_then_max_completion_tokens_remembered(fake_server, caplog):
    fake_server.faults = [{"status": 400, "body": {"error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                   "'max_completion_tokens' instead.", "type": "invalid_request_error", "param": "max_tokens",
        "code": "unsupported_parameter"}}}]
    llm = _openai(fake_server, model="my-reasoning-deployment")
    with caplog.at_level(logging.WARNING):
        [c] = await llm.generate(ASK, max_tokens=64)
        await llm.generate(ASK, max_tokens=65, seed=1)
    assert c.text.startswith("#2 echo")
    bodies = [r["body"] for r in fake_server.requests]
    assert bodies[0]["max_tokens"] == 64 and bodies[1]["max_completion_tokens"] == 64
    assert bodies[2]["max_completion_tokens"] == 65 and "max_tokens" not in bodies[2]
    assert sum("max_completion_tokens" in r.message for r in caplog.records) == 1


async def test_openai_rejected_reasoning_effort_is_one_fatal_line_naming_the_option(fake_server):
    fake_server.faults = [{"status": 400, "body": {"error": {
        "message": "Unrecognized request argument supplied: reasoning_effort", "type": "invalid_request_error",
        "param": None, "code": None}}}]
    with pytest.raises(BadRequest) as info:
        await _openai(fake_server, model="gpt-4o", reasoning_effort="high").generate(ASK)
    assert info.value.fatal and "llm.options.reasoning_effort='high'" in str(info.value)
    assert "\n" not in str(info.value) and fake_server.count() == 1


@pytest.mark.parametrize("message, kwargs, named", [
    (("Unsupported value: 'temperature' does not support 0.0 with this model. Only the default (1) value is "
      "supported."), {}, "llm.temperature=0.0"),
    ("Unsupported parameter: 'stop' is not supported with this model.", {"stop": ["\n```\n"]}, "llm.code_stop=True"),
])
async def test_openai_reasoning_model_refusing_sampling_settings_names_the_setting(fake_server, message, kwargs,
                                                                                   named):
    fake_server.faults = [{"status": 400, "body": {"error": {"message": message, "type": "invalid_request_error",
                                                             "param": None, "code": "unsupported_value"}}}]
    with pytest.raises(BadRequest) as info:
        await _openai(fake_server, model="o3").generate(ASK, **kwargs)
    assert info.value.fatal and f"the server rejects {named}" in str(info.value)


# -- Anthropic --------------------------------------------------------------------------------------------------
async def test_anthropic_thinking_redacted_and_tool_use_come_back_typed(fake_server):
    fake_server.replies = [{"content": [
        {"type": "thinking", "thinking": "Run the tests first.", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "ENCRYPTED"},
        {"type": "text", "text": "Running them."},
        {"type": "tool_use", "id": "toolu_1", "name": "run_tests", "input": {"code": "f()"}}],
        "stop_reason": "tool_use", "usage": {"output_tokens": 120}}]
    llm = _anthropic(fake_server, thinking=2048)
    [c] = await llm.generate(ASK, tools=[RUN], max_tokens=4096, temperature=0.0)
    assert (c.text, c.reasoning, c.finish_reason) == ("Running them.", "Run the tests first.", "tool_calls")
    assert c.reasoning_parts == (ReasoningPart("Run the tests first.", signature="sig-1"),
                                 ReasoningPart("ENCRYPTED", redacted=True))
    assert c.tool_calls == (ToolCall("toolu_1", "run_tests", {"code": "f()"}),)
    assert 0 < c.usage.reasoning_tokens < 120
    body = _body(fake_server)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048} and body["max_tokens"] == 4096
    assert body["temperature"] == 1.0  # the API takes only 1 with thinking
    assert body["tools"] == [{"name": "run_tests", "description": RUN.description, "input_schema": RUN.parameters}]
    # the tool loop goes on: signed thinking, text and tool_use go back verbatim; the result is a user turn
    results = Message("tool", (ToolResult("toolu_1", "AssertionError", is_error=True),))
    await llm.generate([*ASK, c.to_message(reasoning=True), results, Message("user", "go on")], tools=[RUN],
                       max_tokens=4096)
    turns = _body(fake_server)["messages"]
    assert turns[1] == {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Run the tests first.", "signature": "sig-1"},
        {"type": "redacted_thinking", "data": "ENCRYPTED"},
        {"type": "text", "text": "Running them."},
        {"type": "tool_use", "id": "toolu_1", "name": "run_tests", "input": {"code": "f()"}}]}
    assert turns[2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "AssertionError", "is_error": True},
        {"type": "text", "text": "go on"}]}


async def test_anthropic_same_role_turns_merge_without_losing_parts(fake_server):
    llm = _anthropic(fake_server)
    msgs = [Message("user", "first"), Message("user", (TextPart("second"),)),
            Message("assistant", (ReasoningPart("unsigned: dropped"), ToolCall("t1", "run_tests", {"code": "1"}))),
            Message("assistant", "and text"),
            Message("user", "before the result"), Message("tool", (ToolResult("t1", "ok"),))]
    await llm.generate(msgs)
    assert _body(fake_server)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "run_tests",
                                           "input": {"code": "1"}},
                                          {"type": "text", "text": "and text"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"},
                                     {"type": "text", "text": "before the result"}]}]


async def test_anthropic_thinking_cut_by_max_tokens_is_unfinished(fake_server):
    fake_server.replies = [{"content": [{"type": "thinking", "thinking": "a long thought", "signature": "s"}],
                            "stop_reason": "max_tokens", "usage": {"output_tokens": 3000}}]
    llm = _anthropic(fake_server, thinking=2048)
    [c] = await llm.generate(ASK, max_tokens=3000)
    assert (c.text, c.reasoning_unfinished, c.finish_reason) == ("", True, "length")
    assert llm.accounting.total().unfinished_reasoning == 1


async def test_anthropic_thinking_budget_rejections_name_the_option(fake_server):
    llm = _anthropic(fake_server, thinking=2048)
    with pytest.raises(BadRequest, match=r"llm\.options\.thinking: the budget \(2048 tokens\)") as info:
        await llm.generate(ASK, max_tokens=1024)  # no room for the answer: refused before sending
    assert info.value.fatal and fake_server.count() == 0
    fake_server.faults = [{"status": 400, "body": {"type": "error", "error": {
        "type": "invalid_request_error", "message": "thinking: Extra inputs are not permitted"}}}]
    with pytest.raises(BadRequest) as info:
        await llm.generate(ASK, max_tokens=4096)
    assert info.value.fatal and "llm.options.thinking=" in str(info.value) and "\n" not in str(info.value)


async def test_vllm_without_a_tool_parser_names_native_tools(fake_server):
    fake_server.faults = [{"status": 400, "body": {"object": "error", "type": "BadRequestError", "param": None,
                                                   "code": 400, "message": '"auto" tool choice requires '
                                                   "--enable-auto-tool-choice and --tool-call-parser to be set"}}]
    with pytest.raises(BadRequest) as info:
        await _openai(fake_server, "vllm").generate(ASK, tools=[RUN])
    assert info.value.fatal and "llm.options.native_tools=false" in str(info.value)
    off = _openai(fake_server, "vllm", native_tools=False)
    assert not off.supports_tools
