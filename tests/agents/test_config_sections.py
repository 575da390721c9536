"""The run config's sections reach the components unchanged: ``limits`` (every ``sandbox.types.Limits`` field);
removed knobs of older configs are dropped with a one-line hint; ``max_events`` has one default."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from semtrace.agents.build import build_components
from semtrace.agents.context import AgentSettings
from semtrace.agents.run import prepare_run_dir, run_tasks, settings_from
from semtrace.config import DEFAULT_MAX_EVENTS, LimitsConfig, build_config
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


def test_judge_rounds_of_an_old_config_is_dropped_with_a_one_line_hint(tmp_path: Path, caplog):
    old = tmp_path / "old.yaml"
    old.write_text("benchmark: demo\njudge_rounds: 3\n")
    with caplog.at_level(logging.WARNING, logger="semtrace.config"):
        cfg = build_config(old)
    hints = [r.getMessage() for r in caplog.records if "judge_rounds" in r.getMessage()]
    assert len(hints) == 1 and "\n" not in hints[0] and "delete it" in hints[0]
    assert "judge_rounds" not in cfg.dump() and not hasattr(AgentSettings(), "judge_rounds")


def test_max_events_has_one_default():
    from semtrace.sandbox.types import TraceSpec

    assert TraceSpec().max_events == DEFAULT_MAX_EVENTS
    cfg = build_config(None)
    assert cfg.max_events == AgentSettings().max_events == DEFAULT_MAX_EVENTS == 2000
    assert settings_from(cfg, make_renderer(cfg.representation)).max_events == DEFAULT_MAX_EVENTS
