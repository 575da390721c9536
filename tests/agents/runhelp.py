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
