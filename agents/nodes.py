"""The graph's LLM nodes and the join. Each takes a ``Chain`` (or the state) and returns a partial update plus where
the chain goes next (a ``Command``); none mutates its input. Dependencies come from ``runtime.context``
(AgentContext). Running, tracing and rendering a candidate is ``observe.py``'s node; the ``debug`` strategy's
tool loop is ``debug.py``'s."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from semtrace.agents import routes
from semtrace.agents.context import AgentContext
from semtrace.agents.record import NO_SPEND, Candidate
from semtrace.agents.replies import ask, asked_again, candidate, prompt_messages
from semtrace.agents.selectors import needs_hidden
from semtrace.agents.state import (
    AgentState,
    Amend,
    Chain,
    as_chain,
    candidate_id,
    candidates_of,
    final_candidates,
)
from semtrace.llms.accounting import Spent
from semtrace.llms.base import UNFINISHED_REASONING, BadResponse, ContextTooLong
from semtrace.representations import prompts

log = logging.getLogger(__name__)


async def generate(state: AgentState, runtime: Runtime[AgentContext]) -> Command:
    """Round 0: the buggy program for repair tasks; ``width`` samples of the prompt for synthesis."""
    ctx = runtime.context
    task, width = ctx.task, ctx.settings.agent.resolved_width
    update = {"task_id": task.task_id, "width": width}
    if task.kind == "repair" and task.starting_code is not None:
        starts = [Candidate(id=candidate_id(chain, 0), chain=chain, round=0, code=task.starting_code) for chain in range(width)]
        return Command(update=update, goto=[Send("observe", Chain(candidate=c)) for c in starts])
    messages = prompts.synthesis_messages(task.prompt, task.entry_point)
    completions, used, latency = await ask(
        ctx, messages, n=width, seed=ctx.settings.seed_for(task.task_id, "generate"), round_=0, code=True
    )
    if len(completions) < width:
        raise BadResponse(f"asked for {width} samples, got {len(completions)}", provider=ctx.llm.name)
    sends = []
    for chain, completion in enumerate(completions[:width]):
        # the one call that produced every chain's sample is charged to chain 0
        cand = candidate(ctx, completion, chain=chain, round_=0, parent=None, messages=messages,
                         usage=used if chain == 0 else NO_SPEND, latency=latency if chain == 0 else 0.0)
        sends.append(Send("observe", Chain(candidate=cand)))
    return Command(update=update, goto=sends)


async def critique(payload: Chain | dict[str, Any], runtime: Runtime[AgentContext]) -> Command:
    """Have the LLM explain the bug from the trace (no code); the explanation joins the refine prompt. The
    candidate, now complete, is written to the state here."""
    ctx = runtime.context
    task = ctx.task
    chain = as_chain(payload)
    messages = prompts.critique_messages(task.prompt, task.entry_point, chain.attempt())
    seed = ctx.settings.seed_for(task.task_id, "critique", chain.chain, chain.round)
    reasoning, note = "", ""
    try:
        completions, usage, _ = await ask(
            ctx, messages, n=1, seed=seed, round_=chain.round, chain=chain.chain, purpose="critique"
        )
        text, reasoning = completions[0].text.strip(), completions[0].reasoning  # the answer only
        if completions[0].reasoning_unfinished:
            note = f"critique: {UNFINISHED_REASONING}"
    except (ContextTooLong, BadResponse) as exc:
        ctx.stats.llm_errors += 1
        text, usage = "", Spent(calls=1)
        log.warning("critique of %s/%s failed: %s", task.task_id, chain.candidate.id, exc)
    update: dict[str, Any] = {"critique": text, "critique_usage": usage, "critique_prompt": prompt_messages(messages),
                              "critique_reasoning": reasoning}
    if note:
        update["note"] = "; ".join(n for n in (chain.candidate.note, note) if n)
    cand = chain.candidate.model_copy(update=update)
    nxt = chain.model_copy(update={"candidate": cand}).carried()
    return Command(update={"candidates": [chain.written(cand)]}, goto=Send(routes.repair_node(ctx.settings), nxt))


def next_attempts(chain: Chain) -> tuple[prompts.Attempt, ...]:
    """The history the next round's prompt shows: earlier rounds by code, feedback and critique (only the latest
    round's trace is shown: its rendering is dropped here); a round without a program is not an attempt."""
    if chain.no_program:
        return chain.attempts
    c = chain.candidate
    return (*chain.attempts, prompts.Attempt(code=c.code, feedback=c.feedback, critique=c.critique))


async def refine(payload: Chain | dict[str, Any], runtime: Runtime[AgentContext]) -> Command:
    """Ask for a corrected program given this round (and, with history 'all', the earlier ones)."""
    ctx = runtime.context
    task, s = ctx.task, ctx.settings
    chain = as_chain(payload)
    if chain.no_program:  # the last reply had no program: the same request once more
        messages = asked_again(chain.candidate)
    else:
        history = [*chain.attempts, chain.attempt()]
        messages = prompts.refine_messages(task.prompt, task.entry_point, history, s.agent.history)
    new_round = chain.round + 1
    seed = s.seed_for(task.task_id, "refine", chain.chain, new_round)
    try:
        completions, used, latency = await ask(
            ctx, messages, n=1, seed=seed, round_=new_round, chain=chain.chain, code=True
        )
    except (ContextTooLong, BadResponse) as exc:
        ctx.stats.llm_errors += 1
        note = f"refinement stopped: {type(exc).__name__}: {exc}"
        return Command(update={"candidates": [Amend(id=chain.candidate.id, note=note)], "finished": [chain.chain]},
                       goto="finish")
    cand = candidate(ctx, completions[0], chain=chain.chain, round_=new_round, parent=chain.candidate.id,
                     messages=messages, usage=used, latency=latency)
    return Command(goto=Send("observe", Chain(candidate=cand, attempts=next_attempts(chain))))


async def finish(state: AgentState) -> dict[str, Any]:
    """The join point of all chains; the route after it decides whether selection can run. (Async, as every node
    here: LangGraph runs a sync node of an async graph in a thread pool, a thread hop per chain.)"""
    return {}


async def select(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The selector's pick among the chains' answers; a selector that reads hidden results (``needs_hidden``) is
    only recorded as deferred here: the orchestrator applies it after scoring (``scoring.run_scored``)."""
    ctx = runtime.context
    if needs_hidden(ctx.selector):
        name = getattr(ctx.selector, "name", type(ctx.selector).__name__)
        return {"selection": {"id": None, "selector": name, "deferred": True, "info": {}}}
    selection = await ctx.selector.select(final_candidates(candidates_of(dict(state))), ctx)
    return {"selection": selection}
