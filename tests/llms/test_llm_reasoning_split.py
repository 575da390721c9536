"""Inline reasoning tags split off the answer, the typed contract's round trips, and the reasoning options checked
where they are read (the back ends' constructors and the run config)."""

from __future__ import annotations

import pytest
from semtrace.config import ConfigError, validate_config
from semtrace.llms import (
    UNFINISHED_REASONING,
    Completion,
    LLMConfigError,
    Message,
    ReasoningPart,
    TextPart,
    ToolCall,
    ToolResult,
    Usage,
    extract_answer,
    make_llm,
    split_reasoning,
)
from semtrace.llms.reasoning import Split, check_options, check_tags, check_thinking

FENCED = "```python\ndef f():\n    return '<think>'\n```"


@pytest.mark.parametrize("reply, answer, reasoning, unfinished", [
    ("<think>\nplan: slice it\n</think>\n\n```python\nr = s[::-1]\n```", "```python\nr = s[::-1]\n```",
     "plan: slice it", False),
    ("  \n<think>draft:\n```python\ndef f(): pass\n```\nnot done", "", "draft:\n```python\ndef f(): pass\n```\nnot done",
     True),
    ("<think>only thoughts</think>\n", "", "only thoughts", False),
    ("plain answer, no tags", "plain answer, no tags", "", False),
    (FENCED, FENCED, "", False),  # a <think> inside the answer's code fence is code, not reasoning
    ("Here:\n```\n<think>x</think>\n```", "Here:\n```\n<think>x</think>\n```", "", False),
    ("I use <think> tags in prose", "I use <think> tags in prose", "", False),
    # the template put <think> in the prompt (Qwen3, DeepSeek-R1): only the closing tag arrives
    ("the prompt opened it\n</think>\n\nanswer", "answer", "the prompt opened it", False),
    ("", "", "", False),
])
def test_split_inline_tags(reply, answer, reasoning, unfinished):
    assert split_reasoning(reply) == Split(answer, reasoning, unfinished)


def test_split_when_the_prompt_opened_the_reasoning():
    """DeepSeek-R1 distills' templates end the prompt with <think>: with an empty opening tag a reply without the
    closing tag is unfinished reasoning, not an answer."""
    tags = check_tags(["", "</think>"])
    assert split_reasoning("plan\n</think>\n\nanswer", tags) == Split("answer", "plan")
    assert split_reasoning("```python\ndef draft(): ...", tags) == Split("", "```python\ndef draft(): ...", True)
    assert check_tags(",</think>") == ("", "</think>")


def test_split_with_other_tags_and_off():
    assert split_reasoning("[R]why[/R]what", ("[R]", "[/R]")).answer == "what"
    assert split_reasoning("<think>a</think>b", None).answer == "<think>a</think>b"
    assert check_tags(False) is None and check_tags("<r>,</r>") == ("<r>", "</r>")


def test_unfinished_reasoning_means_no_program():
    draft = Completion(text="", finish_reason="length", reasoning="```python\ndef f(): return 1\n```",
                       reasoning_unfinished=True)
    got = extract_answer(draft, "f")
    assert (got.code, got.reason) == (None, UNFINISHED_REASONING)
    assert extract_answer(Completion(text="```python\ndef f(): return 2\n```"), "f").code.strip() == \
        "def f(): return 2"


def test_completion_and_message_round_trip_every_part():
    calls = (ToolCall("c1", "run", {"code": "f()"}), ToolCall("c2", "run", "{not json"))
    c = Completion(text="answer", finish_reason="tool_calls", usage=Usage(10, 40, 25), latency=0.5, model="m",
                   reasoning="thought", tool_calls=calls, reasoning_unfinished=False,
                   reasoning_parts=(ReasoningPart("thought", signature="sig"), ReasoningPart("ENC", redacted=True)))
    assert Completion.from_dict(c.to_dict()) == c
    assert c.usage.answer_tokens == 15
    m = c.to_message(reasoning=True)
    assert Message.from_dict(m.to_dict()) == m and m.parts[0] == ReasoningPart("thought", signature="sig")
    assert not any(isinstance(p, ReasoningPart) for p in c.to_message().parts)  # not sent back across rounds
    tool = Message("tool", (ToolResult("c1", "ok"), ToolResult("c2", "bad arguments", is_error=True)))
    assert Message.from_dict(tool.to_dict()) == tool
    assert Message("user", "hi").parts == (TextPart("hi"),) and Completion("x").to_message() == Message("assistant", "x")


@pytest.mark.parametrize("options, name", [
    ({"reasoning_effort": "max"}, "reasoning_effort"),
    ({"thinking": 512}, "thinking"),
    ({"thinking": True}, "thinking"),
    ({"thinking": {"type": "enabled"}}, "thinking"),
    ({"enable_thinking": "yes"}, "enable_thinking"),
    ({"reasoning_tags": ["<think>"]}, "reasoning_tags"),
    ({"reasoning_tags": ["<think>", ""]}, "reasoning_tags"),
    ({"max_tokens_param": "max_output_tokens"}, "max_tokens_param"),
])
def test_bad_reasoning_options_are_one_line_naming_the_option(options, name):
    with pytest.raises(LLMConfigError) as info:
        check_options(options)
    assert str(info.value).startswith(f"llm.options.{name}: ") and "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=rf"llm\.options\.{name}: "):
        validate_config({"llm": {"model": "openai:o3-mini", "options": options}})


def test_reasoning_options_in_the_spec_query_are_checked_too():
    with pytest.raises(ConfigError, match=r"llm\.options\.reasoning_effort"):
        validate_config({"llm": {"model": "vllm:gpt-oss?reasoning_effort=huge"}})


def test_thinking_budget_must_leave_room_for_the_answer():
    assert check_thinking(2048) == {"type": "enabled", "budget_tokens": 2048}
    assert check_thinking({"type": "adaptive"}) == {"type": "adaptive"} and check_thinking(False) is None
    with pytest.raises(ConfigError, match=r"llm\.options\.thinking: the budget \(2048 tokens\) must be below "
                                          r"llm\.max_tokens \(1024\)"):
        validate_config({"llm": {"model": "anthropic:claude-sonnet-4-5", "options": {"thinking": 2048},
                                 "max_tokens": 1024}})
    cfg = validate_config({"llm": {"model": "anthropic:claude-sonnet-4-5", "options": {"thinking": 2048},
                                   "max_tokens": 8192}})
    assert cfg.llm.options["thinking"] == 2048


@pytest.mark.parametrize("spec, options, name", [
    ("openai:o3-mini", {"reasoning_effort": "ultra"}, "reasoning_effort"),
    ("vllm:Qwen/Qwen3-8B", {"enable_thinking": 1}, "enable_thinking"),
    ("anthropic:claude-sonnet-4-5", {"thinking": 10}, "thinking"),
    ("anthropic:claude-sonnet-4-5", {"thinking": 2048, "top_k": 5}, "top_k"),
    ("anthropic:claude-sonnet-4-5", {"thinking": 2048, "top_p": 0.5}, "top_p"),
    ("openai:gpt-4o", {"native_tools": "no"}, "native_tools"),
])
def test_back_ends_refuse_bad_reasoning_options(spec, options, name):
    with pytest.raises(LLMConfigError, match=rf"llm\.options\.{name}"):
        make_llm(spec, api_key="sk-test", base_url="http://127.0.0.1:9/v1", cache=False, **options)
