"""Reasoning in replies: inline tags split off the answer, when reasoning counts as unfinished, token estimates,
and the reasoning options every back end checks the same way.

Servers without a reasoning parser (llama.cpp, vLLM started without ``--reasoning-parser``, the scripted back end)
send a reasoning model's thoughts inline: ``<think>...</think>`` and then the answer. ``split_reasoning`` takes them
off (the tags are ``reasoning_tags``, default ``<think>``/``</think>``):

- a reply that starts (after white space) with the opening tag: the reasoning runs to the first closing tag, the
  answer is what follows; no closing tag at all means the budget ran out while thinking: ``unfinished``, the whole
  reply is reasoning and the answer is empty (never the draft inside the reasoning);
- a reply with only a closing tag outside any code fence (Qwen3 and DeepSeek-R1 templates put the opening tag in
  the prompt): everything before it is reasoning;
- tags anywhere else (inside a code fence of the answer, in prose) and replies with no tags are all answer;
- an empty opening tag (``["", "</think>"]``) says the template always opens the reasoning in the prompt (DeepSeek-R1
  distills): every reply starts inside it, so one without the closing tag is unfinished rather than an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from semtrace.llms.base import BadRequest, LLMConfigError, LLMError

DEFAULT_TAGS: tuple[str, str] = ("<think>", "</think>")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
THINKING_MIN_BUDGET = 1024  # Anthropic's smallest budget_tokens

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")


@dataclass(frozen=True)
class Split:
    """A reply taken apart: ``answer`` (what code is extracted from), ``reasoning``, and whether the reasoning
    never closed (``unfinished``: the answer is empty)."""

    answer: str
    reasoning: str = ""
    unfinished: bool = False


def _outside_fences(text: str, tag: str) -> int:
    """Offset of the first ``tag`` that is not inside a fenced code block; -1 when there is none."""
    fence: str | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        m = _FENCE.match(line)
        if fence is None:
            at = line.find(tag)
            if at >= 0 and (m is None or at < m.start(1)):
                return offset + at
            if m:
                fence = m.group(1)
        elif m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not line[m.end():].strip():
            fence = None
        offset += len(line)
    return -1


def split_reasoning(text: str, tags: tuple[str, str] | None = DEFAULT_TAGS) -> Split:
    """``text`` as answer and reasoning (see the module docstring); ``tags`` None: all answer."""
    if not tags or not text:
        return Split(text or "")
    opening, closing = tags
    body = text.lstrip()
    if body.startswith(opening):  # always, for an empty opening tag
        body = body[len(opening):]
        end = body.find(closing)
        if end < 0:
            return Split("", body.strip(), unfinished=True)
        return Split(body[end + len(closing):].lstrip(), body[:end].strip())
    end = _outside_fences(text, closing)
    if end >= 0 and opening not in text[:end]:
        return Split(text[end + len(closing):].lstrip(), text[:end].strip())
    return Split(text)


def join_reasoning(*texts: str) -> str:
    return "\n\n".join(t for t in (t.strip() for t in texts) if t)


def is_unfinished(finish_reason: str, answer: str, has_tool_calls: bool, reasoning: str,
                  reasoning_tokens: int = 0) -> bool:
    """The budget ran out while the model was still thinking: cut by ``max_tokens`` with reasoning (its text, or
    tokens a provider reports without showing them) and neither an answer nor a tool call."""
    return (finish_reason == "length" and not answer.strip() and not has_tool_calls
            and (bool(reasoning.strip()) or reasoning_tokens > 0))


def approx_tokens(text: str) -> int:
    """About 3.5 characters a token (the same estimate representations/ uses); no tokenizer needed."""
    return max(1, (len(text) * 2 + 6) // 7) if text else 0


def estimate_reasoning_tokens(completion_tokens: int, reasoning: str, answer: str) -> int:
    """The reasoning's share of ``completion_tokens`` by characters, for servers that do not report it."""
    if not reasoning or completion_tokens <= 0:
        return 0
    share = len(reasoning) / (len(reasoning) + len(answer))
    return min(completion_tokens, max(1, round(completion_tokens * share)))


# -- options ----------------------------------------------------------------------------------------------------
def _bad(name: str, what: str, value: Any) -> LLMConfigError:
    return LLMConfigError(f"llm.options.{name}: {what}, got {value!r}")


