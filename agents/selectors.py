"""Selectors (reranking): pick one candidate among the chains' answers.

Contract: ``async select(candidates, ctx) -> dict`` with ``id`` (the chosen candidate's id), ``selector``, ``info``
and ``upper_bound`` (True only for ``oracle``, which reads hidden tests). Selectors that need neither the LLM nor
the sandbox also offer ``pick(candidates) -> Candidate | None`` so reports can recompute selection at every depth and
width from one run. Only visible tests and LLM-proposed inputs are ever used, except by a selector declaring
``needs_hidden = True`` (``oracle``): the graph's ``select`` node defers it and the orchestrator applies it to the
candidates once the scorer has attached their hidden results (``scoring.run_scored``).
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Sequence
from typing import Any

from semtrace.agents.context import AgentContext
from semtrace.agents.state import Candidate
from semtrace.llms.accounting import measure
from semtrace.registry import Registry
from semtrace.representations import prompts
from semtrace.sandbox.types import ExecRequest, TestCase

log = logging.getLogger(__name__)


def _select_scope(ctx: AgentContext) -> Any:
    """The ledger scope of a selector's LLM calls (after the last round): ``measure``'s block reads their usage."""
    return measure(ctx.llm, task_id=ctx.task.task_id, round=ctx.settings.agent.resolved_depth + 1, purpose="select")


def _used(measured: Any, completions: list[Any]) -> dict[str, int]:
    """What the selector's calls used, from the LLM's ledger (the selection's info keeps it as JSON)."""
    return measured.spent.model_dump()


def best_visible(candidates: Sequence[Candidate]) -> list[Candidate]:
    """The candidates with the highest visible pass rate, in chain order."""
    if not candidates:
        return []
    top = max(c.visible_rate for c in candidates)
    return [c for c in candidates if c.visible_rate == top]


def needs_hidden(selector: Any) -> bool:
    """Whether the selector reads hidden results (then it runs after scoring, outside the graph)."""
    return bool(getattr(selector, "needs_hidden", False))


class Selector:
    name = "base"
    upper_bound = False
    needs_hidden = False  # True: reads hidden results, so it is applied after scoring, outside the graph

    def pick(self, candidates: Sequence[Candidate]) -> Candidate | None:
        raise NotImplementedError

    async def select(self, candidates: Sequence[Candidate], ctx: AgentContext) -> dict[str, Any]:
        chosen = self.pick(candidates)
        return {
            "id": chosen.id if chosen else None,
            "selector": self.name,
            "upper_bound": self.upper_bound,
            "info": {},
        }


class FirstPass(Selector):
    """The first chain whose answer passes every visible test; else chain 0."""

    name = "first_pass"

    def pick(self, candidates: Sequence[Candidate]) -> Candidate | None:
        return next((c for c in candidates if c.visible_passed), candidates[0] if candidates else None)


class VisibleRate(Selector):
    """The highest visible-test pass rate; ties go to the earliest chain."""

    name = "visible_rate"

    def pick(self, candidates: Sequence[Candidate]) -> Candidate | None:
        pool = best_visible(candidates)
        return pool[0] if pool else None


class Oracle(Selector):
    """UPPER BOUND: reads the hidden tests. Never a method result; always labelled as an upper bound."""

    name = "oracle"
    upper_bound = True
    needs_hidden = True

    def pick(self, candidates: Sequence[Candidate]) -> Candidate | None:
        return next((c for c in candidates if c.correct), candidates[0] if candidates else None)


_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)


def parse_calls(text: str, entry_point: str, limit: int) -> list[str]:
    """The argument source of each ``entry_point(...)`` call the LLM proposed (deduplicated, syntax-checked)."""
    blocks = _CODE_BLOCK.findall(text) or [text]
    found: list[str] = []
    for line in "\n".join(blocks).splitlines():
        line = line.strip().removeprefix("assert ").split(" == ")[0].strip()
        if not line.startswith(entry_point + "("):
            continue
        try:
            node = ast.parse(line, mode="eval").body
        except SyntaxError:
            continue
        if not (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point
        ):
            continue
        args = line[len(entry_point) + 1 : -1] if line.endswith(")") else None
        if args is not None and args not in found:
            found.append(args)
        if len(found) >= limit:
            break
    return found


async def _outputs(ctx: AgentContext, cand: Candidate, tests: tuple[TestCase, ...]) -> tuple[str, ...]:
    req = ExecRequest(
        code=cand.code,
        tests=tests,
        entry_point=ctx.task.entry_point,
        test_setup=ctx.task.test_setup,
        prelude=ctx.task.prelude,
        limits=ctx.settings.limits,
    )
    # selection comes after a chain's last round: queued as the LLM gate queues it (behind lagging chains)
    result = await ctx.exec_cache.run(ctx.sandbox_for(ctx.settings.agent.resolved_depth + 1), req, ctx.stats)
    by_index = {t.index: t for t in result.tests}
    out = []
    for i in range(len(tests)):
        t = by_index.get(i)
        if t is None:
            out.append(f"<{result.status}>")
        elif t.actual is not None and t.status in ("passed", "failed"):
            out.append(t.actual)
        else:
            out.append(f"<{t.status}: {t.message.splitlines()[-1] if t.message else ''}>")
    return tuple(out)


