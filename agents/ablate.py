"""``semtrace ablate``: run a grid of configs sharing one LLM (one cache) and one sandbox; one combined summary."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from semtrace.agents.build import build_components, load_tasks, make_run_llm, make_run_sandbox
from semtrace.agents.display import live_progress
from semtrace.agents.run import CONFIG_FILE, Progress, RunError, load_run_config, prepare_run_dir, run_tasks
from semtrace.agents.selectors import make_selector
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
from semtrace.representations.base import make_renderer
from semtrace.sandbox.base import SANDBOXES

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


def grid_points(base: RunConfig, grid: dict[str, list[Any]], keep: frozenset[str] = frozenset()
                ) -> list[tuple[str, RunConfig]]:
    """Every combination as (name, config); the name is ``key=value,key=value`` (a directory name). A point whose
    config is invalid fails here with one line naming the point. A strategy axis lets each point's preset fill
    width and depth, except those in ``keep`` (given for every point: ``--depth 1``, ``-o width=2``)."""
    points = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        name = ",".join(f"{k}={v}" for k, v in zip(keys, values)).replace("/", "_").replace("?", "_")
        with _point(name):
            data = base.dump()
            for k, v in zip(keys, values):
                set_dotted(data, canonical_key(k, v), v)
            named = {canonical_key(k) for k in keys}
            if named & {"agent.strategy", "agent.width", "agent.depth"}:
                for k in ("width", "depth"):
                    if f"agent.{k}" not in named and k not in keep:
                        data["agent"][k] = None  # let the strategy preset fill it
            if "benchmark" in grid and "benchmark_options" not in grid:  # keep the options the point's benchmark takes
                takes = get_benchmark(str(data["benchmark"])).valid_options()
                data["benchmark_options"] = {k: v for k, v in data["benchmark_options"].items() if k in takes}
            points.append((name, with_benchmark_options(validate_config(data))))
    return points


@contextlib.contextmanager
def _point(name: str) -> Iterator[None]:
    """A user error while checking one grid point becomes one line naming the point."""
    from semtrace.agents.guard import user_errors

    try:
        yield
    except user_errors() as exc:
        raise ConfigError(f"grid point '{name}': {exc} (no point was run)") from None


def check_points(points: list[tuple[str, RunConfig]]) -> None:
    """The registry names every point uses (representation, selector, sandbox, model) resolve, so a bad value
    fails before any point runs."""
    from semtrace.llms.registry import parse_spec, resolve_backend

    for name, cfg in points:
        with _point(name):
            make_renderer(cfg.trace.representation)
            make_selector(cfg.agent.selector)
            if cfg.sandbox.backend not in ("auto", "local", "docker"):
                SANDBOXES.resolve_class(cfg.sandbox.backend)
            resolve_backend(parse_spec(cfg.llm.model)[0])


def check_out_dir(out_dir: Path, points: list[tuple[str, RunConfig]]) -> None:
    """``out_dir`` is new, empty, or an earlier ablation of the same grid (each existing point directory holds
    that point's config), checked before any point runs."""
    if out_dir.exists() and not out_dir.is_dir():
        raise RunError(f"--out '{out_dir}' is a file, not a directory; choose another --out")
    for name, cfg in points:
        run_dir = out_dir / name
        if (run_dir / CONFIG_FILE).is_file():
            if load_run_config(run_dir).dump() != cfg.dump():
                raise RunError(f"'{run_dir}' holds a different config; use another --out for a new grid")
        elif run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise RunError(f"'{run_dir}' is in the way of grid point '{name}' (not an earlier run of it); "
                           f"move it away or use another --out")
    names = {name for name, _ in points} | {ABLATION_FILE}
    if out_dir.is_dir():
        others = sorted(p.name for p in out_dir.iterdir() if p.name not in names)
        if others and not (out_dir / ABLATION_FILE).is_file():
            raise RunError(f"--out '{out_dir}' is not empty and holds no ablation of this grid ({others[0]} is "
                           f"there); choose a new or empty --out")


async def _close_all(sandboxes: dict[str, Any], llms: dict[tuple[str, str], Any]) -> None:
    for sandbox in sandboxes.values():
        await sandbox.close()
    for llm in llms.values():
        close = getattr(llm, "close", None)
        if close is not None:
            await close()


def _sandbox_key(cfg: RunConfig) -> str:
    return json.dumps(cfg.sandbox.model_dump(mode="json"), sort_keys=True)


def _llm_key(cfg: RunConfig) -> tuple[str, str]:
    return cfg.llm.model, json.dumps(cfg.llm.options, sort_keys=True)


def _tasks_key(cfg: RunConfig) -> tuple[Any, ...]:
    return (cfg.benchmark, json.dumps(cfg.benchmark_options, sort_keys=True), cfg.data_dir, tuple(cfg.tasks or ()),
            cfg.limit)


async def run_grid(
    base: RunConfig, grid: dict[str, list[Any]], out_dir: Path, *, display: bool = False,
    keep: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Run (or continue) every grid point into ``out_dir/<name>``; write ``out_dir/ablation.json``.

    Every point is checked first (its config, registry names, sandbox, LLM and tasks), and ``out_dir`` too;
    nothing is written until all of them pass."""
    points = grid_points(base, grid, keep)
    check_points(points)
    check_out_dir(out_dir, points)
    sandboxes: dict[str, Any] = {}  # one per distinct sandbox section (a grid may vary it)
    llms: dict[tuple[str, str], Any] = {}  # one per model and options: they share one response cache
    task_cache: dict[tuple[Any, ...], Any] = {}
    results: dict[str, Any] = {}
    try:
        for name, cfg in points:
            with _point(name):
                if _sandbox_key(cfg) not in sandboxes:  # no daemon for --sandbox docker: fail before writing
                    sandboxes[_sandbox_key(cfg)] = await make_run_sandbox(cfg)
                if _llm_key(cfg) not in llms:
                    llms[_llm_key(cfg)] = make_run_llm(cfg)
                if _tasks_key(cfg) not in task_cache:  # bad option values and task ids fail here
                    task_cache[_tasks_key(cfg)] = load_tasks(cfg)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"cannot create the ablation directory '{out_dir}': {exc.strerror or exc}; "
                           f"choose another --out") from None
        for name, cfg in points:
            run_dir = out_dir / name
            prepare_run_dir(run_dir, cfg, resume=(run_dir / CONFIG_FILE).is_file())
            comps = await build_components(cfg, tasks=task_cache[_tasks_key(cfg)], llm=llms[_llm_key(cfg)],
                                           sandbox=sandboxes[_sandbox_key(cfg)])
            progress = Progress(total=len(comps.tasks))
            async with live_progress(progress, comps.llm, enabled=display, title=f"ablate {name}"):
                results[name] = await run_tasks(cfg, run_dir, comps, progress=progress)
    finally:
        await _close_all(sandboxes, llms)
    combined = {"grid": grid, "base": base.dump(), "points": results}
    (out_dir / ABLATION_FILE).write_text(json.dumps(combined, indent=2))
    return combined
