"""``scripted:PATH`` — deterministic replies from a JSONL rule file, for tests and demos.

Each line of PATH is a rule ``{"when": "<regex>", "reply": "<text>" | ["<text>", ...]}``. The regex is
searched (``re.search``, DOTALL) in the last user message; the first matching rule wins. A list reply is
consumed in order, one item per completion, and its last item then repeats. No match raises
:class:`ScriptMismatch` naming the message's first line. Blank lines and lines starting with ``#`` are skipped.
Optional per-rule keys: ``"finish_reason"`` (default ``"stop"``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semtrace.llms.base import Completion, LLMConfigError, LLMError, Message, Usage

log = logging.getLogger(__name__)


def approx_tokens(text: str) -> int:
    """About 3.5 characters a token (the same estimate representations/ uses); no tokenizer needed."""
    return max(1, (len(text) * 2 + 6) // 7) if text else 0


class ScriptError(LLMConfigError):
    """The rule file is missing or malformed."""


class ScriptMismatch(LLMError):
    """No rule matches the conversation: the script does not cover this request."""


@dataclass(frozen=True)
class Rule:
    when: re.Pattern[str]
    replies: tuple[str, ...]
    finish_reason: str = "stop"


def load_rules(path: str | Path) -> list[Rule]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise ScriptError(f"scripted LLM: rule file '{p}' not found; pass scripted:PATH to an existing JSONL file")
    rules: list[Rule] = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            obj: Any = json.loads(line)
            pattern = re.compile(obj["when"], re.DOTALL)
            reply = obj["reply"]
        except (json.JSONDecodeError, KeyError, TypeError, re.error) as exc:
            raise ScriptError(f"{p}:{lineno}: bad rule ({exc}); each line must be "
                              '{"when": "<regex>", "reply": "<text>" or ["<text>", ...]}') from exc
        replies = (reply,) if isinstance(reply, str) else tuple(reply)
        if not replies or not all(isinstance(r, str) for r in replies):
            raise ScriptError(f"{p}:{lineno}: 'reply' must be a string or a non-empty list of strings")
        rules.append(Rule(pattern, replies, str(obj.get("finish_reason", "stop"))))
    if not rules:
        raise ScriptError(f"scripted LLM: rule file '{p}' has no rules")
    return rules


class ScriptedLLM:
    """Replies from rules; stateful (list replies are consumed), so its responses are never cached."""

    cacheable = False
    free = True
    native_n = True

    def __init__(self, model: str, **options: Any) -> None:
        if options:
            raise ScriptError(f"scripted LLM takes no options, got: {', '.join(sorted(options))}")
        self.model = model
        self.name = f"scripted:{model}"
        self.rules = load_rules(model)
        self._cursor = [0] * len(self.rules)
        self._lock = threading.Lock()
        self.calls = 0

    def _next_reply(self, rule_index: int) -> str:
        with self._lock:
            replies = self.rules[rule_index].replies
            i = self._cursor[rule_index]
            self._cursor[rule_index] = i + 1
        return replies[min(i, len(replies) - 1)]

    async def generate(self, messages: list[Message], *, n: int = 1, temperature: float = 0.0,
                       max_tokens: int = 1024, seed: int | None = None,
                       stop: list[str] | None = None) -> list[Completion]:
        self.calls += 1
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        for idx, rule in enumerate(self.rules):
            if rule.when.search(last_user):
                prompt_tokens = sum(approx_tokens(m.content) for m in messages)
                out = []
                for _ in range(n):
                    text = self._next_reply(idx)
                    out.append(Completion(text=text, finish_reason=rule.finish_reason,
                                          usage=Usage(prompt_tokens, approx_tokens(text)), model=self.model))
                return out
        first = last_user.strip().splitlines()[0] if last_user.strip() else "<empty>"
        raise ScriptMismatch(f"scripted LLM {self.model}: no rule matches the last user message "
                             f"starting {first[:120]!r}; add a rule whose 'when' regex matches it",
                             provider="scripted")