class MajorityOutput(Selector):
    """The LLM proposes inputs; every top-visible candidate runs on them; pick from the largest cluster of
    identical outputs (ties: the cluster holding the earliest chain)."""

    name = "majority_output"

    async def select(self, candidates: Sequence[Candidate], ctx: AgentContext) -> dict[str, Any]:
        pool = best_visible(candidates)
        if len({c.code for c in pool}) <= 1:
            return {
                "id": pool[0].id if pool else None,
                "selector": self.name,
                "upper_bound": False,
                "info": {"reason": "one distinct program"},
            }
        task = ctx.task
        messages = prompts.test_inputs_messages(task.prompt, task.entry_point, ctx.settings.agent.selector_inputs)
        with _select_scope(ctx) as used:
            completions = await ctx.llm_for(ctx.settings.agent.resolved_depth + 1).generate(
                messages,
                n=1,
                temperature=0.0,
                max_tokens=ctx.settings.llm.max_tokens,
                seed=ctx.settings.seed_for(task.task_id, "select-inputs"),
            )
        ctx.stats.add_completions(completions)
        calls = parse_calls(completions[0].text, task.entry_point, ctx.settings.agent.selector_inputs)
        info: dict[str, Any] = {"inputs": calls, "usage": _used(used, completions)}
        if not calls:
            info["reason"] = "no usable inputs proposed; fell back to visible_rate"
            return {"id": pool[0].id, "selector": self.name, "upper_bound": False, "info": info}
        tests = tuple(TestCase(kind="call", func=task.entry_point, args=a, expected=None) for a in calls)
        clusters: dict[tuple[str, ...], list[str]] = {}
        for cand in pool:
            clusters.setdefault(await _outputs(ctx, cand, tests), []).append(cand.id)
        best = max(clusters.values(), key=len)  # max keeps the first of equal sizes (earliest chain)
        info["clusters"] = sorted((len(v) for v in clusters.values()), reverse=True)
        return {"id": best[0], "selector": self.name, "upper_bound": False, "info": info}


_VERDICT = re.compile(r"\b([AB])\b")


class LLMJudge(Selector):
    """S*-style tournament: for two candidates, the LLM proposes a distinguishing input, both run; if their outputs
    differ the LLM judges which output is right. The winner meets the next distinct candidate."""

    name = "llm_judge"

    async def _duel(
        self, a: Candidate, b: Candidate, ctx: AgentContext, asked: list[Any], log_: list[dict[str, Any]]
    ) -> Candidate:
        task, s = ctx.task, ctx.settings
        seed = s.seed_for(task.task_id, "judge", a.id, b.id)
        comps = await ctx.llm_for(ctx.settings.agent.resolved_depth + 1).generate(
            prompts.distinguish_messages(task.prompt, task.entry_point, a.code, b.code),
            n=1,
            temperature=0.0,
            max_tokens=s.llm.max_tokens,
            seed=seed,
        )
        ctx.stats.add_completions(comps)
        asked.append(comps[0])
        calls = parse_calls(comps[0].text, task.entry_point, 1)
        if not calls:
            log_.append({"a": a.id, "b": b.id, "winner": a.id, "reason": "no input proposed"})
            return a
        tests = (TestCase(kind="call", func=task.entry_point, args=calls[0], expected=None),)
        out_a, out_b = (await _outputs(ctx, a, tests))[0], (await _outputs(ctx, b, tests))[0]
        if out_a == out_b:
            log_.append({"a": a.id, "b": b.id, "winner": a.id, "input": calls[0], "reason": "same output"})
            return a
        call = f"{task.entry_point}({calls[0]})"
        comps = await ctx.llm_for(ctx.settings.agent.resolved_depth + 1).generate(
            prompts.judge_messages(task.prompt, task.entry_point, call, out_a, out_b),
            n=1,
            temperature=0.0,
            max_tokens=s.llm.max_tokens,
            seed=seed + 1,
        )
        ctx.stats.add_completions(comps)
        asked.append(comps[0])
        verdicts = _VERDICT.findall(comps[0].text)
        winner = b if verdicts and verdicts[-1] == "B" else a
        log_.append({"a": a.id, "b": b.id, "winner": winner.id, "input": calls[0]})
        return winner

    async def select(self, candidates: Sequence[Candidate], ctx: AgentContext) -> dict[str, Any]:
        pool, seen = [], set()
        for c in best_visible(candidates):
            if c.code not in seen:
                seen.add(c.code)
                pool.append(c)
        if not pool:
            return {"id": None, "selector": self.name, "upper_bound": False, "info": {}}
        asked: list[Any] = []
        duels: list[dict[str, Any]] = []
        winner = pool[0]
        with _select_scope(ctx) as used:
            for challenger in pool[1:]:
                winner = await self._duel(winner, challenger, ctx, asked, duels)
        usage = _used(used, asked) if asked else {}
        return {
            "id": winner.id,
            "selector": self.name,
            "upper_bound": False,
            "info": {"duels": duels, "usage": usage},
        }


SELECTORS = Registry(
    kind="selector",
    group="semtrace.selectors",
    entries={
        "first_pass": "semtrace.agents.selectors:FirstPass",
        "visible_rate": "semtrace.agents.selectors:VisibleRate",
        "majority_output": "semtrace.agents.selectors:MajorityOutput",
        "llm_judge": "semtrace.agents.selectors:LLMJudge",
        "oracle": "semtrace.agents.selectors:Oracle",
    },
)


def make_selector(name: str, **options: Any) -> Selector:
    return SELECTORS.resolve_class(name)(**options)
