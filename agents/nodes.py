"""The graph's nodes. Each takes a chain payload (or the state) and returns a partial update plus where the chain
goes next (a ``Command``); none mutates its input. Dependencies come from ``runtime.context`` (AgentContext)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from semtrace.agents import routes
from semtrace.agents.context import AgentContext
from semtrace.agents.feedback import uses_passing as _uses_passing
from semtrace.agents.record import NO_PROGRAM, compact, compact_trace
from semtrace.agents.replies import ask, asked_again, no_usage, prompt_digest, prompt_messages, reply_fields
from semtrace.agents.selectors import needs_hidden
from semtrace.agents.state import AgentState, ChainPayload, attempts_of, candidate_id, final_candidates
from semtrace.llms.base import UNFINISHED_REASONING, BadResponse, ContextTooLong
from semtrace.representations import prompts
from semtrace.sandbox.types import ExecRequest, ExecResult, TraceSpec

log = logging.getLogger(__name__)


def _result_dict(result: ExecResult) -> dict[str, Any]:
    data = dataclasses.replace(result, traces=()).to_dict()  # the traces travel apart (never converted twice)
    data.pop("traces", None)
    return data


# ---------------------------------------------------------------- generate


async def generate(state: AgentState, runtime: Runtime[AgentContext]) -> Command:
    """Round 0: the buggy program for repair tasks; ``width`` samples of the prompt for synthesis."""
    ctx = runtime.context
    task, width = ctx.task, ctx.settings.agent.resolved_width
    sends = []
    if task.kind == "repair" and task.starting_code is not None:
        for chain in range(width):
            sends.append(
                Send(
                    "execute",
                    ChainPayload(
                        chain=chain,
                        round=0,
                        id=candidate_id(chain, 0),
                        parent=None,
                        code=task.starting_code,
                        attempts=[],
                    ),
                )
            )
        return Command(update={"task_id": task.task_id, "width": width}, goto=sends)
    messages = prompts.synthesis_messages(task.prompt, task.entry_point)
    completions, used, latency = await ask(
        ctx, messages, n=width, seed=ctx.settings.seed_for(task.task_id, "generate"), round_=0, code=True
    )
    if len(completions) < width:
        raise BadResponse(f"asked for {width} samples, got {len(completions)}", provider=ctx.llm.name)
    digest, sent = prompt_digest(messages), prompt_messages(messages)
    for chain, completion in enumerate(completions[:width]):
        sends.append(
            Send(
                "execute",
                {
                    "chain": chain,
                    "round": 0,
                    "id": candidate_id(chain, 0),
                    "parent": None,
                    **reply_fields(ctx, completion),  # type: ignore[typeddict-item]
                    "prompt_digest": digest,
                    "prompt": sent,
                    "attempts": [],
                    # the one call that produced every chain's sample is charged to chain 0
                    "usage": used if chain == 0 else no_usage(),
                    "latency": latency if chain == 0 else 0.0,
                },
            )
        )
    return Command(update={"task_id": task.task_id, "width": width}, goto=sends)


# ---------------------------------------------------------------- execute / trace


def _request(
    ctx: AgentContext,
    code: str,
    tests: tuple,
    trace: TraceSpec | None = None,
    stop_on_failure: bool = False,
    stop_on_timeout: bool = False,
) -> ExecRequest:
    return ExecRequest(
        code=code,
        tests=tests,
        entry_point=ctx.task.entry_point,
        test_setup=ctx.task.test_setup,
        prelude=ctx.task.prelude,
        trace=trace,
        limits=ctx.settings.limits,
        stop_on_failure=stop_on_failure,
        stop_on_timeout=stop_on_timeout,
    )


async def execute(payload: ChainPayload, runtime: Runtime[AgentContext]) -> Command:
    """Run the candidate on the visible tests (feedback, selection). Hidden tests are not here: the task is its
    public view, and the run's scorer (``scoring.py``) runs them outside the graph."""
    ctx = runtime.context
    task, s = ctx.task, ctx.settings
    if payload.get("no_program"):
        return _no_program(payload, ctx)
    spec = None
    if s.needs_trace and payload["round"] < s.agent.resolved_depth:  # trace the first failing test in the same request
        spec = TraceSpec(
            max_failing=1,
            include_passing=_uses_passing(ctx.renderer),
            max_events=s.trace.max_events,
            max_value_len=s.trace.max_value_len,
        )
    # a looping program costs one timeout, not one per visible test (settings.agent.stop_on_timeout)
    request = _request(ctx, payload["code"], task.visible_tests, spec, stop_on_timeout=s.agent.stop_on_timeout)
    result = await ctx.exec_cache.run(ctx.sandbox_for(payload["round"]), request, ctx.stats)
    visible = _result_dict(result)
    first = result.first_failure
    failing = first.index if first is not None else None
    keep = s.keep_outcomes  # the record keeps detail for the failing visible test shown
    record = {
        "id": payload["id"],
        "chain": payload["chain"],
        "round": payload["round"],
        "parent": payload.get("parent"),
        "code": payload["code"],
        "raw": payload.get("raw", ""),
        "visible": compact(visible, {failing} if failing is not None else set(), keep),
        "usage": payload.get("usage", no_usage()),
        "prompt_digest": payload.get("prompt_digest", ""),
        "prompt": payload.get("prompt", []),
        "latency": payload.get("latency", 0.0),
        "note": payload.get("note", ""),
        "reasoning": payload.get("reasoning", ""),
    }
    nxt: ChainPayload = {
        **payload,
        "visible": visible,
        "failing": failing,
        "trace": None,
        "rendering": "",
        "critique": "",
        "prefetched": [t.to_dict() for t in result.traces],
    }
    route = routes.after_execute(nxt, ctx.settings)
    if route == "finish":
        return Command(update={"candidates": [record], "finished": [payload["chain"]]}, goto="finish")
    return Command(update={"candidates": [record]}, goto=Send(route, nxt))


