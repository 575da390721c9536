"""The run config's sections reach the components unchanged: ``limits`` (every ``sandbox.types.Limits`` field)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from semtrace.agents.build import build_components
from semtrace.agents.run import prepare_run_dir, run_tasks, settings_from
from semtrace.config import LimitsConfig, build_config
from semtrace.representations.base import make_renderer
from semtrace.sandbox.fake import FakeSandbox
from semtrace.sandbox.types import ExecRequest, ExecResult, Limits, TestOutcome


def passing(request: ExecRequest) -> ExecResult:
    return ExecResult(status="passed", tests=tuple(TestOutcome(index=i, status="passed")
                                                   for i in range(len(request.tests))))


def test_limits_section_has_every_limits_field_with_its_default():
    assert list(LimitsConfig.model_fields) == [f.name for f in dataclasses.fields(Limits)]
    assert LimitsConfig().to_limits() == Limits()


def test_limits_overrides_reach_settings_as_a_limits_object():
    cfg = build_config(None, None, ["limits.load_time=3", "limits.processes=8", "limits.value_bytes=1024",
                                    "limits.file_size_mb=2"])
    limits = settings_from(cfg, make_renderer(cfg.representation)).limits
    assert limits == Limits(load_time=3.0, processes=8, value_bytes=1024, file_size_mb=2)


async def test_limits_load_time_reaches_every_exec_request(tmp_path: Path, demo_rules: Path):
    cfg = build_config(None, {"model": f"scripted:{demo_rules}", "limit": 2, "display": False},
                       ["limits.load_time=3", "limits.wall_time=1.5"])
    sandbox = FakeSandbox(default=passing)
    comps = await build_components(cfg, sandbox=sandbox)
    prepare_run_dir(tmp_path / "run", cfg, resume=False)
    summary = await run_tasks(cfg, tmp_path / "run", comps)
    assert summary["errors"] == 0 and sandbox.requests
    assert {r.limits for r in sandbox.requests} == {Limits(wall_time=1.5, load_time=3.0)}
