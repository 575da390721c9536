"""Build a run's live components (tasks, LLM, sandbox, renderer, selector) from a RunConfig."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from semtrace.agents.run import Components, RunError
from semtrace.agents.selectors import make_selector
from semtrace.benchmarks.task import Task
from semtrace.config import RunConfig
from semtrace.representations.base import make_renderer
from semtrace.sandbox.base import SANDBOXES, Sandbox, SandboxUnavailable, make_sandbox

log = logging.getLogger(__name__)


def extract(text: str, entry_point: str) -> str | None:
    from semtrace.llms.extract import extract_code

    return extract_code(text, entry_point).code


def select_tasks(tasks: list[Task], cfg: RunConfig) -> list[Task]:
    if cfg.tasks:
        by_id = {t.task_id: t for t in tasks}
        unknown = [t for t in cfg.tasks if t not in by_id]
        if unknown:
            sample = ", ".join(list(by_id)[:5])
            raise RunError(
                f"unknown task id(s) {', '.join(unknown)} in benchmark '{cfg.benchmark}'; "
                f"ids look like: {sample}"
            )
        tasks = [by_id[t] for t in cfg.tasks]
    if cfg.limit is not None:
        tasks = tasks[: cfg.limit]
    if not tasks:
        raise RunError(f"no tasks selected from benchmark '{cfg.benchmark}'; check --tasks/--limit")
    return tasks


def load_tasks(cfg: RunConfig) -> list[Task]:
    from semtrace.benchmarks.registry import load_benchmark

    sandbox_name = cfg.sandbox.backend if cfg.sandbox.backend in ("local", "docker") else "local"
    tasks = load_benchmark(cfg.benchmark, cfg.data_dir, sandbox=sandbox_name, options=cfg.benchmark_options)
    return select_tasks(tasks, cfg)


DOCKER_HINT = (
    "start the Docker daemon (e.g. `sudo systemctl start docker`, or `make docker` in a semtrace checkout), "
    "check it with `semtrace sandbox check --backend docker`, or use --sandbox local"
)


def _docker_ready(options: dict[str, Any]) -> str | None:
    """None when a Docker daemon answers and the sandbox image is there; else the reason and the fix (blocking)."""
    from semtrace.sandbox.image import docker_client, resolve_image

    try:
        client = docker_client(timeout=10)
    except SandboxUnavailable as exc:
        cause = exc.__cause__
        if cause is None or isinstance(cause, ImportError):
            return str(exc)
        return f"no Docker daemon answers ({type(cause).__name__}: {cause}); {DOCKER_HINT}"
    try:
        resolve_image(client, options.get("image"), pull=bool(options.get("pull", True)))
    except SandboxUnavailable as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - the daemon answered the ping but not this: Docker is not usable
        return f"the Docker daemon failed to list images ({type(exc).__name__}: {exc}); {DOCKER_HINT}"
    return None


async def check_docker(cfg: RunConfig) -> None:
    """``--sandbox docker`` fails here, before a run directory exists, when Docker cannot run anything."""
    reason = await asyncio.to_thread(_docker_ready, cfg.sandbox.options)
    if reason is not None:
        raise SandboxUnavailable(f"--sandbox docker: {reason}")


async def make_run_sandbox(cfg: RunConfig) -> Sandbox:
    """``auto``: Docker when a daemon answers, else local with a one-line warning. ``docker`` never falls back
    (and fails at once, naming the fix, when no daemon answers)."""
    if cfg.sandbox.backend == "auto":
        reason = await asyncio.to_thread(_docker_ready, cfg.sandbox.options)
        if reason is None:
            return make_sandbox("docker", **cfg.sandbox.options)
        log.warning(
            "Docker sandbox unavailable (%s); using the local sandbox (weaker isolation: host processes "
            "with rlimits)",
            reason.split(";")[0],
        )
        local_options = {k: v for k, v in cfg.sandbox.options.items() if k == "concurrency"}
        return make_sandbox("local", **local_options)
    if cfg.sandbox.backend == "docker":
        await check_docker(cfg)
    return make_sandbox(cfg.sandbox.backend, **cfg.sandbox.options)


def make_run_llm(cfg: RunConfig, **extra: Any) -> Any:
    from semtrace.llms.registry import make_llm

    return make_llm(cfg.llm.model, **{**cfg.llm.options, **extra})


async def build_components(
    cfg: RunConfig, *, tasks: list[Task] | None = None, llm: Any = None, sandbox: Any = None
) -> Components:
    if sandbox is None and cfg.sandbox.backend not in ("auto", "local", "docker"):
        SANDBOXES.resolve_class(cfg.sandbox.backend)  # a dotted path must name a class: fail before loading anything
    if sandbox is None and cfg.sandbox.backend == "docker":
        await check_docker(cfg)  # before loading: calibrating a benchmark's time limits runs in this sandbox
    tasks = tasks if tasks is not None else load_tasks(cfg)
    if cfg.agent.resolved_width > 1 and cfg.llm.temperature == 0.0:
        log.warning(
            "width %d at temperature 0: a deterministic model gives every chain the same programs; "
            "set -o temperature=0.7 for diverse samples",
            cfg.agent.resolved_width,
        )
    renderer = make_renderer(cfg.trace.representation)
    selector = make_selector(cfg.agent.selector)
    llm = llm if llm is not None else make_run_llm(cfg)
    if sandbox is None and cfg.sandbox.backend == "docker":
        sandbox = make_sandbox("docker", **cfg.sandbox.options)  # checked above
    elif sandbox is None:
        sandbox = await make_run_sandbox(cfg)
    return Components(
        tasks=tasks, llm=llm, sandbox=sandbox, renderer=renderer, selector=selector, extract=extract
    )
