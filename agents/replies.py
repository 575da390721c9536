"""What the nodes ask the LLM and read back: one call (``ask``: usage from the ledger, the code stop, turned off
for good once a reply shows reasoning), the program in a reply's answer (``_code_from``: never from the
reasoning; none when the reasoning did not finish), the request asked again after a reply without a program
(``asked_again``), and the prompt as a record keeps it (``prompt_messages``, ``prompt_digest``)."""

from __future__ import annotations

import hashlib
import json
import logging

from semtrace.agents.context import AgentContext
from semtrace.agents.record import NOT_RUN, Candidate, PromptMessage, not_run
from semtrace.agents.state import candidate_id
from semtrace.llms.accounting import Spent, measure
from semtrace.llms.base import UNFINISHED_REASONING, Completion, Message

log = logging.getLogger(__name__)


def prompt_digest(messages: list[Message]) -> str:
    blob = json.dumps([[m.role, m.text] for m in messages], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def prompt_messages(messages: list[Message]) -> tuple[PromptMessage, ...]:
    """The messages as the record keeps them: role and text, in order (the agent's prompts are text; a message of
    parts is kept by its text)."""
    return tuple(PromptMessage(role=m.role, content=m.text) for m in messages)


CODE_END = "\n```\n"  # a closing fence on its own line: the program is complete, the rest is chatter


async def ask(
    ctx: AgentContext,
    messages: list[Message],
    *,
    n: int,
    seed: int,
    round_: int,
    chain: int | None = None,
    purpose: str = "generate",
    code: bool = False,
) -> tuple[list[Completion], Spent, float]:
    """The completions, what they used and the seconds the provider took, read from the LLM's ledger for this
    call's own scope (task, round, chain, purpose)."""
    s = ctx.settings
    stop = [CODE_END] if code and s.llm.code_stop and not ctx.stats.code_stop_off else None
    with measure(ctx.llm, task_id=ctx.task.task_id, round=round_, chain=chain, purpose=purpose) as used:
        completions = await ctx.llm_for(round_).generate(
            messages, n=n, temperature=s.llm.temperature, max_tokens=s.llm.max_tokens, seed=seed, stop=stop
        )
        ctx.stats.add_completions(completions)
        cut = sum(_cut_by_stop(c) for c in completions) if stop else 0
        if cut:  # the closing fence of a code block inside the reasoning stopped it: ask again without the stop
            ctx.stats.stop_cut += cut
            _code_stop_off(ctx, "its stop sequence cut a reply inside its reasoning")
            completions = await ctx.llm_for(round_).generate(
                messages, n=n, temperature=s.llm.temperature, max_tokens=s.llm.max_tokens, seed=seed, stop=None
            )
            ctx.stats.add_completions(completions)
    if stop and any(c.reasoning for c in completions):
        _code_stop_off(ctx, "the model's replies carry reasoning")
    spent = used.spent
    return completions, spent, round(used.usage.latency if used.usage is not None else 0.0, 4)


def _cut_by_stop(c: Completion) -> bool:
    """A reply that ended inside its reasoning at a stop sequence (not at max_tokens): the code stop's doing."""
    return bool(getattr(c, "reasoning_unfinished", False)) and c.finish_reason == "stop"


def _code_stop_off(ctx: AgentContext, why: str) -> None:
    """``llm.code_stop`` off for the rest of the run: a reasoning model writes code blocks while it thinks, and a
    stop at their closing fence would end the reply before its answer."""
    if not ctx.stats.code_stop_off:
        ctx.stats.code_stop_off = True
        log.info("llm.code_stop is off for the rest of the run: %s", why)


NO_ANSWER = "the reply has no answer (only reasoning)"
ASKED_AGAIN = ("Your previous reply to this request gave no program: {reason}. Reason more briefly and answer "
               "with the complete program.")


def _code_from(ctx: AgentContext, completion: Completion) -> tuple[str | None, str]:
    """The program in a reply's answer (the reasoning split off), or None and why there is none: the reasoning
    never finished (``UNFINISHED_REASONING``, never a draft from the reasoning), or the answer is empty."""
    if getattr(completion, "reasoning_unfinished", False):
        return None, UNFINISHED_REASONING
    if not completion.text.strip():
        return None, NO_ANSWER if completion.reasoning else "the reply is empty"
    code = ctx.extract(completion.text, ctx.task.entry_point)
    if code is None:
        return completion.text, "no code block found; the raw reply was run as the program"
    return code, ""


def candidate(ctx: AgentContext, completion: Completion, *, chain: int, round_: int, parent: str | None,
              messages: list[Message], usage: Spent, latency: float) -> Candidate:
    """The candidate a reply wrote: its program ("" with status ``no_program`` when there is none, the reason in
    its note), the answer, the reasoning (recorded, never sent again), the request and what it used."""
    code, note = _code_from(ctx, completion)
    return Candidate(
        id=candidate_id(chain, round_), chain=chain, round=round_, parent=parent, code=code or "", raw=completion.text,
        note=note, reasoning=completion.reasoning, usage=usage, latency=latency, prompt=prompt_messages(messages),
        prompt_digest=prompt_digest(messages),
        visible=not_run(note) if code is None else NOT_RUN,
    )


def asked_again(cand: Candidate) -> list[Message]:
    """The request that produced a candidate without a program, once more, its last user message saying why."""
    sent = [Message(m.role, m.content) for m in cand.prompt]
    note = ASKED_AGAIN.format(reason=cand.note or UNFINISHED_REASONING)
    last = max((i for i, m in enumerate(sent) if m.role == "user"), default=None)
    if last is None:
        return [*sent, Message("user", note)]
    if not sent[last].text.endswith(note):
        sent[last] = Message("user", f"{sent[last].text}\n\n{note}")
    return sent
