"""Synthetic large runs for the perf scripts: a real small run of the bundled demo, then its records replicated.

``small_run`` runs the demo benchmark with the scripted model and the local sandbox (width and depth given; even
tasks fixed at round 1, odd ones never, so their chains run every round and carry prompts and rendered traces);
``replicate`` copies its records under new task ids into a run of N tasks with the same config (and summary).
Needs no benchmark data. Used by ``report_scale.py`` and ``viewer_scale.py``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path


def demo_rules(tmp: Path) -> Path:
    """Scripted replies: the reference for even demo tasks (fixed at round 1), the buggy program for odd ones."""
    from semtrace.benchmarks.demo import load

    rules = []
    for i, t in enumerate(load()):
        reply = t.reference if i % 2 == 0 else t.starting_code
        rules.append({"when": f"`{t.entry_point}`", "reply": f"```python\n{(reply or '').rstrip()}\n```"})
    path = tmp / "rules.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rules))
    return path


def small_run(tmp: Path, width: int, depth: int, representation: str | None = None) -> Path:
    """The demo run (hybrid strategy, temperature 0.7) into ``tmp/small``; ``representation`` None: the default."""
    from semtrace.agents.build import build_components
    from semtrace.agents.run import prepare_run_dir, run_tasks
    from semtrace.config import build_config

    flags = {"model": f"scripted:{demo_rules(tmp)}", "sandbox": "local", "strategy": "hybrid", "width": width,
             "depth": depth, "representation": representation, "display": False}
    cfg = build_config(flags=flags, overrides=["temperature=0.7"])
    run_dir = tmp / "small"

    async def go() -> None:
        comps = await build_components(cfg)
        prepare_run_dir(run_dir, cfg, resume=False)
        try:
            await run_tasks(cfg, run_dir, comps)
        finally:
            await comps.sandbox.close()

    asyncio.run(go())
    return run_dir


def replicate(small: Path, big: Path, tasks: int) -> tuple[int, int]:
    """``small``'s records in turn under new ids (``synthetic/<n>``) until ``tasks`` records, with its config and
    summary;
    (bytes of results.jsonl, candidates)."""
    records = [json.loads(line) for line in (small / "results.jsonl").read_text().splitlines() if line.strip()]
    big.mkdir(parents=True)
    shutil.copy(small / "config.yaml", big / "config.yaml")
    candidates = 0
    with (big / "results.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(tasks):
            rec = dict(records[i % len(records)])
            rec["task_id"] = f"synthetic/{i}"
            candidates += len(rec["candidates"])
            fh.write(json.dumps(rec) + "\n")
    if (small / "summary.json").is_file():
        summary = json.loads((small / "summary.json").read_text())
        summary.update(tasks=tasks, total_tasks=tasks, per_task={})
        (big / "summary.json").write_text(json.dumps(summary))
    return (big / "results.jsonl").stat().st_size, candidates