def _no_program(payload: ChainPayload, ctx: AgentContext) -> Command:
    """A reply without a program (its reasoning never finished, or no answer): nothing runs; the candidate is
    recorded as failed (status ``no_program``, 0 passed, the reason in its note), and the chain, unless it is at
    its depth, asks the same request again next round (``refine``, ``asked_again``)."""
    p: dict[str, Any] = dict(payload)
    record = {
        "id": p["id"], "chain": p["chain"], "round": p["round"], "parent": p.get("parent"), "code": "",
        "raw": p.get("raw", ""), "visible": {"status": NO_PROGRAM, "message": p.get("note", "")},
        "usage": p.get("usage", no_usage()),
        "prompt_digest": p.get("prompt_digest", ""), "prompt": p.get("prompt", []), "latency": p.get("latency", 0.0),
        "note": p.get("note", ""), "reasoning": p.get("reasoning", ""),
    }
    nxt = {k: v for k, v in p.items() if k not in ("raw", "reasoning", "usage")}  # never carried on: never resent
    if routes.after_execute(nxt, ctx.settings) == "finish":  # type: ignore[arg-type]
        return Command(update={"candidates": [record], "finished": [p["chain"]]}, goto="finish")
    return Command(update={"candidates": [record]}, goto=Send("refine", nxt))


async def trace(payload: ChainPayload, runtime: Runtime[AgentContext]) -> Command:
    """The trace of the first failing visible test (and of a passing one when the representation declares
    ``uses_passing``): taken from the execution when it traced them, else by re-running just those tests under the
    tracer."""
    ctx = runtime.context
    s = ctx.settings
    failing = payload["failing"]
    assert failing is not None, "after_execute routes only a failing candidate here"
    indices = [failing]
    if _uses_passing(ctx.renderer):  # the representation also reads a passing visible test's run
        passing = next(
            (t["index"] for t in payload["visible"].get("tests") or [] if t.get("status") == "passed"), None
        )
        if passing is not None:
            indices.append(int(passing))
    by_test = {int(t["test_index"]): t for t in payload.get("prefetched") or []}
    status = {int(t["index"]): t.get("status") for t in payload["visible"].get("tests") or []}
    # a failing test that timed out did so under the tracer in the judged run: a re-run would only time out again
    wanted = [i for i in indices if not (i == failing and status.get(i) == "timeout")]
    if not all(i in by_test for i in wanted):
        # run only the tests to trace (a looping program then costs one timeout, not one per visible test)
        spec = TraceSpec(
            tests=tuple(range(len(wanted))), max_events=s.trace.max_events, max_value_len=s.trace.max_value_len
        )
        tests = tuple(ctx.task.visible_tests[i] for i in wanted)
        result = await ctx.exec_cache.run(
            ctx.sandbox_for(payload["round"]), _request(ctx, payload["code"], tests, spec), ctx.stats
        )
        by_test = {
            wanted[t.test_index]: {**t.to_dict(), "test_index": wanted[t.test_index]}
            for t in result.traces
            if 0 <= t.test_index < len(wanted)
        }
    trace_dict = by_test.get(failing)
    passing_trace = by_test.get(indices[1]) if len(indices) > 1 else None
    patch: dict[str, Any] = {"id": payload["id"], "trace": compact_trace(trace_dict, s.keep_outcomes)}
    if passing_trace is not None:
        patch["passing_trace"] = compact_trace(passing_trace, s.keep_outcomes)
    nxt = {k: v for k, v in payload.items() if k != "prefetched"}
    return Command(
        update={"candidates": [patch]},
        goto=Send("render", {**nxt, "trace": trace_dict, "passing_trace": passing_trace}),
    )


