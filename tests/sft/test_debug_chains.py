"""``sft build --source run:DIR`` of a ``debug`` run (issue 21): each round that ended in a passing program is one
multi-turn example with its tool calls and observations in order, in each format's shape (``messages`` and
``openai``: OpenAI's ``tool_calls``/``tool`` messages; ``llamafactory``: ``function_call``/``observation`` turns and
``tools``), the final answer is the submitted program, and no hidden test reaches a file. Real components: the
scripted model in both protocols (text blocks and native calls), the local sandbox, the real CLI."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from clihelp import error_line, invoke
from debughelp import MAX_OF_FIX, call, max_of_scenario, rule, spec, write
from runhelp import run_config
from semtrace.agents.tools import NATIVE_NOTE, TEXT_PROTOCOL, TOOL_SPECS
from semtrace.benchmarks.demo import load
from semtrace.config import build_config
from semtrace.representations.base import approx_tokens

CANARY = "CANARY-sft-debug-9c41"
ANSWER = f"```python\n{MAX_OF_FIX.rstrip()}\n```"
BAD_BLOCK = '```tool\n{"name": "run", "arguments": {"expression": \n```'
TRACE_ARGS = {"expression": "max_of([1, 5, 3])", "watch": ["best"]}


def _marked_task() -> Any:
    """demo/max_of with a canary in every hidden test (``assert f(x) in (expected, CANARY)``: the same verdicts,
    and the record keeps the first hidden failure's message, "expected one of (..., CANARY)", so the canary is in
    the run directory an example is built from)."""
    task = next(t for t in load() if t.task_id == "demo/max_of")
    marked = []
    for t in task.hidden_tests:
        call_, expected = t.source.removeprefix("assert ").split(" == ")
        marked.append(dataclasses.replace(t, source=f"assert {call_} in ({expected}, {CANARY!r})",
                                          name=f"{t.name}-{CANARY}"))
    return dataclasses.replace(task, hidden_tests=tuple(marked))


def _text_rules() -> list[dict[str, Any]]:
    """A malformed block first, then prose with run_tests, a trace watching ``best``, submit."""
    return [rule(r"only best[\s\S]*best = 1", call("submit", False, code=MAX_OF_FIX)),
            rule(r"0 of 1 visible tests passed", call("trace", False, **TRACE_ARGS)),
            rule(r"malformed tool call", "I will run the tests first.\n" + call("run_tests", False)),
            rule(r"`max_of`", BAD_BLOCK)]


def _native_rules() -> list[dict[str, Any]]:
    """max_of's scenario with native calls, each reply with its reasoning."""
    return [{**r, "reasoning": f"thought {k}"} for k, r in enumerate(max_of_scenario(True))]


def _run(root: Path, rules: list[dict[str, Any]], native: bool, width: int) -> Path:
    import asyncio

    model = spec(write(root / "rules.jsonl", rules), native)
    cfg = build_config(flags={"benchmark": "demo", "tasks": "demo/max_of", "strategy": "debug", "width": width,
                              "depth": 1, "representation": "none", "model": model, "sandbox": "local",
                              "display": False})
    asyncio.run(run_config(cfg, root / "run", tasks=[_marked_task()]))
    return root / "run"


@pytest.fixture(scope="module")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("sft-debug-text"), _text_rules(), native=False, width=1)


@pytest.fixture(scope="module")
def native_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("sft-debug-native"), _native_rules(), native=True, width=2)


def _build(run: Path, out: Path, fmt: str, *flags: str) -> Any:
    return invoke("sft", "build", "--source", f"run:{run}", "--representation", "none", "--format", fmt,
                  "--out", str(out), "--split", "1.0", *flags)


def _rows(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "none" / "train.jsonl").read_text().splitlines()]


def _files(out: Path) -> str:
    return "".join(p.read_text() for p in out.rglob("*") if p.is_file())


def _no_canary(run: Path, out: Path) -> None:
    assert CANARY in (run / "results.jsonl").read_text()  # the record holds it (positive control)
    assert CANARY not in _files(out)


