"""``semtrace ablate``: run a grid of configs sharing one LLM (one cache) and one sandbox; one combined summary."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Any

from semtrace.agents.build import build_components, load_tasks, make_run_llm, make_run_sandbox
from semtrace.agents.display import live_progress
from semtrace.agents.run import CONFIG_FILE, Progress, RunError, load_run_config, prepare_run_dir, run_tasks
from semtrace.benchmarks.registry import get_benchmark
from semtrace.config import (
    ConfigError,
    RunConfig,
    canonical_key,
    parse_override,
    set_dotted,
    validate_config,
    with_benchmark_options,
)

log = logging.getLogger(__name__)

ABLATION_FILE = "ablation.json"


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``--grid key=v1,v2`` (repeatable) -> {key: [v1, v2]}."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, raw = parse_override(item)
        values = (
            raw if isinstance(raw, list) else [parse_override(f"{key}={v}")[1] for v in str(raw).split(",")]
        )
        if not values or any(v == "" for v in values):
            raise ConfigError(f"--grid '{item}' has an empty value; write e.g. --grid depth=0,1,3")
        if key in grid:
            raise ConfigError(f"--grid names '{key}' twice; give all its values in one --grid {key}=a,b")
        grid[key] = values
    if not grid:
        raise ConfigError("ablate needs at least one --grid key=v1,v2")
    return grid


def grid_points(base: RunConfig, grid: dict[str, list[Any]]) -> list[tuple[str, RunConfig]]:
    """Every combination as (name, config); the name is ``key=value,key=value`` (a directory name)."""
    points = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        data = base.dump()
        for k, v in zip(keys, values):
            set_dotted(data, canonical_key(k, v), v)
        named = {canonical_key(k) for k in keys}
        if named & {"agent.strategy", "agent.width", "agent.depth"}:
            for k in ("width", "depth"):
                if f"agent.{k}" not in named:
                    data["agent"][k] = None  # let the strategy preset fill it
        if "benchmark" in grid and "benchmark_options" not in grid:  # keep the options the point's benchmark takes
            takes = get_benchmark(str(data["benchmark"])).valid_options()
            data["benchmark_options"] = {k: v for k, v in data["benchmark_options"].items() if k in takes}
        name = ",".join(f"{k}={v}" for k, v in zip(keys, values)).replace("/", "_").replace("?", "_")
        points.append((name, with_benchmark_options(validate_config(data))))
    return points


async def run_grid(
    base: RunConfig, grid: dict[str, list[Any]], out_dir: Path, *, display: bool = False
) -> dict[str, Any]:
    """Run (or continue) every grid point into ``out_dir/<name>``; write ``out_dir/ablation.json``."""
    points = grid_points(base, grid)
    sandbox = await make_run_sandbox(base)  # no daemon for --sandbox docker: fail before creating anything
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        await sandbox.close()
        raise RunError(f"cannot create the ablation directory '{out_dir}': {exc.strerror or exc}; "
                       f"choose another --out") from None
    llms: dict[tuple[str, str], Any] = {}
    results: dict[str, Any] = {}
    try:
        task_cache: dict[tuple[Any, ...], Any] = {}
        for name, cfg in points:
            run_dir = out_dir / name
            resume = (run_dir / CONFIG_FILE).is_file()
            if resume and load_run_config(run_dir).dump() != cfg.dump():
                raise RunError(f"'{run_dir}' holds a different config; use another --out for a new grid")
            prepare_run_dir(run_dir, cfg, resume=resume)
            key = (cfg.llm.model, json.dumps(cfg.llm.options, sort_keys=True))
            if key not in llms:
                llms[key] = make_run_llm(cfg)
            tkey = (cfg.benchmark, json.dumps(cfg.benchmark_options, sort_keys=True), cfg.data_dir,
                    tuple(cfg.tasks or ()), cfg.limit)
            if tkey not in task_cache:
                task_cache[tkey] = load_tasks(cfg)
            comps = await build_components(cfg, tasks=task_cache[tkey], llm=llms[key], sandbox=sandbox)
            progress = Progress(total=len(comps.tasks))
            async with live_progress(progress, comps.llm, enabled=display, title=f"ablate {name}"):
                results[name] = await run_tasks(cfg, run_dir, comps, progress=progress)
    finally:
        await sandbox.close()
        for llm in llms.values():
            close = getattr(llm, "close", None)
            if close is not None:
                await close()
    combined = {"grid": grid, "base": base.dump(), "points": results}
    (out_dir / ABLATION_FILE).write_text(json.dumps(combined, indent=2))
    return combined