# ---------------------------------------------------------------- critique / refine (render: feedback.py)


def _attempt(payload: dict[str, Any]) -> prompts.Attempt:
    return prompts.Attempt(
        code=payload["code"],
        feedback=payload.get("feedback", ""),
        rendering=payload.get("rendering", ""),
        critique=payload.get("critique", ""),
    )


async def critique(payload: ChainPayload, runtime: Runtime[AgentContext]) -> Command:
    """Have the LLM explain the bug from the trace (no code); the explanation joins the refine prompt."""
    ctx = runtime.context
    task = ctx.task
    messages = prompts.critique_messages(task.prompt, task.entry_point, _attempt(payload))
    seed = ctx.settings.seed_for(task.task_id, "critique", payload["chain"], payload["round"])
    reasoning, note = "", ""
    try:
        completions, usage, _ = await ask(
            ctx, messages, n=1, seed=seed, round_=payload["round"], chain=payload["chain"], purpose="critique"
        )
        text, reasoning = completions[0].text.strip(), completions[0].reasoning  # the answer only
        if completions[0].reasoning_unfinished:
            note = f"critique: {UNFINISHED_REASONING}"
    except (ContextTooLong, BadResponse) as exc:
        ctx.stats.llm_errors += 1
        text, usage = "", no_usage(calls=1)
        log.warning("critique of %s/%s failed: %s", task.task_id, payload["id"], exc)
    nxt = {**payload, "critique": text}
    patch = {"id": payload["id"], "critique": text, "critique_usage": usage,
             "critique_prompt": prompt_messages(messages), "critique_reasoning": reasoning}
    if note:
        patch["note"] = "; ".join(n for n in (payload.get("note", ""), note) if n)
    return Command(update={"candidates": [patch]}, goto=Send(routes.repair_node(ctx.settings), nxt))


async def refine(payload: ChainPayload, runtime: Runtime[AgentContext]) -> Command:
    """Ask for a corrected program given this round (and, with history 'all', the earlier ones)."""
    ctx = runtime.context
    task, s = ctx.task, ctx.settings
    again = bool(payload.get("no_program"))  # the last reply had no program: the same request once more
    if again:
        messages = asked_again(payload)  # type: ignore[arg-type]
    else:
        history = [*attempts_of(payload), _attempt(payload)]
        messages = prompts.refine_messages(task.prompt, task.entry_point, history, s.agent.history)
    new_round = payload["round"] + 1
    seed = s.seed_for(task.task_id, "refine", payload["chain"], new_round)
    try:
        completions, used, latency = await ask(
            ctx, messages, n=1, seed=seed, round_=new_round, chain=payload["chain"], code=True
        )
        completion = completions[0]
    except (ContextTooLong, BadResponse) as exc:
        ctx.stats.llm_errors += 1
        note = f"refinement stopped: {type(exc).__name__}: {exc}"
        return Command(
            update={"candidates": [{"id": payload["id"], "note": note}], "finished": [payload["chain"]]},
            goto="finish",
        )
    keep = {
        "code": payload["code"],
        "feedback": payload.get("feedback", ""),
        "critique": payload.get("critique", ""),
        "rendering": "",
    }  # only the latest round's trace is shown; earlier ones keep code and feedback
    nxt: ChainPayload = {
        "chain": payload["chain"],
        "round": new_round,
        "id": candidate_id(payload["chain"], new_round),
        "parent": payload["id"],
        "attempts": [*payload.get("attempts", []), *([] if again else [keep])],
    }
    nxt.update(
        {
            **reply_fields(ctx, completion),  # type: ignore[typeddict-item]
            "prompt_digest": prompt_digest(messages),  # type: ignore
            "prompt": prompt_messages(messages),  # the very list ask sent
            "usage": used,
            "latency": latency,
        }
    )
    return Command(goto=Send("execute", nxt))


# ---------------------------------------------------------------- finish / select


def finish(state: AgentState) -> dict[str, Any]:
    """The join point of all chains; the route after it decides whether selection can run."""
    return {}


async def select(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The selector's pick among the chains' answers; a selector that reads hidden results (``needs_hidden``) is
    only recorded as deferred here: the orchestrator applies it after scoring (``scoring.run_scored``)."""
    ctx = runtime.context
    if needs_hidden(ctx.selector):
        name = getattr(ctx.selector, "name", type(ctx.selector).__name__)
        return {"selection": {"id": None, "selector": name, "deferred": True, "info": {}}}
    finals = final_candidates(state.get("candidates", []))
    selection = await ctx.selector.select(finals, ctx)
    return {"selection": selection}