def test_text_protocol_round_exports_structured_calls_in_order(text_run: Path, tmp_path: Path) -> None:
    res = _build(text_run, tmp_path / "out", "messages")
    assert res.exit_code == 0, res.output
    [row] = _rows(tmp_path / "out")
    msgs = row["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant",
                                         "tool", "assistant"]
    system = msgs[0]["content"]
    # the protocol is the serving's detail: the native note replaces the fenced-block instructions
    assert system.endswith(NATIVE_NOTE.format(budget=8, example="max_of(...)")) and "```tool" not in system
    assert TEXT_PROTOCOL.splitlines()[0] not in system
    bad, tests, trace = (msgs[k] for k in (2, 4, 6))
    # the malformed block is kept as it was: no name, its raw text as the arguments, its error observation
    assert bad["content"] == "" and bad["tool_calls"] == [
        {"id": "t1c1", "type": "function", "function": {"name": "", "arguments": '{"name": "run", "arguments": '
                                                        '{"expression":'}}]
    assert msgs[3]["tool_call_id"] == "t1c1" and msgs[3]["content"].startswith("error: malformed tool call")
    assert tests["content"] == "I will run the tests first."  # the prose stays, the fenced block goes
    assert tests["tool_calls"][0]["function"] == {"name": "run_tests", "arguments": "{}"}
    assert msgs[5]["tool_call_id"] == tests["tool_calls"][0]["id"] == "t2c1"
    assert msgs[5]["content"].startswith("0 of 1 visible tests passed.")
    assert json.loads(trace["tool_calls"][0]["function"]["arguments"]) == TRACE_ARGS
    assert "cut: only best" in msgs[7]["content"] and msgs[7]["tool_call_id"] == "t3c1"
    assert msgs[-1] == {"role": "assistant", "content": ANSWER}  # the submitted program is the target
    assert all("```tool" not in m["content"] for m in msgs)
    assert [t["function"]["name"] for t in row["tools"]] == [s.name for s in TOOL_SPECS]
    meta = row["meta"]
    assert meta["ids"] == ["c0r0", "c0r1"] and (meta["turns"], meta["tool_calls"], meta["malformed"]) == (4, 3, 1)
    # tokens count every message, call and observation
    parts = [m["content"] for m in msgs] + [x for m in msgs for c in m.get("tool_calls", [])
                                            for x in (c["function"]["name"], c["function"]["arguments"])]
    assert meta["tokens"] == sum(approx_tokens(p) for p in parts if p)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["debug_chains"] == "multi-turn" and stats["representations"]["none"]["multi_turn"] == 1
    _no_canary(text_run, tmp_path / "out")


