"""The graph's nodes. Each takes a chain payload (or the state) and returns a partial update plus where the chain
goes next (a ``Command``); none mutates its input. Dependencies come from ``runtime.context`` (AgentContext)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from semtrace.agents import routes
from semtrace.agents.context import AgentContext
from semtrace.agents.feedback import uses_passing as _uses_passing
from semtrace.agents.record import compact, compact_trace
from semtrace.agents.selectors import needs_hidden
from semtrace.agents.state import AgentState, ChainPayload, attempts_of, candidate_id, final_candidates
from semtrace.llms.accounting import measure, usage_of
from semtrace.llms.base import BadResponse, Completion, ContextTooLong, Message
from semtrace.representations import prompts
from semtrace.sandbox.types import ExecRequest, ExecResult, TraceSpec

log = logging.getLogger(__name__)


def prompt_digest(messages: list[Message]) -> str:
    blob = json.dumps([[m.role, m.content] for m in messages], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def prompt_messages(messages: list[Message]) -> list[dict[str, str]]:
    """The messages as the record keeps them (``record.PromptMessage``): role and content, in order."""
    return [{"role": m.role, "content": m.content} for m in messages]


CODE_END = "\n```\n"  # a closing fence on its own line: the program is complete, the rest is chatter


async def _ask(
    ctx: AgentContext,
    messages: list[Message],
    *,
    n: int,
    seed: int,
    round_: int,
    chain: int | None = None,
    purpose: str = "generate",
    code: bool = False,
) -> tuple[list[Completion], dict[str, int], float]:
    """The completions, what they used and the seconds the provider took, read from the LLM's ledger for this
    call's own scope (task, round, chain, purpose); from the completions and the clock for an LLM that keeps no
    ledger."""
    s = ctx.settings
    stop = [CODE_END] if code and s.llm.code_stop else None
    start = time.perf_counter()
    with measure(ctx.llm, task_id=ctx.task.task_id, round=round_, chain=chain, purpose=purpose) as used:
        completions = await ctx.llm_for(round_).generate(
            messages, n=n, temperature=s.llm.temperature, max_tokens=s.llm.max_tokens, seed=seed, stop=stop
        )
    ctx.stats.add_completions(completions)
    latency = used.usage.latency if used.usage is not None else time.perf_counter() - start
    return completions, (used.usage or usage_of(completions)).brief(), round(latency, 4)


def _code_from(ctx: AgentContext, text: str) -> tuple[str, str]:
    code = ctx.extract(text, ctx.task.entry_point)
    if code is None:
        return text, "no code block found; the raw reply was run as the program"
    return code, ""


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
    completions, used, latency = await _ask(
        ctx, messages, n=width, seed=ctx.settings.seed_for(task.task_id, "generate"), round_=0, code=True
    )
    if len(completions) < width:
        raise BadResponse(f"asked for {width} samples, got {len(completions)}", provider=ctx.llm.name)
    digest, sent = prompt_digest(messages), prompt_messages(messages)
    for chain, completion in enumerate(completions[:width]):
        code, note = _code_from(ctx, completion.text)
        sends.append(
            Send(
                "execute",
                {
                    "chain": chain,
                    "round": 0,
                    "id": candidate_id(chain, 0),
                    "parent": None,
                    "code": code,
                    "raw": completion.text,
                    "note": note,
                    "prompt_digest": digest,
                    "prompt": sent,
                    "attempts": [],
                    # the one call that produced every chain's sample is charged to chain 0
                    "usage": used if chain == 0 else {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0},
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
        "usage": payload.get("usage", {"prompt_tokens": 0, "completion_tokens": 0, "calls": 0}),
        "prompt_digest": payload.get("prompt_digest", ""),
        "prompt": payload.get("prompt", []),
        "latency": payload.get("latency", 0.0),
        "note": payload.get("note", ""),
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
    try:
        completions, usage, _ = await _ask(
            ctx, messages, n=1, seed=seed, round_=payload["round"], chain=payload["chain"], purpose="critique"
        )
        text = completions[0].text.strip()
    except (ContextTooLong, BadResponse) as exc:
        ctx.stats.llm_errors += 1
        text, usage = "", {"prompt_tokens": 0, "completion_tokens": 0, "calls": 1}
        log.warning("critique of %s/%s failed: %s", task.task_id, payload["id"], exc)
    nxt = {**payload, "critique": text}
    patch = {"id": payload["id"], "critique": text, "critique_usage": usage,
             "critique_prompt": prompt_messages(messages)}
    return Command(update={"candidates": [patch]}, goto=Send(routes.repair_node(ctx.settings), nxt))


async def refine(payload: ChainPayload, runtime: Runtime[AgentContext]) -> Command:
    """Ask for a corrected program given this round (and, with history 'all', the earlier ones)."""
    ctx = runtime.context
    task, s = ctx.task, ctx.settings
    history = [*attempts_of(payload), _attempt(payload)]
    messages = prompts.refine_messages(task.prompt, task.entry_point, history, s.agent.history)
    new_round = payload["round"] + 1
    seed = s.seed_for(task.task_id, "refine", payload["chain"], new_round)
    try:
        completions, used, latency = await _ask(
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
    code, note = _code_from(ctx, completion.text)
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
        "code": code,
        "attempts": [*payload.get("attempts", []), keep],
    }
    nxt.update(
        {
            "raw": completion.text,
            "note": note,
            "prompt_digest": prompt_digest(messages),  # type: ignore
            "prompt": prompt_messages(messages),  # the very list _ask sent
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
