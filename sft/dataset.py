"""The whole build: pairs -> checked fixes -> examples per representation -> dedup -> split -> files + stats.json."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from semtrace.representations.base import TokenCounter, approx_tokens, make_renderer
from semtrace.sandbox.base import Sandbox
from semtrace.sft import formats
from semtrace.sft.build import (
    BuildSettings,
    Dropped,
    Example,
    Pair,
    Runner,
    build_example,
    check_fix,
    dedup_key,
    split_of,
)
from semtrace.sft.outdir import STATS_FILE, replacing

log = logging.getLogger(__name__)

HIST_BIN = 256


@dataclass
class Built:
    examples: dict[str, list[Example]] = field(default_factory=dict)  # representation -> examples (deduped)
    dropped: list[Dropped] = field(default_factory=list)


async def build_examples(
    pairs: list[Pair],
    representations: list[str],
    sandbox: Sandbox,
    settings: BuildSettings,
    *,
    llm: Any = None,
    count: TokenCounter = approx_tokens,
    concurrency: int = 4,
) -> Built:
    """Every pair's example for every representation (or why not), in the order of the pairs."""
    renderers = {name: make_renderer(name) for name in representations}
    runner = Runner(sandbox)
    gate = asyncio.Semaphore(concurrency)
    out = Built({name: [] for name in representations})

    async def one(pair: Pair) -> list[Example | Dropped]:
        async with gate:
            why = await check_fix(runner, pair, settings)
            if why is not None:
                return [Dropped(pair.task_id, None, why, pair.ids)]
            return [await build_example(runner, pair, name, renderers[name], settings, llm=llm, count=count)
                    for name in representations]

    seen: dict[str, set[str]] = {name: set() for name in representations}
    for pair, items in zip(pairs, await asyncio.gather(*(one(p) for p in pairs))):
        key = dedup_key(pair)
        for item in items:
            if isinstance(item, Dropped):
                out.dropped.append(item)
            elif key in seen[item.representation]:
                out.dropped.append(Dropped(pair.task_id, item.representation,
                                           "duplicate of an earlier pair (same normalised programs)", pair.ids))
            else:
                seen[item.representation].add(key)
                out.examples[item.representation].append(item)
    return out


def histogram(tokens: list[int], width: int = HIST_BIN) -> dict[str, int]:
    bins = Counter(t // width for t in tokens)
    return {f"{b * width}-{(b + 1) * width - 1}": bins[b] for b in sorted(bins)}


def file_digest(paths: list[Path]) -> str:
    """sha256 over the written files (directories: every file below, in name order)."""
    h = hashlib.sha256()
    files: list[Path] = []
    for p in sorted(paths):
        files.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def write_dataset(
    built: Built,
    out: Path,
    *,
    fmt: str = "messages",
    split: float = 0.9,
    seed: int = 0,
    source: str = "",
    settings: BuildSettings | None = None,
    dropped_before: list[Dropped] | None = None,
    chains: str | None = None,
) -> dict[str, Any]:
    """Split by task id, write every representation in ``fmt``, and write ``stats.json``; the stats. ``out`` is
    new, empty or an earlier build, which is replaced whole once the new build is written (``outdir.py``)."""
    with replacing(out) as tmp:
        stats = _write(built, tmp, fmt=fmt, split=split, seed=seed, source=source, settings=settings,
                       dropped_before=dropped_before, chains=chains)
    return stats


def _write(built: Built, out: Path, *, fmt: str, split: float, seed: int, source: str,
           settings: BuildSettings | None, dropped_before: list[Dropped] | None,
           chains: str | None = None) -> dict[str, Any]:
    dropped = [*(dropped_before or []), *built.dropped]
    per_rep: dict[str, Any] = {}
    written: list[Path] = []
    for rep, examples in built.examples.items():
        splits: dict[str, list[Example]] = {s: [] for s in formats.SPLITS}
        for e in examples:
            splits[split_of(e.task_id, split, seed)].append(e)
        keep = bool(settings is not None and settings.keep_reasoning)
        written.extend(formats.write(fmt, out, rep, splits, reasoning=keep))
        per_rep[rep] = {
            "examples": len(examples),
            "train": len(splits["train"]),
            "test": len(splits["test"]),
            "tasks": len({e.task_id for e in examples}),
            "with_reasoning": sum(1 for e in examples if e.reasoning),
            "multi_turn": sum(1 for e in examples if e.dialogue is not None),
            "dropped": sum(1 for d in dropped if d.representation in (rep, None)),
            "tokens": {"max": max((e.tokens for e in examples), default=0),
                       "mean": round(sum(e.tokens for e in examples) / len(examples), 1) if examples else 0,
                       "histogram": histogram([e.tokens for e in examples])},
        }
    stats = {
        "source": source,
        "format": fmt,
        "split": split,
        "seed": seed,
        "settings": _settings_dict(settings),
        "representations": per_rep,
        **({"debug_chains": chains} if chains is not None else {}),  # a debug run: how its rounds were exported
        "dropped": [d.to_dict() for d in dropped],
        "dropped_reasons": dict(Counter(_reason_kind(d.reason) for d in dropped)),
        "files": sorted(str(p.relative_to(out)) for p in set(written)),
        "digest": file_digest(sorted(set(written))),
    }
    (out / STATS_FILE).write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return stats


def _reason_kind(reason: str) -> str:
    return reason.split(" (")[0].split(":")[0]


def _settings_dict(settings: BuildSettings | None) -> dict[str, Any]:
    if settings is None:
        return {}
    return {"trace_budget": settings.trace_budget, "max_events": settings.max_events,
            "max_value_len": settings.max_value_len, "history": settings.history,
            "max_tokens": settings.max_tokens, "limits": settings.limits.to_dict(),
            "reasoning": "keep" if settings.keep_reasoning else "drop"}


def with_flags(settings: BuildSettings, **flags: Any) -> BuildSettings:
    return replace(settings, **{k: v for k, v in flags.items() if v is not None})
