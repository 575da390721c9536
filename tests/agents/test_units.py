"""Unit tests: config loading, the candidates reducer (an ``Amend`` too), a chain carried on and the chain of an
older checkpoint's payload, routes, selectors' parsing, metrics, the results file, ablation grids."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from rich.console import Console
from rules import repair_rules, write_rules
from runhelp import run_config
from semtrace.agents.ablate import grid_points, parse_grid, run_grid
from semtrace.agents.display import progress_table, results_table
from semtrace.agents.metrics import pass_at_k, stable_record
from semtrace.agents.record import NO_PROGRAM, Candidate, ExecSummary, PromptMessage
from semtrace.agents.routes import after_feedback, after_finish, after_run, wants_trace
from semtrace.agents.run import Progress, read_records
from semtrace.agents.selectors import parse_calls
from semtrace.agents.settings import AgentSettings
from semtrace.agents.state import (
    Amend,
    Chain,
    as_chain,
    candidates_of,
    merge_candidate_writes,
    merge_candidates,
)
from semtrace.agents.transcript import Transcript
from semtrace.config import ConfigError, build_config
from semtrace.llms.accounting import Spent
from semtrace.representations.prompts import Attempt, refine_messages


def test_config_precedence_yaml_flags_overrides(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("benchmark: humaneval\ndepth: 2\nlimits:\n  wall_time: 3\n")
    cfg = build_config(cfg_file, {"depth": 4, "width": None}, ["limits.wall_time=1.5", "critique=true"])
    assert (cfg.benchmark, cfg.agent.depth, cfg.limits.wall_time, cfg.agent.critique) == ("humaneval", 4, 1.5, True)
    assert cfg.agent.width == 1  # the sequential preset fills what was not given
    assert build_config(None, {"strategy": "parallel"}).agent.depth == 0
    assert build_config(None, {"strategy": "hybrid"}).agent.resolved_width == 4


@pytest.mark.parametrize(
    "args, message",
    [
        ({"overrides": ["widht=3"]}, "unknown config key 'widht'"),
        ({"overrides": ["depth"]}, "not key=value"),
        ({"flags": {"strategy": "greedy", "depth": 2}}, "strategy 'greedy' fixes depth=0"),
        ({"flags": {"strategy": "beam"}}, "bad config value for 'agent.strategy'"),
        ({"path": "/nonexistent.yaml"}, "not found"),
    ],
)
def test_config_errors_name_the_problem(args, message):
    with pytest.raises(ConfigError, match=message):
        build_config(**args)


A0 = Candidate(id="c0r0", chain=0, round=0, code="a", critique="C", usage=Spent(calls=1))
B1 = Candidate(id="c0r1", chain=0, round=1, parent="c0r0", code="b")


def test_merge_candidates_replaces_a_typed_candidate_whole_by_id_without_mutating():
    newer = Candidate(id="c0r0", chain=0, round=0, code="a", feedback="F")
    left, right = [A0], [newer, B1]
    merged = merge_candidates(left, right)
    assert merged == [newer, B1] and merged[0] is newer
    assert merged[0].critique == "" and merged[0].usage == Spent()  # replaced, not patched
    assert left == [A0] and right == [newer, B1]
    # order is first appearance; a later write of an id keeps its place
    assert [c.id for c in merge_candidates([B1], [newer])] == ["c0r1", "c0r0"]
    assert merge_candidates([B1, A0], [newer]) == [B1, newer]
    assert merge_candidates(None, None) == [] and merge_candidates(left, None) == left
    assert merge_candidates(None, right) == right


def test_merge_candidates_merges_a_legacy_dict_patch_onto_what_the_id_holds():
    left = [{"id": "c0r0", "chain": 0, "round": 0, "code": "a"}]
    right = [{"id": "c0r0", "trace": {"x": 1}}, {"id": "c0r1", "chain": 0, "round": 1, "code": "b"}]
    before = copy.deepcopy((left, right))
    merged = merge_candidates(left, right)
    assert merged == [Candidate(id="c0r0", chain=0, round=0, code="a", trace={"x": 1}),
                      Candidate(id="c0r1", chain=0, round=1, code="b")]
    assert (left, right) == before
    # a patch onto a typed candidate keeps its other fields (typed again: usage stays a Spent)
    (patched,) = merge_candidates([A0], [{"id": "c0r0", "feedback": "F", "critique_usage": {"calls": 1}}])
    assert patched == A0.model_copy(update={"feedback": "F", "critique_usage": Spent(calls=1)})
    assert isinstance(patched.usage, Spent) and patched.usage.calls == 1


def test_merge_candidates_keeps_a_partial_legacy_dict_until_a_patch_completes_it():
    partial = merge_candidates([], [{"id": "c0r1", "trace": {"x": 1}}])
    assert partial == [{"id": "c0r1", "trace": {"x": 1}}]  # not a candidate yet: no chain, round or code
    assert candidates_of({"candidates": [A0, *partial]}) == [A0]  # and not one to select or record
    (done,) = merge_candidates(partial, [{"id": "c0r1", "chain": 0, "round": 1, "code": "b"}])
    assert done == Candidate(id="c0r1", chain=0, round=1, code="b", trace={"x": 1})
    assert partial == [{"id": "c0r1", "trace": {"x": 1}}]


def test_merge_candidate_writes_is_merging_write_after_write():
    writes = [[A0], [{"id": "c0r0", "feedback": "F"}], [B1], [A0.model_copy(update={"note": "n"})]]
    expected = merge_candidates(merge_candidates(merge_candidates([A0], writes[1]), writes[2]), writes[3])
    assert merge_candidate_writes(None, writes) == expected
    assert merge_candidate_writes(merge_candidate_writes(None, writes[:2]), writes[2:]) == expected
    assert expected[0].note == "n" and expected[0].feedback == "" and expected[1] == B1


# what no node after the one that writes a candidate reads: a carried chain's candidate has them reset
CARRIED_DROPS = {"raw": "", "reasoning": "", "critique_reasoning": "", "trace": None, "passing_trace": None,
                 "transcript": None, "critique_prompt": (), "prompt": ()}


def full_candidate(**fields) -> Candidate:
    """A candidate with every field set to something other than its default (but chain 0, and ``fields``)."""
    msg = (PromptMessage(role="user", content="Fix it"),)
    values = {"id": "c0r1", "chain": 0, "round": 1, "parent": "c0r0", "code": "b", "raw": "Fixed: b", "note": "n",
              "reasoning": "why", "visible": ExecSummary(status="failed", total=1, outcomes="F"),
              "hidden": ExecSummary(status="passed", total=2, passed=2, outcomes="PP"), "trace": {"n_events": 3},
              "passing_trace": {"n_events": 2}, "feedback": "FB", "rendering": "R", "critique": "C",
              "usage": Spent(calls=1, completion_tokens=4), "render_usage": Spent(calls=1),
              "critique_usage": Spent(calls=1, prompt_tokens=9), "prompt_digest": "d", "prompt": msg, "latency": 0.5,
              "critique_prompt": (PromptMessage(role="user", content="Explain"),), "critique_reasoning": "hm",
              "transcript": Transcript(protocol="text", budget=3)}
    cand = Candidate(**{**values, **fields})
    defaults = Candidate(id="x", chain=0, round=0, code="")
    assert not [k for k in Candidate.model_fields
                if k not in ("chain", *fields) and getattr(cand, k) == getattr(defaults, k)]
    return cand


def test_chain_carried_drops_exactly_what_no_later_node_reads():
    full = full_candidate()
    debug = Transcript(protocol="text", budget=2)
    chain = Chain(candidate=full, attempts=(Attempt(code="a", feedback="F0"),), failing=0,
                  visible={"status": "failed"}, debug=debug)
    before = copy.deepcopy(chain)
    carried = chain.carried()
    assert chain == before and chain.candidate is full and full.raw == "Fixed: b"  # the input is unchanged
    assert carried.candidate == full.model_copy(update=CARRIED_DROPS)
    changed = {k for k in Candidate.model_fields if getattr(carried.candidate, k) != getattr(full, k)}
    assert changed == set(CARRIED_DROPS)
    # what later nodes read is kept: the code and history, feedback, rendering, critique, note, ids, usage...
    kept = ("id", "chain", "round", "parent", "code", "note", "visible", "hidden", "feedback", "rendering",
            "critique", "usage", "render_usage", "critique_usage", "prompt_digest", "latency")
    assert {k: getattr(carried.candidate, k) for k in kept} == {k: getattr(full, k) for k in kept}
    # and the chain's own fields
    assert (carried.attempts, carried.failing, carried.visible, carried.debug, carried.legacy) == (
        chain.attempts, 0, {"status": "failed"}, debug, False)
    assert carried.carried() == carried  # nothing more to drop
    # a legacy chain stays legacy
    assert Chain(candidate=full, legacy=True).carried().legacy


def test_chain_carried_keeps_the_prompt_of_a_reply_without_a_program():
    none = full_candidate(code="", visible=ExecSummary(status=NO_PROGRAM, message="no answer"))
    chain = Chain(candidate=none)
    before = copy.deepcopy(chain)
    carried = chain.carried()
    assert chain == before and carried.no_program
    drops = {k: v for k, v in CARRIED_DROPS.items() if k != "prompt"}
    assert carried.candidate == none.model_copy(update=drops)
    assert carried.candidate.prompt == none.prompt == (PromptMessage(role="user", content="Fix it"),)
    assert carried.candidate.reasoning == "" and carried.candidate.note == "n"


def test_merge_candidates_applies_an_amend_to_the_typed_candidate_it_names():
    amend = Amend(id="c0r0", note="refinement stopped: BadResponse: garbled")
    left, right = [A0, B1], [amend]
    merged = merge_candidates(left, right)
    assert merged == [A0.model_copy(update={"note": amend.note}), B1]  # only the note, in its place
    assert isinstance(merged[0], Candidate) and merged[0].critique == "C" and merged[0].usage == Spent(calls=1)
    assert merged[1] is B1 and left == [A0, B1] and A0.note == "" and right == [amend]
    # the note is replaced, not appended; an Amend before a candidate's write is replaced with it
    noted = A0.model_copy(update={"note": "earlier"})
    assert merge_candidates([noted], [amend]) == [A0.model_copy(update={"note": amend.note})]
    assert merge_candidates([], [amend, A0]) == [A0]
    # batching-invariant as the channel replays it
    writes = [[A0], [amend], [B1]]
    assert merge_candidate_writes(None, writes) == merge_candidate_writes(merge_candidate_writes(None, writes[:2]),
                                                                          writes[2:]) == merged[:1] + [B1]


def test_merge_candidates_applies_an_amend_to_a_legacy_dict_as_a_patch():
    legacy = {"id": "c0r0", "chain": 0, "round": 0, "code": "a", "note": "old", "feedback": "F"}
    partial = {"id": "c0r1", "trace": {"x": 1}}
    left = [legacy, partial]
    before = copy.deepcopy(left)
    done, still = merge_candidates(left, [Amend(id="c0r0", note="stopped"), Amend(id="c0r1", note="stopped")])
    assert done == Candidate(id="c0r0", chain=0, round=0, code="a", note="stopped", feedback="F")
    assert still == {"id": "c0r1", "trace": {"x": 1}, "note": "stopped"}  # still partial: kept a dict
    assert left == before


def test_an_amend_of_an_unknown_id_is_a_partial_dict_left_out_of_the_candidates():
    merged = merge_candidates([A0], [Amend(id="c9r9", note="stopped")])
    assert merged == [A0, {"id": "c9r9", "note": "stopped"}]
    assert candidates_of({"candidates": merged}) == [A0]


def test_as_chain_reads_a_format_2_payload_into_the_same_types():
    chain = Chain(candidate=B1)
    assert as_chain(chain) is chain and not chain.legacy and chain.written(B1) is B1
    old = {"chain": 0, "round": 1, "id": "c0r1", "parent": "c0r0", "code": "b", "raw": "r", "note": "",
           "reasoning": "why", "prompt_digest": "d", "prompt": [{"role": "user", "content": "Fix it"}],
           "usage": {"prompt_tokens": 5, "completion_tokens": 7, "reasoning_tokens": 2, "calls": 1},
           "latency": 0.5, "attempts": [{"code": "a", "feedback": "F0", "rendering": "", "critique": "C0"}]}
    before = copy.deepcopy(old)
    read = as_chain(old)
    assert old == before and read.legacy and (read.failing, read.visible, read.debug) == (None, None, None)
    assert read.attempts == (Attempt(code="a", feedback="F0", critique="C0"),)
    assert read.candidate == Candidate(id="c0r1", chain=0, round=1, parent="c0r0", code="b", raw="r",
                                       reasoning="why", prompt_digest="d",
                                       prompt=(PromptMessage(role="user", content="Fix it"),),
                                       usage=Spent(prompt_tokens=5, completion_tokens=7, reasoning_tokens=2,
                                                   calls=1), latency=0.5)
    # render's payload for refine: the run's outcomes on the chain (debug's run_tests reads them), the raw trace
    # not on the candidate (the state's record holds its compact one)
    visible = {"status": "failed", "tests": [{"index": 0, "status": "failed", "message": "m"}]}
    transcript = Transcript(protocol="text", budget=3)
    rendered = as_chain({**old, "visible": visible, "failing": 0, "trace": {"events": []}, "feedback": "FB",
                         "rendering": "R", "critique": "", "debug": transcript.to_dict()})
    assert rendered.visible == visible and rendered.failing == 0 and rendered.debug == transcript
    assert rendered.candidate.visible == ExecSummary() and rendered.candidate.trace is None
    assert (rendered.candidate.feedback, rendered.candidate.rendering) == ("FB", "R")
    # a reply without a program
    none = as_chain({"chain": 0, "round": 2, "id": "c0r2", "parent": "c0r1", "code": "", "no_program": True,
                     "note": "no answer", "attempts": []})
    assert none.no_program and none.candidate.visible == ExecSummary(status=NO_PROGRAM, message="no answer")


def test_a_legacy_chain_writes_only_its_payloads_fields_and_the_changed_ones():
    old = as_chain({"chain": 0, "round": 1, "id": "c0r1", "parent": "c0r0", "code": "b", "feedback": "F",
                    "attempts": []})
    done = old.candidate.model_copy(update={"critique": "C", "critique_usage": Spent(calls=1),
                                            "critique_reasoning": ""})  # set, but to what it was
    patch = old.written(done)
    assert patch == {"id": "c0r1", "chain": 0, "round": 1, "parent": "c0r0", "code": "b", "feedback": "F",
                     "critique": "C", "critique_usage": Spent(calls=1).model_dump()}
    # merged onto the state's record, the fields the payload did not hold are the record's
    record = Candidate(id="c0r1", chain=0, round=1, parent="c0r0", code="b", feedback="F", usage=Spent(calls=2),
                       visible=ExecSummary(status="failed", total=1, outcomes="F"), prompt_digest="d")
    (merged,) = merge_candidates([record], [patch])
    assert merged == record.model_copy(update={"critique": "C", "critique_usage": Spent(calls=1)})
    # a typed chain writes the candidate itself, whole
    typed = Chain(candidate=old.candidate)
    assert typed.written(done) is done


def test_routes_are_pure_decisions():
    s = AgentSettings.of(depth=2, critique=True)
    failing = Chain(candidate=Candidate(id="c0r0", chain=0, round=0, code="x",
                                        visible=ExecSummary(status="failed", total=1)), failing=0)
    passing = Chain(candidate=Candidate(id="c0r0", chain=0, round=0, code="x",
                                        visible=ExecSummary(status="passed", total=1, passed=1)))
    at_depth = failing.model_copy(update={"candidate": failing.candidate.model_copy(update={"round": 2})})
    assert after_run(failing, s, has_tests=True) == "feedback" and wants_trace(failing, s)
    assert after_run(at_depth, s, has_tests=True) == "finish"
    assert after_run(passing, s, has_tests=True) == "finish" and not wants_trace(passing, s)
    assert not wants_trace(failing, AgentSettings.of(depth=2, needs_trace=False))
    assert after_feedback(failing, s) == "critique" and after_feedback(failing, AgentSettings()) == "refine"
    assert after_finish({"width": 2, "finished": [0]}) == "__end__"
    assert after_finish({"width": 2, "finished": [1, 0]}) == "select"


def test_refine_history_all_lists_every_attempt():
    attempts = [
        Attempt("def f(): return 1", "Input: f()\nExpected output: 2", "trace-1"),
        Attempt("def f(): return 3", "Input: f()\nExpected output: 2", "trace-2"),
    ]
    all_ = refine_messages("Return two.", "f", attempts, "all")[-1].content
    last = refine_messages("Return two.", "f", attempts, "last")[-1].content
    assert "### Attempt 1" in all_ and "### Attempt 2 (latest)" in all_ and "trace-2" in all_
    assert "trace-1" not in all_  # only the latest round's trace is shown
    assert "return 1" not in last and "return 3" in last and "**BUGGY_PROGRAM**" in last


def test_parse_calls_keeps_valid_calls_of_the_entry_point():
    reply = "Inputs:\n```python\nf([1, 2])\nassert f([]) == 0\ng(3)\nf(1,\nf('a', k=2)\nf([1, 2])\n```"
    assert parse_calls(reply, "f", 5) == ["[1, 2]", "[]", "'a', k=2"]


def test_pass_at_k_and_stable_record():
    assert pass_at_k(4, 0, 1) == 0.0 and pass_at_k(4, 4, 1) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25) and pass_at_k(4, 1, 4) == 1.0
    rec = {"a": 1, "duration": 3.2, "c": [{"python": "3.12", "b": 2}]}
    assert stable_record(rec) == {"a": 1, "c": [{"b": 2}]}


def test_results_file_ignores_and_repairs_a_torn_line(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(
        json.dumps({"task_id": "a"}) + "\n" + json.dumps({"task_id": "b"}) + "\n" + '{"task_id": "c", '
    )
    assert [r["task_id"] for r in read_records(path)] == ["a", "b"]
    read_records(path, repair=True)
    assert path.read_text().count("\n") == 2 and path.read_text().endswith("}\n")


def test_grid_points_and_errors():
    base = build_config(None, {"benchmark": "humaneval-fix"})
    grid = parse_grid(["representation=none,next", "depth=0,2"])
    names = [n for n, _ in grid_points(base, grid)]
    assert names == [
        "representation=none,depth=0",
        "representation=none,depth=2",
        "representation=next,depth=0",
        "representation=next,depth=2",
    ]
    with pytest.raises(ConfigError, match="at least one --grid"):
        parse_grid([])
    with pytest.raises(ConfigError, match="twice"):
        parse_grid(["depth=1", "depth=2"])


async def test_ablate_runs_the_grid_with_one_llm_and_writes_a_combined_summary(fix_tasks, data_dir, tmp_path):
    tasks = fix_tasks[:3]
    rules = write_rules(tmp_path / "rules.jsonl", repair_rules(tasks, {t.task_id: 1 for t in tasks}))
    base = build_config(
        None,
        {
            "benchmark": "humaneval-fix",
            "data_dir": str(data_dir),
            "limit": 3,
            "model": f"scripted:{rules}",
            "sandbox": "local",
            "depth": 1,
            "display": False,
        },
    )
    out = tmp_path / "grid"
    combined = await run_grid(base, parse_grid(["representation=none,next"]), out)
    saved = json.loads((out / "ablation.json").read_text())
    assert set(saved["points"]) == {"representation=none", "representation=next"} == set(combined["points"])
    # the rules fix only when a trace shows the bug: 'none' stays at 0, 'next' reaches 1.0 at depth 1
    assert saved["points"]["representation=none"]["selected"]["mean"] == 0.0
    assert saved["points"]["representation=next"]["selected"]["mean"] == 1.0
    again = await run_grid(
        base, parse_grid(["representation=none,next"]), out
    )  # re-running continues: no work
    volatile = {"cost", "wall_time"}  # (wall time sums every session, the continuing one too)
    for name, point in combined["points"].items():
        assert {k: v for k, v in again["points"][name].items() if k not in volatile} == {
            k: v for k, v in point.items() if k not in volatile
        }


async def test_tables_render(fix_tasks, data_dir, tmp_path):
    tasks = fix_tasks[:2]
    rules = write_rules(tmp_path / "rules.jsonl", repair_rules(tasks, {tasks[0].task_id: 1}))
    cfg = build_config(
        None,
        {
            "benchmark": "humaneval-fix",
            "data_dir": str(data_dir),
            "limit": 2,
            "width": 2,
            "strategy": "hybrid",
            "depth": 1,
            "model": f"scripted:{rules}",
            "sandbox": "local",
            "display": False,
        },
    )
    summary = await run_config(cfg, tmp_path / "run")
    console = Console(record=True, width=160)
    console.print(results_table(summary))
    console.print(progress_table(Progress(total=2, done=1, correct=1), None))
    text = console.export_text()
    assert "oracle (upper bound)" in text and "50.0%" in text and "tasks" in text and "1/2" in text
    assert len(read_records(Path(tmp_path / "run" / "results.jsonl"))) == 2


async def test_llm_written_rendering_records_exactly_its_own_usage(fix_tasks, data_dir, tmp_path):
    """semcoder_nl's rationale call is charged to the candidate it renders: one call with its own tokens, not a
    diff of run-wide counters that other tasks move while it waits."""
    tasks = fix_tasks[:3]
    rationale = {"when": "a test it fails, and the trace", "reply": "The loop stops one step early."}
    rules = write_rules(tmp_path / "rules.jsonl",
                        [rationale, *repair_rules(tasks, {t.task_id: None for t in tasks})])
    cfg = build_config(
        None,
        {
            "benchmark": "humaneval-fix", "data_dir": str(data_dir), "limit": 3, "depth": 1,
            "strategy": "sequential", "representation": "semcoder_nl", "model": f"scripted:{rules}",
            "sandbox": "local", "display": False,
        },
    )
    await run_config(cfg, tmp_path / "run")
    rendered = [c for rec in read_records(tmp_path / "run" / "results.jsonl") for c in rec["candidates"]
                if c.get("rendering")]
    assert rendered
    for c in rendered:
        usage = c.get("render_usage") or {}
        assert usage.get("calls") == 1 and usage.get("completion_tokens", 0) > 0, usage
