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

import logging
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import Command, Send
from semtrace.agents import tools
from semtrace.agents.context import AgentContext
from semtrace.agents.nodes import next_attempts
from semtrace.agents.record import Candidate
from semtrace.agents.replies import prompt_digest, prompt_messages
from semtrace.agents.state import Chain, as_chain, candidate_id
from semtrace.agents.transcript import ReasoningBlock, ToolStep, Transcript, Turn
from semtrace.llms.accounting import Spent, measure
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


def debug_prompt(ctx: AgentContext, chain: Chain, protocol: str) -> list[Message]:
    """The round's first messages: the refine prompt of the same history (code, feedback, the pushed trace), its
    start cue replaced by how to use the tools."""
    task, s = ctx.task, ctx.settings
    base = prompts.refine_messages(task.prompt, task.entry_point, [*chain.attempts, chain.attempt()], s.agent.history)
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


def _turn(completion: Completion, protocol: str, index: int, usage: Spent, latency: float) -> Turn:
    if protocol == "native":
        calls = [ToolStep(id=c.id or f"t{index}c{k}", name=c.name, arguments=c.arguments)
                 for k, c in enumerate(completion.tool_calls, 1)]
    else:
        calls = tools.text_calls(completion.text, index)
    blocks = tuple(ReasoningBlock(text=p.text, signature=p.signature, redacted=p.redacted)
                   for p in completion.reasoning_parts)
    return Turn(text=completion.text, reasoning=completion.reasoning, reasoning_parts=blocks, calls=tuple(calls),
                finish_reason=completion.finish_reason, usage=usage, latency=latency)


async def _ask(ctx: AgentContext, messages: list[Message], protocol: str, chain: Chain,
               turn: int) -> tuple[Completion, Spent, float]:
    s = ctx.settings
    new_round = chain.round + 1
    seed = s.seed_for(ctx.task.task_id, "debug", chain.chain, new_round, turn)
    stop = ([CODE_END] if protocol == "text" and s.llm.code_stop and not getattr(ctx.stats, "code_stop_off", False)
            else None)
    options: dict[str, Any] = {"tools": list(tools.TOOL_SPECS)} if protocol == "native" else {}
    with measure(ctx.llm, task_id=ctx.task.task_id, round=new_round, chain=chain.chain, purpose="debug") as used:
        completions = await ctx.llm_for(new_round).generate(
            messages, n=1, temperature=s.llm.temperature, max_tokens=s.llm.max_tokens, seed=seed, stop=stop,
            **options)
    ctx.stats.add_completions(completions)
    if not completions:
        raise BadResponse("the LLM returned no completion", provider=getattr(ctx.llm, "name", "llm"))
    return completions[0], used.spent, round(used.usage.latency if used.usage is not None else 0.0, 4)


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


async def debug(payload: Chain | dict[str, Any], runtime: Runtime[AgentContext]) -> Command:
    """One step of the round's tool loop: answer the next pending call, or ask the model for its next turn."""
    ctx = runtime.context
    s = ctx.settings
    chain = as_chain(payload)
    t = chain.debug or Transcript(protocol=protocol_of(ctx), budget=s.agent.tool_calls)  # type: ignore[arg-type]
    prompt = debug_prompt(ctx, chain, t.protocol)
    pending = t.pending
    if pending is not None:  # one tool observation: one step
        i, j = pending
        step = await tools.run_call(ctx, chain.round + 1, chain.candidate.code, t.turns[i].calls[j],
                                    chain.visible or {})
        t = t.replace_call(i, j, step)
        if t.used >= t.budget and t.pending is None:  # the budget's last call: say so with its observation
            text = f"{step.observation}\n{LAST_CALL}"
            t = t.replace_call(i, j, step.model_copy(update={"observation": text, "tokens": tools.approx_tokens(text)}))
        return Command(goto=Send("debug", chain.model_copy(update={"debug": t})))
    final = t.used >= t.budget  # the budget is spent: this reply must end the round
    try:
        completion, usage, latency = await _ask(ctx, t.messages(prompt), t.protocol, chain, len(t.turns) + 1)
    except (ContextTooLong, BadResponse) as exc:
        ctx.stats.llm_errors += 1
        t = t.model_copy(update={"end": "error", "reason": f"the round stopped: {type(exc).__name__}: {exc}"})
        return _end(chain, prompt, t, None)
    turn = _turn(completion, t.protocol, len(t.turns) + 1, usage, latency)
    code, how, ending = _submitted(ctx, turn)
    used_before = t.used
    turn = _mark(turn, t.budget, used_before, ends=code is not None or final, ending=ending)
    if code is None and not turn.calls:
        turn = turn.model_copy(update={"notice": NOTICE})
    t = t.model_copy(update={"turns": (*t.turns, turn)})
    if code is not None:
        return _end(chain, prompt, t.model_copy(update={"end": how}), code)
    if final:
        reason = (f"the tool budget ({t.budget} calls) ran out without a submit; the parent program is carried "
                  "forward")
        return _end(chain, prompt, t.model_copy(update={"end": "budget", "reason": reason}), None)
    return Command(goto=Send("debug", chain.model_copy(update={"debug": t})))


def _end(chain: Chain, prompt: list[Message], t: Transcript, code: str | None) -> Command:
    """The round's candidate, with its transcript, goes to ``observe`` as ``refine``'s does."""
    new_round = chain.round + 1
    last = t.turns[-1] if t.turns else Turn()
    cand = Candidate(
        id=candidate_id(chain.chain, new_round), chain=chain.chain, round=new_round, parent=chain.candidate.id,
        code=code if code is not None else chain.candidate.code, raw=last.text, note=t.reason,
        prompt_digest=prompt_digest(prompt), prompt=prompt_messages(prompt), usage=t.usage(), latency=t.latency,
        transcript=t,
    )
    return Command(goto=Send("observe", Chain(candidate=cand, attempts=next_attempts(chain))))
