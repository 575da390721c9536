"""Renderer capabilities are declared, not guessed: the agent traces, adds a passing trace and calls an LLM because
a representation says so (plugins passed by dotted path prove it), its feedback is the ``none`` rendering of the
same view, and no renderer name appears in ``agents/``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from probe_renderers import RecordingSandbox
from rules import fenced, write_rules
from semtrace.agents.build import build_components
from semtrace.agents.run import prepare_run_dir, read_records, run_tasks
from semtrace.benchmarks.task import Task
from semtrace.config import build_config
from semtrace.representations import views
from semtrace.representations.base import RENDERERS, make_renderer
from semtrace.sandbox.types import ExecRequest, TestCase, TraceSpec

BUGGY = "def double(x):\n    if x > 2:\n        return x + 2\n    return x * 2\n"
VISIBLE = (
    TestCase(kind="call", func="double", args="5", expected="10"),  # fails: 7
    TestCase(kind="call", func="double", args="1", expected="2"),  # passes
)
TASK = Task(
    task_id="probe/0",
    kind="repair",
    prompt="Return twice x.",
    entry_point="double",
    starting_code=BUGGY,
    visible_tests=VISIBLE,
    hidden_tests=(TestCase(kind="call", func="double", args="7", expected="14"),),
    reference="def double(x):\n    return x * 2\n",
)
FEEDBACK = "Input: double(5)\nExpected output: 10\nActual output: 7"


async def run_probe(tmp_path: Path, representation: str) -> tuple[list[dict[str, Any]], RecordingSandbox]:
    """One sequential depth-1 repair run of TASK (the model never fixes it); the round-0 candidate is rendered."""
    rules = write_rules(
        tmp_path / "rules.jsonl",
        [
            {"when": "^EXPLAIN PROBE", "reply": "the branch x > 2 adds instead of doubling"},
            {"when": "The function to implement is `double`", "reply": fenced(BUGGY)},
        ],
    )
    cfg = build_config(
        None,
        {
            "benchmark": "demo",
            "strategy": "sequential",
            "depth": 1,
            "representation": representation,
            "model": f"scripted:{rules}",
            "sandbox": "local",
            "display": False,
        },
    )
    sandbox = RecordingSandbox(concurrency=2)
    run_dir = tmp_path / "run"
    try:
        comps = await build_components(cfg, tasks=[TASK], sandbox=sandbox)
        prepare_run_dir(run_dir, cfg, resume=False)
        await run_tasks(cfg, run_dir, comps)
    finally:
        await sandbox.close()
    (record,) = read_records(run_dir / "results.jsonl")
    return record["candidates"], sandbox


def traced(sandbox: RecordingSandbox) -> list[TraceSpec]:
    return [r.trace for r in sandbox.requests if r.trace is not None]


async def test_uses_passing_declared_by_a_plugin_gets_a_passing_trace(tmp_path: Path) -> None:
    candidates, sandbox = await run_probe(tmp_path, "probe_renderers:PassingProbe")
    assert candidates[0]["rendering"] == "PROBE failing=5 trace=True passing=1"
    assert candidates[0]["feedback"] == FEEDBACK
    assert traced(sandbox) and all(spec.include_passing for spec in traced(sandbox))


async def test_needs_trace_false_declared_by_a_plugin_runs_nothing_under_the_tracer(tmp_path: Path) -> None:
    candidates, sandbox = await run_probe(tmp_path, "probe_renderers:NoTraceProbe")
    assert candidates[0]["rendering"] == "PROBE failing=5 trace=False passing=None"
    assert candidates[0]["feedback"] == FEEDBACK
    assert sandbox.requests and not traced(sandbox)


async def test_undeclared_capabilities_take_the_defaults(tmp_path: Path) -> None:
    candidates, sandbox = await run_probe(tmp_path, "probe_renderers:DefaultProbe")
    assert candidates[0]["rendering"] == "PROBE failing=5 trace=True passing=None"
    assert traced(sandbox) and not any(spec.include_passing for spec in traced(sandbox))


async def test_needs_llm_declared_by_a_plugin_gets_the_runs_llm_and_its_usage(tmp_path: Path) -> None:
    candidates, _ = await run_probe(tmp_path, "probe_renderers:LLMProbe")
    assert candidates[0]["rendering"] == "LLM SAYS the branch x > 2 adds instead of doubling"
    usage = candidates[0].get("render_usage") or {}
    assert usage.get("calls") == 1 and usage.get("completion_tokens", 0) > 0, usage


async def test_feedback_is_the_none_rendering_of_the_same_view(tmp_path: Path) -> None:
    """The agent's feedback equals the ``none`` renderer on the view built by ``views.view_from_result``; with the
    ``none`` representation itself the prompt does not show it twice, and nothing is traced."""
    from semtrace.sandbox.local import LocalSandbox

    for representation in ("next", "none"):
        (tmp_path / representation).mkdir()
        candidates, sandbox = await run_probe(tmp_path / representation, representation)
        request = ExecRequest(code=BUGGY, tests=VISIBLE, entry_point="double", trace=TraceSpec())
        async with LocalSandbox(concurrency=1) as local:
            view = views.view_from_result(request, await local.run(request))
        none = make_renderer("none").render(view)
        assert candidates[0]["feedback"] == views.feedback(view) == none == FEEDBACK
        if representation == "none":
            assert candidates[0]["rendering"] == "" and not traced(sandbox)
        else:
            assert candidates[0]["rendering"] == make_renderer("next").render(view, budget=1024)


AGENTS = Path(__file__).resolve().parents[2] / "agents"


@pytest.mark.parametrize("name", sorted(RENDERERS.entries))
def test_no_renderer_name_appears_in_agents(name: str) -> None:
    """What the agent does depends on what a representation declares; the defaults naming one live in config.py."""
    quoted = re.compile(rf"""["']{re.escape(name)}["']""")
    bare = re.compile(rf"\b{re.escape(name)}\b") if "_" in name else None
    hits = []
    for path in sorted(AGENTS.rglob("*")):
        if path.suffix not in (".py", ".md"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if (path.suffix == ".py" and quoted.search(line)) or (bare is not None and bare.search(line)):
                hits.append(f"{path.name}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)
