"""Token, request, retry, cache and cost accounting, aggregated per task, per round and per run.

Callers mark what they are doing with a scope; every managed LLM call made inside it is attributed to it::

    acc = llm.accounting                      # or one Accounting shared by several LLMs
    with usage_scope(task_id="HumanEval/0", round=2, chain=1, purpose="generate"):
        await llm.generate(messages)
    acc.for_task("HumanEval/0"), acc.for_round(2), acc.select(purpose="render"), acc.total(), acc.snapshot()

A scope is (task, round, chain, purpose); ``purpose`` names why the call was made (``generate``, ``critique``,
``render``, ``select``, or anything a caller chooses) and carries no agent vocabulary of its own.

The scope is a ``contextvars.ContextVar`` so concurrent asyncio tasks keep their own scope.
Tokens (``prompt_tokens``, ``completion_tokens``) count every completion returned, cached or not (what the
experiment consumed, for "pass@1 against tokens" plots); ``billed_*`` tokens and ``cost`` count only fresh
provider calls (what this process paid). ``reasoning_tokens`` is the reasoning's share of ``completion_tokens``
and ``unfinished_reasoning`` counts the completions whose reasoning never finished (the budget ran out while
thinking: no answer); ``reasoning_warning`` turns a run's totals into the one warning a run prints about it.
Cost comes from a price table; an unknown model adds tokens only
(``cost`` stays None for it and ``unpriced_calls`` counts it) and never fails.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any

from pydantic import BaseModel, ConfigDict

Scope = tuple[str | None, int | None, int | None, str | None]  # (task, round, chain, purpose)
_SCOPE: contextvars.ContextVar[Scope] = contextvars.ContextVar("semtrace_llm_scope",
                                                               default=(None, None, None, None))


@contextmanager
def usage_scope(task_id: str | None = None, round: int | None = None, chain: int | None = None,
                purpose: str | None = None, *, task: str | None = None) -> Iterator[Scope]:
    """Attribute every LLM call made inside the block (in this context) to (task, round, chain, purpose)."""
    scope: Scope = (task if task is not None else task_id, round, chain, purpose)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


def current_scope() -> Scope:
    return _SCOPE.get()


class Price(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(frozen=True)
    input: float
    output: float


# Public list prices in USD per million tokens (input, output), as of late 2024; override in the run config.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(input=0.15, output=0.60),
    "gpt-4o": Price(input=2.50, output=10.00),
    "gpt-4-turbo": Price(input=10.00, output=30.00),
    "gpt-3.5-turbo": Price(input=0.50, output=1.50),
    "o1-mini": Price(input=3.00, output=12.00),
    "claude-3-5-sonnet": Price(input=3.00, output=15.00),
    "claude-3-5-haiku": Price(input=0.80, output=4.00),
    "claude-3-haiku": Price(input=0.25, output=1.25),
    "claude-3-opus": Price(input=15.00, output=75.00),
}


def find_price(model: str, prices: dict[str, Price]) -> Price | None:
    """Exact name first, then the longest table key that prefixes the model (dated snapshots)."""
    if model in prices:
        return prices[model]
    best = max((k for k in prices if model.startswith(k)), key=len, default=None)
    return prices[best] if best else None


@dataclass(frozen=True)
class UsageTotals:
    prompt_tokens: int = 0
    completion_tokens: int = 0  # reasoning included
    reasoning_tokens: int = 0   # the reasoning's share of completion_tokens
    billed_prompt_tokens: int = 0
    billed_completion_tokens: int = 0
    completions: int = 0
    unfinished_reasoning: int = 0  # completions cut by max_tokens inside the reasoning (no answer)
    calls: int = 0             # generate() calls (one per call, whatever n; cached or not)
    cache_hits: int = 0
    requests: int = 0          # calls sent to the provider, retries included
    retries: int = 0
    errors: int = 0            # calls that failed for good (after their retries)
    latency: float = 0.0       # seconds spent in provider calls
    retry_wait: float = 0.0    # seconds spent waiting between retries
    cost: float | None = None  # USD for the billed tokens; None when no call had a known price
    unpriced_calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: UsageTotals) -> UsageTotals:
        vals = {n: getattr(self, n) + getattr(other, n) for n in _SUMMED}
        a, b = self.cost, other.cost
        return UsageTotals(**vals, cost=None if a is None and b is None else (a or 0.0) + (b or 0.0))

    def __sub__(self, other: UsageTotals) -> UsageTotals:
        vals = {n: getattr(self, n) - getattr(other, n) for n in _SUMMED}
        return UsageTotals(**vals, cost=None if self.cost is None else self.cost - (other.cost or 0.0))

    @property
    def unfinished_share(self) -> float:
        """The share of completions whose reasoning did not finish within max_tokens (0 with none)."""
        return self.unfinished_reasoning / self.completions if self.completions else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total_tokens"] = self.total_tokens
        return d

    def brief(self) -> Spent:
        """The numbers a run's record keeps per LLM call site: tokens (reasoning's share too) and calls."""
        return Spent(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
                     reasoning_tokens=self.reasoning_tokens, calls=self.calls)


_SUMMED = tuple(f.name for f in fields(UsageTotals) if f.name != "cost")  # every field but cost adds plainly


class Spent(BaseModel):
    """What one call site used, as a run's record keeps it (a candidate's ``usage``, a critique's, a selector's):
    the ledger's totals for the site's scope (``UsageTotals.brief``), the one usage type records carry.
    ``completion_tokens`` includes ``reasoning_tokens`` (the reasoning's share)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Spent) -> Spent:
        return Spent(prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                     completion_tokens=self.completion_tokens + other.completion_tokens,
                     reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens, calls=self.calls + other.calls)


class Ledgered:
    """An LLM that keeps no ledger of its own (a plugin, a fake handed to the agent directly), given one: each
    ``generate`` call is recorded in ``accounting`` under the caller's scope as ``ManagedLLM`` records it (the
    completions' reported usage), so ``measure`` reads every LLM's usage the same way. Other attributes pass
    through."""

    def __init__(self, llm: Any) -> None:
        self._llm = llm
        self.accounting = Accounting()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    async def generate(self, messages: Any, **options: Any) -> Any:
        self.accounting.add(UsageTotals(calls=1))
        start = time.perf_counter()
        completions = await self._llm.generate(messages, **options)
        self.accounting.record_call(
            model=str(getattr(self._llm, "name", "llm")), free=True, requests=1, retries=0,
            latency=time.perf_counter() - start,
            retry_wait=0.0, completions=len(completions),
            prompt_tokens=sum(c.usage.prompt_tokens for c in completions),
            completion_tokens=sum(c.usage.completion_tokens for c in completions),
            reasoning_tokens=sum(getattr(c.usage, "reasoning_tokens", 0) for c in completions),
            unfinished_reasoning=sum(bool(getattr(c, "reasoning_unfinished", False)) for c in completions))
        return completions


def ledgered(llm: Any) -> Any:
    """``llm`` when it keeps a ledger (``accounting``, as every ``make_llm`` LLM does), else ``Ledgered(llm)``."""
    return llm if isinstance(getattr(llm, "accounting", None), Accounting) else Ledgered(llm)


def reasoning_warning(totals: UsageTotals) -> str | None:
    """The one warning a run prints when replies ran out of ``max_tokens`` inside their reasoning (None when none
    did): how many, their share, and what to change."""
    if not totals.unfinished_reasoning:
        return None
    return (f"{totals.unfinished_reasoning} of {totals.completions} replies ({totals.unfinished_share:.0%}) ran out "
            "of max_tokens inside the reasoning and have no answer (no program); raise llm.max_tokens or lower the "
            "reasoning budget (llm.options.reasoning_effort, llm.options.thinking, llm.options.enable_thinking)")


class Measured:
    """What the calls inside one ``measure`` block used (``usage`` is None when the LLM keeps no ledger: give it
    one with ``ledgered``)."""

    def __init__(self) -> None:
        self.usage: UsageTotals | None = None

    @property
    def spent(self) -> Spent:
        """``usage`` as a record keeps it; an LLM without a ledger here is a bug of the caller (no guessing)."""
        if self.usage is None:
            raise TypeError("measure() was given an LLM without a ledger; wrap it with accounting.ledgered()")
        return self.usage.brief()


@contextmanager
def measure(llm: Any, task_id: str | None = None, round: int | None = None, chain: int | None = None,
            purpose: str | None = None) -> Iterator[Measured]:
    """``usage_scope`` that also reads, from ``llm``'s ledger, exactly what the calls inside the block used (the
    scope's total after minus before, so an LLM shared by several runs is no problem)."""
    acc = getattr(llm, "accounting", None)
    key = (task_id, round, chain, purpose)
    before = acc.for_scope(*key) if isinstance(acc, Accounting) else None
    out = Measured()
    with usage_scope(task_id=task_id, round=round, chain=chain, purpose=purpose):
        try:
            yield out
        finally:
            if before is not None:
                out.usage = acc.for_scope(*key) - before


class Accounting:
    """Thread-safe usage ledger keyed by (task_id, round)."""

    def __init__(self, prices: dict[str, Price] | None = None) -> None:
        self.prices = dict(DEFAULT_PRICES if prices is None else prices)
        self._by_scope: dict[Scope, UsageTotals] = {}
        self._lock = threading.Lock()

    scope = staticmethod(usage_scope)

    def cost_of(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        price = find_price(model, self.prices)
        if price is None:
            return None
        return (prompt_tokens * price.input + completion_tokens * price.output) / 1_000_000

    def add(self, delta: UsageTotals, scope: Scope | None = None) -> None:
        key = current_scope() if scope is None else scope
        with self._lock:
            self._by_scope[key] = self._by_scope.get(key, UsageTotals()) + delta

    def record_call(self, *, model: str, prompt_tokens: int, completion_tokens: int, completions: int,
                    requests: int, retries: int, latency: float, retry_wait: float, failed: bool = False,
                    free: bool = False, scope: Scope | None = None, reasoning_tokens: int = 0,
                    unfinished_reasoning: int = 0) -> None:
        """One provider call (with its retries) that returned ``completions`` fresh samples, or failed.

        ``free`` marks local back ends (llama.cpp, scripted): cost 0 rather than unknown.
        """
        if failed:
            cost = None
        elif free:
            cost = 0.0
        else:
            cost = self.cost_of(model, prompt_tokens, completion_tokens)
        self.add(UsageTotals(
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, reasoning_tokens=reasoning_tokens,
            billed_prompt_tokens=prompt_tokens, billed_completion_tokens=completion_tokens,
            completions=completions, unfinished_reasoning=unfinished_reasoning, requests=requests, retries=retries, errors=int(failed),
            latency=latency, retry_wait=retry_wait, cost=cost,
            unpriced_calls=int(cost is None and not failed)), scope)

    def record_cache_hits(self, *, prompt_tokens: int, completion_tokens: int, hits: int,
                          scope: Scope | None = None, reasoning_tokens: int = 0,
                          unfinished_reasoning: int = 0) -> None:
        self.add(UsageTotals(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                             reasoning_tokens=reasoning_tokens, completions=hits,
                             unfinished_reasoning=unfinished_reasoning, cache_hits=hits), scope)

    def _sum(self, pred: Any) -> UsageTotals:
        with self._lock:
            items = list(self._by_scope.items())
        total = UsageTotals()
        for key, val in items:
            if pred(key):
                total = total + val
        return total

    def total(self) -> UsageTotals:
        return self._sum(lambda k: True)

    def for_task(self, task_id: str) -> UsageTotals:
        return self._sum(lambda k: k[0] == task_id)

    def for_round(self, round: int) -> UsageTotals:
        return self._sum(lambda k: k[1] == round)

    def for_scope(self, task_id: str | None, round: int | None, chain: int | None = None,
                  purpose: str | None = None) -> UsageTotals:
        with self._lock:
            return self._by_scope.get((task_id, round, chain, purpose), UsageTotals())

    def select(self, **filters: Any) -> UsageTotals:
        """The sum over scopes matching every given field (``task``, ``round``, ``chain``, ``purpose``)."""
        names = ("task", "round", "chain", "purpose")
        unknown = set(filters) - set(names)
        if unknown:
            raise TypeError(f"unknown scope field(s) {sorted(unknown)}; valid: {', '.join(names)}")
        want = [(names.index(k), v) for k, v in filters.items()]
        return self._sum(lambda key: all(key[i] == v for i, v in want))

    def by_task(self) -> dict[str | None, UsageTotals]:
        with self._lock:
            tasks = {k[0] for k in self._by_scope}
        return {t: self._sum(lambda k, t=t: k[0] == t) for t in tasks}

    def by_round(self) -> dict[int | None, UsageTotals]:
        with self._lock:
            rounds = {k[1] for k in self._by_scope}
        return {r: self._sum(lambda k, r=r: k[1] == r) for r in rounds}

    def snapshot(self) -> dict[str, Any]:
        """JSON-able: run total, per task, per round, and per (task, round)."""
        with self._lock:
            items = list(self._by_scope.items())
        return {
            "total": self.total().to_dict(),
            "by_task": {str(k): v.to_dict() for k, v in self.by_task().items()},
            "by_round": {str(k): v.to_dict() for k, v in self.by_round().items()},
            "by_scope": [{"task_id": k[0], "round": k[1], "chain": k[2], "purpose": k[3], **v.to_dict()}
                         for k, v in items],
        }


__all__ = ["DEFAULT_PRICES", "Accounting", "Ledgered", "Measured", "Price", "Spent", "UsageTotals", "current_scope",
           "find_price", "ledgered", "measure", "reasoning_warning", "usage_scope"]
