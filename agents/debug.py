"""The ``debug`` strategy's round: a tool loop in which the model pulls the runs and traces it wants.

Where ``refine`` sends one prompt and reads one program, ``debug`` sends the same repair prompt (with whatever
the run's representation pushes: nothing beyond the failing test for ``none``) plus the tools of
``agents/tools.py``, and loops: the model calls ``run_tests``, ``run`` or ``trace``, reads the observation, and
ends the round with ``submit`` (or a reply holding a program and no tool call), within ``agent.tool_calls`` calls.

**Each LLM call and each tool observation is one graph step.** The node handles one step and sends itself the next
(``Send("debug", payload)``) with the transcript so far in the payload, so LangGraph's checkpoint after every
step holds the loop's whole state: a run killed mid-round resumes at the step it stopped at, and no finished LLM
call or tool run is done twice. (The other design, replaying the loop from the round's start and relying on the
LLM cache and the exec cache to answer the same way, fails whenever a cache is off or cold: the scripted back end
is never cached, a user may run ``cache=false``, and the exec cache lives in memory and dies with the process.)
Replies are asked with a seed per (chain, round, turn), so a replayed step asks exactly what the lost one asked.

When the round ends the node sends the chain on to ``execute`` as ``refine`` does, with the candidate's
``transcript`` patched onto the candidate record: ``submit``/``answer`` give the new program; ``budget`` (the calls
ran out without one) and ``error`` (the LLM call failed: context too long, unreadable reply) carry the parent
program forward with the reason in the candidate's note.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from semtrace.agents import tools
from semtrace.agents.context import AgentContext
from semtrace.agents.state import ChainPayload, attempts_of, candidate_id
from semtrace.agents.transcript import ReasoningBlock, ToolStep, Transcript, Turn
from semtrace.llms.accounting import measure, usage_of
from semtrace.llms.base import BadResponse, Completion, ContextTooLong, Message
from semtrace.representations import prompts

log = logging.getLogger(__name__)

CODE_END = "\n```\n"  # the text protocol stops a reply at a closing fence: one block (a call or the program)
START_CUE = "now, given the correct program, you can start with\n```python\n"
DEBUG_INSTRUCTION = "Correct the provided BUGGY_PROGRAM."
NOTICE = ("Your reply held no tool call and no program. Call a tool, or answer with the corrected program in one "
          "```python block.")
LAST_CALL = "That was your last tool call: submit the corrected program now."
SPENT = "not run: the tool budget ({budget} calls) is spent; submit the corrected program now"


def protocol_of(ctx: AgentContext) -> str:
    """``native`` when the run's LLM declares tool calling (``supports_tools``), else the text protocol."""
    return "native" if getattr(ctx.llm, "supports_tools", False) else "text"


def debug_prompt(ctx: AgentContext, payload: ChainPayload, protocol: str) -> list[Message]:
    """The round's first messages: the refine prompt of the same history (code, feedback, the pushed trace), its
    start cue replaced by how to use the tools."""
    task, s = ctx.task, ctx.settings
    latest = prompts.Attempt(code=payload["code"], feedback=payload.get("feedback", ""),
                             rendering=payload.get("rendering", ""), critique=payload.get("critique", ""))
    base = prompts.refine_messages(task.prompt, task.entry_point, [*attempts_of(payload), latest], s.agent.history)
    system, user = base[0].text, base[-1].text
    if user.endswith(START_CUE):
        user = user[: -len(START_CUE)].rstrip()
    if user.startswith(prompts.REPAIR_INSTRUCTION):  # "output only the code" does not hold in a tool loop
        user = DEBUG_INSTRUCTION + user[len(prompts.REPAIR_INSTRUCTION):]
    example = tools.example_call(task.entry_point)
    how = (tools.TEXT_PROTOCOL if protocol == "text" else tools.NATIVE_NOTE).format(
        budget=s.agent.tool_calls, example=example, default=tools.DEFAULT_REPRESENTATION)
    return [Message("system", f"{system}\n\n{how}"),
            Message("user", f"{user}\n\nInvestigate the program with the tools, then submit the corrected program.")]


def _turn(completion: Completion, protocol: str, index: int, usage: dict[str, int], latency: float) -> Turn:
    if protocol == "native":
        calls = [ToolStep(id=c.id or f"t{index}c{k}", name=c.name, arguments=c.arguments)
                 for k, c in enumerate(completion.tool_calls, 1)]
    else:
        calls = tools.text_calls(completion.text, index)
    blocks = tuple(ReasoningBlock(text=p.text, signature=p.signature, redacted=p.redacted)
                   for p in completion.reasoning_parts)
    return Turn(text=completion.text, reasoning=completion.reasoning, reasoning_parts=blocks, calls=tuple(calls),
                finish_reason=completion.finish_reason, usage=usage, latency=latency)


async def _ask(ctx: AgentContext, messages: list[Message], protocol: str, payload: ChainPayload,
               turn: int) -> tuple[Completion, dict[str, int], float]:
    s = ctx.settings
    new_round = payload["round"] + 1
    seed = s.seed_for(ctx.task.task_id, "debug", payload["chain"], new_round, turn)
    stop = ([CODE_END] if protocol == "text" and s.llm.code_stop and not getattr(ctx.stats, "code_stop_off", False)
            else None)
    options: dict[str, Any] = {"tools": list(tools.TOOL_SPECS)} if protocol == "native" else {}
    start = time.perf_counter()
    with measure(ctx.llm, task_id=ctx.task.task_id, round=new_round, chain=payload["chain"], purpose="debug") as used:
        completions = await ctx.llm_for(new_round).generate(
            messages, n=1, temperature=s.llm.temperature, max_tokens=s.llm.max_tokens, seed=seed, stop=stop,
            **options)
    ctx.stats.add_completions(completions)
    if not completions:
        raise BadResponse("the LLM returned no completion", provider=getattr(ctx.llm, "name", "llm"))
    latency = used.usage.latency if used.usage is not None else time.perf_counter() - start
    return completions[0], (used.usage or usage_of(completions)).brief(), round(latency, 4)


