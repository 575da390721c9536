"""Edges of the typed chain found in review: an older checkpoint's candidates loaded without the reducer, usage
dicts with more than the four counted keys, an LLM whose completions lack the newer fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from semtrace.agents.record import Candidate, candidate_usage, task_record
from semtrace.agents.state import candidates_of
from semtrace.llms.accounting import Spent, ledgered, measure


def test_an_older_checkpoints_complete_candidate_dicts_are_candidates_and_partial_ones_are_left_out() -> None:
    # LangGraph loads a stored ``candidates`` value (format 1's whole list, format 2's snapshot) without running
    # the reducer: the task pending only at finish/select must still see every candidate
    whole = {"id": "c0r0", "chain": 0, "round": 0, "code": "x = 1", "usage": {"prompt_tokens": 3, "calls": 1}}
    typed = Candidate(id="c0r1", chain=0, round=1, code="x = 2")
    got = candidates_of({"candidates": [whole, typed, {"id": "c1r0", "note": "a patch alone"}]})
    assert got == [Candidate.from_dict(whole), typed] and got[0].usage == Spent(prompt_tokens=3, calls=1)


def test_usage_dicts_with_other_keys_count_by_the_four_and_never_stop_a_record() -> None:
    class Task:
        task_id, kind = "t", "repair"

    cand = Candidate(id="c0r0", chain=0, round=0, code="x", usage=Spent(prompt_tokens=2, completion_tokens=3, calls=1))
    selection = {"id": "c0r0", "selector": "plugin",
                 "info": {"usage": {"prompt_tokens": 5, "completion_tokens": 1, "calls": 1, "total_tokens": 6,
                                    "cost": 0.1}}}
    record = task_record(Task(), {}, [cand], selection)
    assert record.usage == {"prompt_tokens": 7, "completion_tokens": 4, "reasoning_tokens": 0, "calls": 2}
    assert candidate_usage({"usage": {"prompt_tokens": 1, "billed_prompt_tokens": 9}}) == {
        "prompt_tokens": 1, "completion_tokens": 0, "reasoning_tokens": 0, "calls": 0}


async def test_an_llm_without_a_ledger_whose_completions_lack_the_newer_fields_is_still_counted() -> None:
    @dataclass
    class OldUsage:
        prompt_tokens: int
        completion_tokens: int

    @dataclass
    class OldCompletion:  # a plugin written before reasoning existed
        text: str
        usage: OldUsage

    class OldLLM:
        name = "old"

        async def generate(self, messages: Any, **options: Any) -> list[OldCompletion]:
            return [OldCompletion("x", OldUsage(4, 2))]

    llm = ledgered(OldLLM())
    with measure(llm, task_id="t", round=1) as used:
        await llm.generate([])
    assert used.spent == Spent(prompt_tokens=4, completion_tokens=2, calls=1)


def test_an_llm_with_its_own_ledger_is_not_wrapped_so_its_calls_count_once() -> None:
    from semtrace.llms.accounting import Accounting

    class Managed:
        accounting = Accounting()

    llm = Managed()
    assert ledgered(llm) is llm and ledgered(ledgered(object())).__class__.__name__ == "Ledgered"
