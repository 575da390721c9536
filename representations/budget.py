"""Fitting a rendering into a token budget: loop compression first, then head and tail cuts.

Renderers hand over a fixed head and tail (always kept) and the body as :class:`Item` s, each one whole step (a
value is never cut). Over budget, :func:`fit_items`

1. compresses loops: for each source line executed many times it keeps the first few and the last occurrences and
   replaces the rest by a marker ``... 37 more iterations of line 5 ...`` (tighter and tighter);
2. then keeps a head and a tail of the remaining body with a marker ``... 120 steps cut (lines 4-9) ...``.

Every cut is said in the text. The counter is the LLM back end's tokenizer when there is one, else
:func:`semtrace.representations.base.approx_tokens`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from semtrace.representations.base import TokenCounter

MIN_RUN = 3
LOOP_LEVELS: tuple[tuple[int, int], ...] = ((4, 2), (3, 1), (2, 1), (1, 1), (1, 0))


@dataclass(frozen=True)
class Item:
    """One whole body line of a rendering. ``line`` is its source line (None: not a loop step)."""

    text: str
    line: int | None = None


def _line_range(lines: set[int]) -> str:
    ordered = sorted(lines)
    if len(ordered) == 1:
        return f"line {ordered[0]}"
    if ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"lines {ordered[0]}-{ordered[-1]}"
    return "lines " + ", ".join(map(str, ordered))


def loop_marker(dropped: list[Item]) -> str:
    counts = Counter(i.line for i in dropped if i.line is not None)
    if not counts:
        return f"... {len(dropped)} more steps ..."
    iterations = max(counts.values())
    noun = "iteration" if iterations == 1 else "iterations"
    if len(counts) == 1:
        return f"... {iterations} more {noun} of {_line_range(set(counts))} ..."
    return f"... {iterations} more {noun} of {_line_range(set(counts))} ({len(dropped)} steps) ..."


def compress_loops(items: list[Item], first: int, last: int, indent: str = "") -> list[Item]:
    """Keep the first ``first`` and last ``last`` occurrences of every repeated line; mark the rest."""
    totals = Counter(i.line for i in items if i.line is not None)
    seen: Counter[int | None] = Counter()
    out: list[Item] = []
    run: list[Item] = []

    def close_run() -> None:
        if len(run) >= MIN_RUN:
            out.append(Item(indent + loop_marker(run), None))
        else:
            out.extend(run)  # a marker would not be shorter than what it replaces
        run.clear()

    for item in items:
        keep = True
        if item.line is not None and totals[item.line] > first + last:
            idx = seen[item.line]
            seen[item.line] += 1
            keep = idx < first or idx >= totals[item.line] - last
        if keep:
            close_run()
            out.append(item)
        else:
            run.append(item)
    close_run()
    return out


def _cut_marker(cut: list[Item]) -> str:
    lines = {i.line for i in cut if i.line is not None}
    where = f" ({_line_range(lines)})" if lines else ""
    return f"... {len(cut)} steps cut{where} to fit the budget ..."


def head_tail(items: list[Item], keep: int) -> list[Item]:
    if keep >= len(items):
        return items
    head = (keep + 1) // 2
    tail = keep - head
    cut = items[head : len(items) - tail]
    return items[:head] + [Item(_cut_marker(cut), None)] + (items[len(items) - tail :] if tail else [])


def _join(head: list[str], items: list[Item], tail: list[str]) -> str:
    return "\n".join([*head, *(i.text for i in items), *tail])


def fit_items(
    head: list[str], items: list[Item], tail: list[str], budget: int, count: TokenCounter, indent: str = ""
) -> str:
    """Join head, body and tail; compress loops, then cut the body's middle, until the text fits ``budget``."""
    text = _join(head, items, tail)
    if budget <= 0 or count(text) <= budget:
        return text
    body = items
    for first, last in LOOP_LEVELS:
        body = compress_loops(items, first, last, indent)
        text = _join(head, body, tail)
        if count(text) <= budget:
            return text
    lo, hi = 0, len(body)  # largest number of kept body items that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(_join(head, head_tail(body, mid), tail)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return _join(head, head_tail(body, lo), tail)


def clip_group(states: list[str], first: int = 2, last: int = 1, sep: str = "; ") -> str:
    """The paper's per-line clipping: more than ``first + last`` states -> first ones, ``...``, last ones.

    The ``(k)`` numbers around the ``...`` say how many states it stands for.
    """
    if first + last <= 0 or len(states) <= first + last:
        return sep.join(states)
    kept = states[:first] + ["..."] + (states[-last:] if last else [])
    return sep.join(kept)