def test_native_round_in_openai_shape_and_identical_chains_deduped(native_run: Path, tmp_path: Path) -> None:
    res = _build(native_run, tmp_path / "out", "openai")
    assert res.exit_code == 0, res.output
    [row] = _rows(tmp_path / "out")  # two chains took the same path: one example
    assert set(row) == {"messages", "tools"}
    msgs = row["messages"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant"]
    calls = [m["tool_calls"][0] for m in msgs if m.get("tool_calls")]
    assert [(c["id"], c["type"], c["function"]["name"]) for c in calls] == [("call_1", "function", "run_tests"),
                                                                          ("call_2", "function", "trace")]
    assert json.loads(calls[1]["function"]["arguments"]) == TRACE_ARGS
    assert [m["tool_call_id"] for m in msgs if m["role"] == "tool"] == ["call_1", "call_2"]
    assert msgs[3]["content"].startswith("0 of 1 visible tests passed.") and "cut: only best" in msgs[5]["content"]
    assert msgs[-1] == {"role": "assistant", "content": ANSWER}
    assert row["tools"][2]["function"]["parameters"]["required"] == ["expression"]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert [d["reason"] for d in stats["dropped"]] == ["duplicate of an earlier pair (same normalised programs)"]
    _no_canary(native_run, tmp_path / "out")


def test_messages_keep_each_turns_reasoning(native_run: Path, tmp_path: Path) -> None:
    res = _build(native_run, tmp_path / "out", "messages", "--reasoning", "keep")
    assert res.exit_code == 0, res.output
    [row] = _rows(tmp_path / "out")
    thoughts = [m["reasoning_content"] for m in row["messages"]]
    # the rules are matched most advanced first: run_tests is rule 2, trace rule 1, submit rule 0
    assert thoughts == ["", "", "thought 2", "", "thought 1", "", "thought 0"]


def test_llamafactory_function_call_and_observation_turns_with_tools(text_run: Path, native_run: Path,
                                                                      tmp_path: Path) -> None:
    for name, run in (("text", text_run), ("native", native_run)):
        out = tmp_path / name
        res = _build(run, out, "llamafactory")
        assert res.exit_code == 0, res.output
        [row] = json.loads((out / "none_train.json").read_text())
        turns = row["conversations"]
        roles = [t["from"] for t in turns]
        tail = ["function_call", "observation", "function_call", "observation", "gpt"]
        assert roles == ["human", *(["function_call", "observation"] if name == "text" else []), *tail]
        # LLaMA-Factory's alternation: human/observation at odd positions, gpt/function_call at even ones
        assert all(r in (("human", "observation"), ("gpt", "function_call"))[k % 2] for k, r in enumerate(roles))
        calls = [json.loads(t["value"]) for t in turns if t["from"] == "function_call"]
        assert calls[-2:] == [{"name": "run_tests", "arguments": {}}, {"name": "trace", "arguments": TRACE_ARGS}]
        if name == "text":
            assert calls[0] == {"name": "", "arguments": '{"name": "run", "arguments": {"expression":'}
        assert turns[-1] == {"from": "gpt", "value": ANSWER}
        assert [t["name"] for t in json.loads(row["tools"])] == [s.name for s in TOOL_SPECS]
        entry = json.loads((out / "dataset_info.json").read_text())["semtrace_none_train"]
        assert entry["columns"] == {"messages": "conversations", "system": "system", "tools": "tools"}
        assert entry["tags"]["function_tag"] == "function_call" and entry["tags"]["observation_tag"] == "observation"
        _no_canary(run, out)


def test_single_turn_rebuilds_the_refine_prompt(text_run: Path, tmp_path: Path) -> None:
    res = _build(text_run, tmp_path / "out", "messages", "--debug-chains", "single-turn")
    assert res.exit_code == 0, res.output
    [row] = _rows(tmp_path / "out")
    assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"] and "tools" not in row
    assert "submit" not in row["messages"][0]["content"] and row["messages"][-1]["content"] == ANSWER
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["debug_chains"] == "single-turn"
    _no_canary(text_run, tmp_path / "out")


def test_max_tokens_counts_the_whole_conversation(text_run: Path, tmp_path: Path) -> None:
    res = _build(text_run, tmp_path / "full", "messages")
    tokens = _rows(tmp_path / "full")[0]["meta"]["tokens"]
    res = _build(text_run, tmp_path / "cut", "messages", "--max-tokens", str(tokens - 1))
    assert res.exit_code == 0, res.output
    stats = json.loads((tmp_path / "cut" / "stats.json").read_text())
    assert stats["representations"]["none"]["examples"] == 0
    assert stats["dropped"][0]["reason"].startswith(f"{tokens} tokens > --max-tokens {tokens - 1} (the whole "
                                                    "conversation")


def test_flag_errors_are_one_line(text_run: Path, tmp_path: Path) -> None:
    res = _build(text_run, tmp_path / "a", "messages", "--debug-chains", "both")
    assert res.exit_code == 2 and "--debug-chains both: choose multi-turn or single-turn" in error_line(res)
    res = _build(text_run, tmp_path / "b", "hf")
    assert res.exit_code == 2 and "--format hf has no place for a debug round's tool calls" in error_line(res)
    res = invoke("sft", "build", "--source", "benchmark:demo", "--out", str(tmp_path / "c"), "--debug-chains",
                 "multi-turn")
    assert res.exit_code == 2 and "only a run:DIR source has debug rounds" in error_line(res)


def test_a_notice_is_a_user_turn_and_an_answer_ends_the_round(tmp_path: Path) -> None:
    rules = [rule(r"held no tool call[\s\S]*held no tool call", f"Found it.\n```python\n{MAX_OF_FIX}```"),
             rule(r"`max_of`", "I am not sure yet.")]
    run = _run(tmp_path, rules, native=False, width=1)
    res = _build(run, tmp_path / "out", "llamafactory")
    assert res.exit_code == 0, res.output
    [row] = json.loads((tmp_path / "out" / "none_train.json").read_text())
    turns = row["conversations"]
    assert [t["from"] for t in turns] == ["human", "gpt", "human", "gpt", "human", "gpt"]
    assert turns[1]["value"] == turns[3]["value"] == "I am not sure yet."
    assert turns[2]["value"].startswith("Your reply held no tool call and no program.")
    assert turns[-1] == {"from": "gpt", "value": ANSWER}  # the answer's program, in the answer format
    _no_canary(run, tmp_path / "out")


def test_a_run_of_another_strategy_refuses_the_flag(tmp_path: Path) -> None:
    from semtrace.sft.sources import SourceError, chains_mode

    cfg = build_config(flags={"benchmark": "demo", "strategy": "sequential", "depth": 1, "model": "scripted:x"})
    assert chains_mode(cfg, "R", None) is None
    with pytest.raises(SourceError, match="run:R used strategy sequential, which has no tool rounds"):
        chains_mode(cfg, "R", "multi-turn")


def test_sft_train_refuses_multi_turn_rows_in_one_line(text_run: Path, tmp_path: Path) -> None:
    from semtrace.sft.train import TrainError, prompt_completion

    _build(text_run, tmp_path / "out", "messages")
    with pytest.raises(TrainError, match="row 1: a debug round's multi-turn example"):
        prompt_completion(tmp_path / "out" / "none" / "train.jsonl")
    _build(text_run, tmp_path / "one", "messages", "--debug-chains", "single-turn")
    [row] = prompt_completion(tmp_path / "one" / "none" / "train.jsonl")
    assert row["completion"] == [{"role": "assistant", "content": ANSWER}]
