"""The run config's sections reach the components unchanged: ``limits`` (every ``sandbox.types.Limits`` field);
removed knobs of older configs are dropped with a one-line hint; ``max_events`` has one default."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from semtrace.agents.build import build_components
from semtrace.agents.run import prepare_run_dir, run_tasks, settings_from
from semtrace.agents.settings import AgentSettings
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
    limits = settings_from(cfg, make_renderer(cfg.trace.representation)).limits
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
    assert cfg.trace.max_events == AgentSettings().trace.max_events == DEFAULT_MAX_EVENTS == 2000
    assert settings_from(cfg, make_renderer(cfg.trace.representation)).trace.max_events == DEFAULT_MAX_EVENTS


# ------------------------------------------------------------------ sections owned by components (item 7)

SECTIONED = """\
benchmark: demo
seed: 3
llm: {model: "scripted:rules.jsonl", temperature: 0.5, max_tokens: 128, options: {batch: 2}}
sandbox: {backend: local, options: {concurrency: 2}}
limits: {wall_time: 2}
trace: {representation: concise, budget: 512, max_events: 100, max_value_len: 40}
agent: {strategy: hybrid, width: 2, depth: 1, critique: true, selector: first_pass}
"""

FLAT = """\
benchmark: demo
seed: 3
model: "scripted:rules.jsonl"
temperature: 0.5
max_tokens: 128
llm_options: {batch: 2}
sandbox: local
sandbox_options: {concurrency: 2}
limits: {wall_time: 2}
representation: concise
trace_budget: 512
max_events: 100
max_value_len: 40
strategy: hybrid
width: 2
depth: 1
critique: true
selector: first_pass
"""


def test_an_old_flat_config_reads_as_the_same_sections(tmp_path: Path):
    (tmp_path / "sectioned.yaml").write_text(SECTIONED)
    (tmp_path / "flat.yaml").write_text(FLAT)
    sectioned, flat = build_config(tmp_path / "sectioned.yaml"), build_config(tmp_path / "flat.yaml")
    assert sectioned == flat
    assert sectioned.agent.resolved_width == 2 and sectioned.trace.budget == 512
    assert sectioned.sandbox.backend == "local" and sectioned.sandbox.options == {"concurrency": 2}
    dumped = sectioned.dump()  # what config.yaml holds: the sections, no flat key
    assert set(dumped) >= {"llm", "sandbox", "limits", "trace", "agent"} and "model" not in dumped
    assert build_config(base=dumped) == sectioned  # a saved config reads back as itself


def test_layers_apply_in_order_whether_a_key_is_flat_or_dotted(tmp_path: Path):
    (tmp_path / "flat.yaml").write_text("depth: 2\n")
    (tmp_path / "sectioned.yaml").write_text("agent: {depth: 2}\nsandbox: {options: {concurrency: 1}}\n")
    assert build_config(tmp_path / "flat.yaml", None, ["agent.depth=3"]).agent.depth == 3
    assert build_config(tmp_path / "sectioned.yaml", None, ["depth=3"]).agent.depth == 3
    assert build_config(tmp_path / "sectioned.yaml", {"depth": 4}).agent.depth == 4
    cfg = build_config(tmp_path / "sectioned.yaml", {"sandbox": "local"}, ["sandbox_options.python=python3"])
    assert cfg.sandbox.backend == "local" and cfg.sandbox.options == {"concurrency": 1, "python": "python3"}


def test_settings_carry_the_sections_themselves():
    cfg = build_config(None, None, ["temperature=0.7", "max_events=50", "depth=1"])
    settings = settings_from(cfg, make_renderer(cfg.trace.representation))
    assert settings.agent is cfg.agent and settings.trace is cfg.trace and settings.llm is cfg.llm
    assert settings.llm.temperature == 0.7 and settings.trace.max_events == 50 and settings.agent.depth == 1
    assert AgentSettings.of(depth=1, max_events=50, temperature=0.7, needs_trace=False) == dataclasses.replace(
        settings, needs_trace=False)


def test_an_unknown_key_names_its_section_valid_keys_in_one_line():
    import pytest
    from semtrace.config import ConfigError

    with pytest.raises(ConfigError) as err:
        build_config(None, None, ["agent.dpeth=3"])
    assert "unknown config key 'agent.dpeth'" in str(err.value) and "agent.depth" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="unknown config key 'dpeth'.*depth"):
        build_config(None, None, ["dpeth=3"])


def test_sandbox_options_are_typed_by_the_back_end():
    import pytest
    from semtrace.config import ConfigError

    with pytest.raises(ConfigError, match="docker sandbox has no option 'imgae'; valid: .*image"):
        build_config(None, {"sandbox": "docker"}, ["sandbox_options.imgae=x"])
    with pytest.raises(ConfigError, match="local sandbox has no option 'image'"):
        build_config(None, {"sandbox": "local"}, ["sandbox.options.image=x"])
    with pytest.raises(ConfigError, match="sandbox option 'concurrency'"):
        build_config(None, {"sandbox": "local"}, ["sandbox.options.concurrency=0"])
    assert build_config(None, {"sandbox": "auto"}, ["sandbox.options.image=x"]).sandbox.options == {"image": "x"}
    # a plugin's options are its constructor's to check (reading a run's config never imports the plugin)
    assert build_config(None, {"sandbox": "mypkg.mod:MySandbox"}, ["sandbox.options.anything=1"]).sandbox.options


def test_ablation_grids_take_flat_and_dotted_keys():
    from semtrace.agents.ablate import grid_points, parse_grid

    base = build_config(None, {"benchmark": "demo"}, ["agent.depth=2"])
    points = grid_points(base, parse_grid(["trace.representation=none,concise", "strategy=greedy"]))
    assert [(c.trace.representation, c.agent.strategy, c.agent.depth) for _, c in points] == [
        ("none", "greedy", 0), ("concise", "greedy", 0)]


def test_reports_group_by_flat_knob_names():
    from semtrace.reports.tables import FLAT_NAMES

    flat = build_config(None, None, ["agent.depth=1", "sandbox=local"]).flat()
    assert flat["depth"] == 1 and flat["sandbox"] == "local" and flat["representation"] == "next"
    assert FLAT_NAMES["agent.depth"] == "depth"