def _submitted(ctx: AgentContext, turn: Turn) -> tuple[str | None, str, int]:
    """The program a turn ends the round with, how (``submit``, ``answer``) and the index of the ``submit`` call,
    or (None, "", -1)."""
    for k, call in enumerate(turn.calls):
        if call.name == "submit":
            try:
                args = tools.check_call(call)
            except tools.BadCall:
                continue  # a malformed submit is a malformed call: answered with its error
            return ctx.extract(args["code"], ctx.task.entry_point) or args["code"], "submit", k
    if not turn.calls:
        code = ctx.extract(turn.text, ctx.task.entry_point)
        if code is not None:
            return code, "answer", -1
    return None, "", -1


def _mark(turn: Turn, budget: int, used_before: int, ends: bool, ending: int) -> Turn:
    """Calls past the budget (or besides the one that ends the round) are answered at once, with the reason, never
    run."""
    calls, used = [], used_before
    for k, call in enumerate(turn.calls):
        if ends:
            if k == ending:  # the submit that ends the round
                calls.append(call.model_copy(update={"done": True}))
            else:
                calls.append(call.model_copy(update={"observation": "not run: the round ended", "error": True,
                                                     "done": True}))
            continue
        used += 1
        if used > budget:
            text = SPENT.format(budget=budget)
            calls.append(call.model_copy(update={"observation": text, "error": True, "done": True,
                                                 "tokens": tools.approx_tokens(text)}))
        else:
            calls.append(call)
    return turn.model_copy(update={"calls": tuple(calls)})


async def debug(payload: ChainPayload, runtime: Runtime[AgentContext]) -> Command:
    """One step of the round's tool loop: answer the next pending call, or ask the model for its next turn."""
    ctx = runtime.context
    s = ctx.settings
    loop = payload.get("debug")  # type: ignore[typeddict-item]
    t = Transcript.from_dict(loop) if loop else Transcript(protocol=protocol_of(ctx),  # type: ignore[arg-type]
                                                           budget=s.agent.tool_calls)
    prompt = debug_prompt(ctx, payload, t.protocol)
    pending = t.pending
    if pending is not None:  # one tool observation: one step
        i, j = pending
        step = await tools.run_call(ctx, payload["round"] + 1, payload["code"], t.turns[i].calls[j],
                                    payload.get("visible", {}))
        t = t.replace_call(i, j, step)
        if t.used >= t.budget and t.pending is None:  # the budget's last call: say so with its observation
            text = f"{step.observation}\n{LAST_CALL}"
            t = t.replace_call(i, j, step.model_copy(update={"observation": text, "tokens": tools.approx_tokens(text)}))
        return Command(goto=Send("debug", {**payload, "debug": t.to_dict()}))
    final = t.used >= t.budget  # the budget is spent: this reply must end the round
    try:
        completion, usage, latency = await _ask(ctx, t.messages(prompt), t.protocol, payload, len(t.turns) + 1)
    except (ContextTooLong, BadResponse) as exc:
        ctx.stats.llm_errors += 1
        t = t.model_copy(update={"end": "error", "reason": f"the round stopped: {type(exc).__name__}: {exc}"})
        return _end(ctx, payload, prompt, t, None)
    turn = _turn(completion, t.protocol, len(t.turns) + 1, usage, latency)
    code, how, ending = _submitted(ctx, turn)
    used_before = t.used
    turn = _mark(turn, t.budget, used_before, ends=code is not None or final, ending=ending)
    if code is None and not turn.calls:
        turn = turn.model_copy(update={"notice": NOTICE})
    t = t.model_copy(update={"turns": (*t.turns, turn)})
    if code is not None:
        return _end(ctx, payload, prompt, t.model_copy(update={"end": how}), code)
    if final:
        reason = (f"the tool budget ({t.budget} calls) ran out without a submit; the parent program is carried "
                  "forward")
        return _end(ctx, payload, prompt, t.model_copy(update={"end": "budget", "reason": reason}), None)
    return Command(goto=Send("debug", {**payload, "debug": t.to_dict()}))


def _end(ctx: AgentContext, payload: ChainPayload, prompt: list[Message], t: Transcript, code: str | None) -> Command:
    """The round's candidate goes to ``execute`` (``refine``'s payload), its transcript patched onto its record."""
    new_round = payload["round"] + 1
    keep = {"code": payload["code"], "feedback": payload.get("feedback", ""),
            "critique": payload.get("critique", ""), "rendering": ""}
    last = t.turns[-1] if t.turns else Turn()
    nxt: dict[str, Any] = {
        "chain": payload["chain"], "round": new_round, "id": candidate_id(payload["chain"], new_round),
        "parent": payload["id"], "code": code if code is not None else payload["code"],
        "attempts": [*payload.get("attempts", []), keep], "raw": last.text,
        "note": t.reason, "prompt_digest": prompt_digest(prompt), "prompt": prompt_messages(prompt),
        "usage": t.usage(), "latency": t.latency,
    }
    patch = {"id": nxt["id"], "transcript": t.to_dict()}
    return Command(update={"candidates": [patch]}, goto=Send("execute", nxt))


def prompt_messages(messages: list[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.text} for m in messages]


def prompt_digest(messages: list[Message]) -> str:
    blob = json.dumps([[m.role, m.text] for m in messages], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