def check_tags(value: Any) -> tuple[str, str] | None:
    """``reasoning_tags``: two strings (a list, or ``"OPEN,CLOSE"``; OPEN may be empty: the prompt opened the
    reasoning); false/none/empty turns the split off."""
    if value is None or value is False or value == "" or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, str):
        value = value.split(",")
    if (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, str) for v in value)
            and value[1].strip() and value[0].strip() != value[1].strip()):
        return (value[0].strip(), value[1].strip())
    raise _bad("reasoning_tags", 'want two different tags, e.g. ["<think>", "</think>"] (["", "</think>"] when the '
               "prompt opens the reasoning; false keeps replies whole)", value)


def check_reasoning_effort(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value in REASONING_EFFORTS:
        return value
    raise _bad("reasoning_effort", f"want one of {', '.join(REASONING_EFFORTS)}", value)


def check_enable_thinking(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _bad("enable_thinking", "want true or false", value)


def check_thinking(value: Any) -> dict[str, Any] | None:
    """``thinking``: a budget in tokens (``2048``), the API's object (``{"type": "enabled", "budget_tokens": N}``,
    ``{"type": "adaptive"}``, ``{"type": "disabled"}``), or false/none for off. Returns the wire object or None."""
    if value is None or value is False:
        return None
    budget = value
    if isinstance(value, dict):
        kind = value.get("type")
        if kind in ("disabled", "adaptive") and len(value) == 1:
            return None if kind == "disabled" else {"type": "adaptive"}
        budget = value.get("budget_tokens") if kind == "enabled" and set(value) == {"type", "budget_tokens"} else None
    if isinstance(budget, int) and not isinstance(budget, bool) and budget >= THINKING_MIN_BUDGET:
        return {"type": "enabled", "budget_tokens": budget}
    raise _bad("thinking", f"want a budget of at least {THINKING_MIN_BUDGET} tokens (e.g. 4096), "
               '{"type": "enabled", "budget_tokens": N}, {"type": "adaptive"}, or false', value)


def check_max_tokens_param(value: Any) -> str:
    if value in ("auto", "max_tokens", "max_completion_tokens"):
        return str(value)
    raise _bad("max_tokens_param", "want auto, max_tokens or max_completion_tokens", value)


def check_budget(thinking: dict[str, Any] | None, max_tokens: int) -> None:
    """A thinking budget must leave room for the answer: ``max_tokens`` above ``budget_tokens``."""
    budget = (thinking or {}).get("budget_tokens")
    if budget is not None and max_tokens <= budget:
        raise LLMConfigError(f"llm.options.thinking: the budget ({budget} tokens) must be below llm.max_tokens "
                             f"({max_tokens}), which also holds the answer; raise llm.max_tokens or lower the budget")


_CHECKS = {"reasoning_tags": check_tags, "reasoning_effort": check_reasoning_effort,
           "enable_thinking": check_enable_thinking, "thinking": check_thinking,
           "max_tokens_param": check_max_tokens_param}


def check_options(options: dict[str, Any], max_tokens: int | None = None) -> None:
    """Every reasoning option in ``options`` well-formed (a run checks them when it reads its config)."""
    for name, check in _CHECKS.items():
        if name in options:
            check(options[name])
    if max_tokens is not None and "thinking" in options:
        check_budget(check_thinking(options["thinking"]), max_tokens)


def name_rejected_option(err: LLMError, sent: dict[str, tuple[Any, tuple[str, ...], str]]) -> LLMError:
    """A 400 about an option this back end sent, told as that option: ``sent`` maps an option's name (under
    ``llm.options`` unless dotted) to (its value, words of its wire form that a provider's message would quote, a hint or ""). Every request would be
    rejected alike, so the error is fatal: a run stops with this one line."""
    if not isinstance(err, BadRequest):
        return err
    text = err.message.lower()
    for name, (value, words, hint) in sent.items():
        if any(w in text for w in words):
            hint = hint or "this model or server does not take it; change or remove that option"
            key = name if "." in name else f"llm.options.{name}"
            err.message = f"{err.message} -- the server rejects {key}={value!r}: {hint}"
            err.fatal = True
            break
    return err


__all__ = ["DEFAULT_TAGS", "REASONING_EFFORTS", "Split", "approx_tokens", "check_budget", "check_enable_thinking",
           "check_max_tokens_param", "check_options", "check_reasoning_effort", "check_tags", "check_thinking",
           "estimate_reasoning_tokens", "is_unfinished", "join_reasoning", "name_rejected_option",
           "split_reasoning"]
