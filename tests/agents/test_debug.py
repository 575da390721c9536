"""The ``debug`` strategy end to end with real components (scripted model, local sandbox, real renderers): the
known scenario on ``demo`` in both protocols, malformed calls, a model that never submits, a reply with nothing
in it, the exec cache, and the hidden-test canary through every tool."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from debughelp import MAX_OF_FIX, Spy, call, max_of_scenario, rule, spec, write
from runhelp import run_config
from semtrace.agents.record import Candidate
from semtrace.agents.run import read_records
from semtrace.benchmarks.demo import load
from semtrace.config import build_config
from semtrace.llms.registry import make_llm

CANARY = "CANARY-5d1c0a7e-hidden"


def _task(task_id: str) -> Any:
    return next(t for t in load() if t.task_id == task_id)


async def _run(tmp_path: Path, rules: list[dict[str, Any]], *, native: bool = False, tasks: list[Any] | None = None,
               depth: int = 1, overrides: tuple[str, ...] = (), name: str = "run") -> tuple[list[Candidate], Spy]:
    path = write(tmp_path / f"{name}-rules.jsonl", rules)
    model = spec(path, native)
    llm = Spy(make_llm(model, cache=False))
    cfg = build_config(flags={"benchmark": "demo", "strategy": "debug", "depth": depth, "representation": "none",
                              "model": model, "sandbox": "local", "display": False}, overrides=list(overrides))
    await run_config(cfg, tmp_path / name, llm=llm, tasks=tasks or [_task("demo/max_of")])
    [record] = read_records(tmp_path / name / "results.jsonl")
    return [Candidate.from_dict(c) for c in record["candidates"]], llm


@pytest.mark.parametrize("native", [False, True], ids=["text", "native"])
async def test_run_the_tests_trace_watching_one_variable_submit_repaired_in_round_1(tmp_path: Path,
                                                                                    native: bool) -> None:
    cands, llm = await _run(tmp_path, max_of_scenario(native), native=native)
    assert [c.round for c in cands] == [0, 1]
    first, fixed = cands
    assert not first.correct and fixed.correct and fixed.code == MAX_OF_FIX and fixed.parent == first.id
    t = fixed.transcript
    assert t is not None and t.protocol == ("native" if native else "text") and t.end == "submit"
    assert [c.name for turn in t.turns for c in turn.calls] == ["run_tests", "trace", "submit"]
    tests_obs, trace_obs = (turn.calls[0].observation for turn in t.turns[:2])
    assert tests_obs.splitlines()[:3] == ["0 of 1 visible tests passed.", "[test 1] failed",
                                          "Test: assert max_of([1, 5, 3]) == 5"]
    # only the watched variable: the loop variable's states are cut, and the observation says so
    assert "cut: only best: 3 of 11 events kept" in trace_obs and "[L2] best = 1 [/L2]" in trace_obs
    assert "x = " not in trace_obs and "value: 1" in trace_obs
    assert all(c.done and not c.error and c.tokens > 0 for c in t.turns[0].calls + t.turns[1].calls)
    assert fixed.usage.calls == 3 and len(llm.requests) == 3 and t.used == 2 and t.traced
    assert fixed.prompt[0].role == "system" and "submit" in fixed.prompt[0].content
    # the observations went back as the protocol says: tool results (native) or a user message (text)
    marker = "[tool_result call_1]" if native else "[user]\n[run_tests result]"
    assert marker in llm.requests[1] and "0 of 1 visible tests passed" in llm.requests[1]
    assert ("```tool" in fixed.prompt[0].content) is not native


async def test_malformed_calls_are_one_line_errors_that_count_and_never_stop_the_run(tmp_path: Path) -> None:
    bad = ["```tool\n{\"name\": \"run\", \"arguments\": {\"expression\": \n```",  # bad JSON
           call("debugger", False, expression="max_of([1])"),  # unknown tool
           call("trace", False, watch=["best"]),  # a missing argument
           call("trace", False, expression="max_of([1])", representation="bogus"),  # an unknown renderer
           call("run", False, expression="max_of([1])", extra=1),  # an unknown argument
           call("trace", False, expression="max_of([1])", lines=[3]),  # a bad range
           call("submit", False),  # a submit without code
           "```tool\n" + json.dumps({"name": "submit", "arguments": {"code": MAX_OF_FIX}}) + "\n```"]
    rules = [rule(r"`max_of`", bad)]  # a list: consumed in order
    cands, _ = await _run(tmp_path, rules)
    t = cands[1].transcript
    assert t is not None and t.end == "submit" and cands[1].correct
    errors = [c for turn in t.turns for c in turn.calls if c.error]
    assert len(errors) == 7 and all(len(c.observation.splitlines()) == 1 for c in errors)
    obs = [c.observation for c in errors]
    assert obs[0].startswith("error: malformed tool call") and "unknown tool 'debugger'" in obs[1]
    assert "missing argument 'expression'" in obs[2] and "unknown representation 'bogus'" in obs[3]
    assert "unknown argument 'extra'" in obs[4] and "lines must be [first, last]" in obs[5]
    assert "missing argument 'code'" in obs[6]
    assert t.used == 7  # every malformed call counted (the submit that ended the round is not)


async def test_a_model_that_never_submits_ends_each_round_at_its_budget_with_the_parent_carried(
        tmp_path: Path) -> None:
    rules = [rule(r"`max_of`", call("run", False, expression="max_of([2, 9])"))]
    cands, llm = await _run(tmp_path, rules, depth=2, overrides=("tool_calls=3",))
    assert [c.round for c in cands] == [0, 1, 2]
    for cand in cands[1:]:
        t = cand.transcript
        assert t is not None and t.end == "budget" and cand.code == cands[0].code
        assert "tool budget (3 calls) ran out" in cand.note and t.budget == 3
        assert len(t.turns) == 4 and t.by_tool() == {"run": 4}  # 3 calls, then the last reply
        assert [c.error for turn in t.turns for c in turn.calls] == [False, False, False, True]
        assert t.turns[2].calls[0].observation.endswith("That was your last tool call: submit the corrected "
                                                        "program now.")
        assert "value: 2" in t.turns[0].calls[0].observation
    assert len(llm.requests) == 8


async def test_a_reply_with_neither_a_call_nor_a_program_gets_a_notice_that_counts(tmp_path: Path) -> None:
    rules = [rule(r"held no tool call[\s\S]*held no tool call", f"```python\n{MAX_OF_FIX}```"),
             rule(r"`max_of`", "I am not sure yet.")]
    cands, _ = await _run(tmp_path, rules)
    t = cands[1].transcript
    assert t is not None and t.end == "answer" and cands[1].correct
    assert [bool(turn.notice) for turn in t.turns] == [True, True, False] and t.used == 2


async def test_repeated_runs_and_traces_are_served_by_the_exec_cache(tmp_path: Path, monkeypatch) -> None:
    from interrupting import COUNT_ENV

    count = tmp_path / "count"
    monkeypatch.setenv(COUNT_ENV, str(count))
    again = call("trace", False, expression="max_of([4, 2])")
    rules = [rule(r"(\[trace result\][\s\S]*){3}", f"```python\n{MAX_OF_FIX}```"),
             rule(r"`max_of`", again)]
    path = write(tmp_path / "rules.jsonl", rules)
    cfg = build_config(flags={"benchmark": "demo", "strategy": "debug", "depth": 1, "representation": "none",
                              "model": f"scripted:{path}", "sandbox": "interrupting:InterruptingSandbox",
                              "display": False})
    await run_config(cfg, tmp_path / "run", tasks=[_task("demo/max_of")])
    [record] = read_records(tmp_path / "run" / "results.jsonl")
    t = Candidate.from_dict(record["candidates"][1]).transcript
    assert t is not None and t.by_tool() == {"trace": 3} and len({c.observation for tr in t.turns
                                                                   for c in tr.calls}) == 1
    # round 0's visible run, one trace (three asked), round 1's visible run; hidden scoring goes through the same
    # sandbox (two programs)
    assert count.read_text().split().count("sandbox") == 1 + 1 + 1 + 2


def _every_tool(native: bool) -> list[dict[str, Any]]:
    steps = [call("run", native, expression="max_of([7, 3]) if print('out:', 41 + 1) is None else 0"),
             call("run", native, expression="max_of([])"),
             call("trace", native, expression="max_of([1, 5, 3])", representation="next", lines=[3, 5]),
             call("trace", native, expression="sorted([max_of([2, 8])])"),
             call("submit", native, code=MAX_OF_FIX)]
    markers = [r"visible tests passed", r"out: 42", r"IndexError", r"trace of max_of\(\[1, 5, 3\]\) \(next\)",
               r"trace of sorted"]
    rules = [rule("[\\s\\S]*".join(markers[: k + 1]), steps[k]) for k in reversed(range(len(steps)))]
    return [*rules, rule(r"`max_of`", call("run_tests", native))]


@pytest.mark.parametrize("native", [False, True], ids=["text", "native"])
async def test_the_hidden_test_canary_reaches_no_request_through_any_tool(tmp_path: Path, native: bool) -> None:
    task = _task("demo/max_of")
    marked = dataclasses.replace(task, hidden_tests=tuple(
        dataclasses.replace(t, source=f"{t.source}  # {CANARY}", name=f"{t.name}-{CANARY}")
        for t in task.hidden_tests))
    cands, llm = await _run(tmp_path, _every_tool(native), native=native, tasks=[marked])
    t = cands[1].transcript
    assert t is not None and t.end == "submit" and cands[1].correct
    assert [c.name for turn in t.turns for c in turn.calls] == ["run_tests", "run", "run", "trace", "trace",
                                                                 "submit"]
    obs = [turn.calls[0].observation for turn in t.turns[:5]]
    assert "value: 3" in obs[1] and "stdout:\nout: 42" in obs[1]
    assert "exception: IndexError: list index out of range" in obs[2]
    assert "cut: only lines 3-5" in obs[3] and "#(" in obs[3]  # the next renderer, lines 3-5 only
    assert "value: [2]" in obs[4] and "max_of" in obs[4]
    assert len(llm.requests) == 6 and not [r for r in llm.requests if CANARY in r]
    assert CANARY not in json.dumps(t.to_dict())
    # positive control: the same canary in a visible test does reach the model (through run_tests)
    leaky = dataclasses.replace(marked, visible_tests=tuple(
        dataclasses.replace(v, source=f"{v.source}  # {CANARY}") for v in marked.visible_tests))
    _, spy = await _run(tmp_path, _every_tool(native), native=native, tasks=[leaky], name="leaky")
    assert any(CANARY in r for r in spy.requests)
