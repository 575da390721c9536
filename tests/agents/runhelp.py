"""The run helper of the agent tests (a module, not the conftest: several test folders have a conftest, so
``from conftest import ...`` depends on which one was imported first)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


async def run_config(cfg: Any, run_dir: Path, *, llm: Any = None, tasks: Any = None) -> dict[str, Any]:
    """Run ``cfg`` into ``run_dir`` with the real components (local sandbox unless the config says otherwise)."""
    from semtrace.agents.build import build_components
    from semtrace.agents.run import prepare_run_dir, run_tasks

    comps = await build_components(cfg, tasks=tasks, llm=llm)
    prepare_run_dir(run_dir, cfg, resume=(run_dir / "config.yaml").is_file())
    try:
        return await run_tasks(cfg, run_dir, comps)
    finally:
        await comps.sandbox.close()


def records_by_task(run: Path) -> dict[str, dict[str, Any]]:
    """A run directory's records, by task id (the last line of a task wins)."""
    import json

    return {rec["task_id"]: rec for rec in map(json.loads, (run / "results.jsonl").read_text().splitlines())}


def comparable(rec: dict[str, Any]) -> dict[str, Any]:
    """A record as two runs of the same experiment must agree on it: without volatile fields (times, host), the
    schema version and the config digest (a resumed run of an older version has older ones)."""
    from semtrace.agents.metrics import stable_record

    return stable_record({k: v for k, v in rec.items() if k not in ("schema_version", "config_digest")})
