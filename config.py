"""The run configuration: one pydantic model, loaded from YAML (``-c CONFIG``) plus ``-o key=value`` overrides.

Precedence, lowest first: field defaults, the strategy preset (fills width/depth/selector that were not given),
the YAML file, command-line flags, ``-o`` overrides. The resolved config is written to the run directory, so a run
can always be reproduced (and resumed) from it alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from semtrace.sandbox.types import DEFAULT_MAX_EVENTS, Limits

Strategy = Literal["greedy", "sequential", "parallel", "hybrid"]

# strategy -> default width and depth, and which of them the strategy fixes
STRATEGY_PRESETS: dict[str, dict[str, Any]] = {
    "greedy": {"width": 1, "depth": 0, "fixed": ("width", "depth")},
    "sequential": {"width": 1, "depth": 2, "fixed": ()},
    "parallel": {"width": 4, "depth": 0, "fixed": ("depth",)},
    "hybrid": {"width": 4, "depth": 3, "fixed": ()},
}

log = logging.getLogger(__name__)



# keys of older configs that no longer exist -> the one-line hint; they never changed a result, so they are dropped
REMOVED_KEYS: dict[str, str] = {
    "judge_rounds": "config key 'judge_rounds' was removed (it never had an effect); delete it from the config",
}


class ConfigError(ValueError):
    """A bad configuration value; the message names the key and the fix."""


class LimitsConfig(BaseModel):
    """Every field of ``sandbox.types.Limits`` (same names, same defaults), validated; ``to_limits()`` hands the
    sandbox the ``Limits`` object itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    wall_time: float = Field(Limits.wall_time, gt=0)
    memory_mb: int = Field(Limits.memory_mb, gt=0)
    output_bytes: int = Field(Limits.output_bytes, gt=0)
    file_size_mb: int = Field(Limits.file_size_mb, gt=0)
    processes: int = Field(Limits.processes, gt=0)
    load_time: float = Field(Limits.load_time, gt=0)
    value_bytes: int = Field(Limits.value_bytes, gt=0)

    def to_limits(self) -> Limits:
        return Limits(**self.model_dump())


class RunConfig(BaseModel):
    """Everything that defines a run. Unknown keys are errors (a typo must not silently change an experiment)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    benchmark: str = "demo"
    # the loader's options (e.g. livecodebench's difficulty) and, for calibrated benchmarks, time_floor/time_factor
    # (each test's limit is max(time_floor, time_factor x the reference's runtime)); filled in when a run starts
    benchmark_options: dict[str, Any] = Field(default_factory=dict)
    data_dir: str | None = None
    limit: int | None = Field(None, ge=1)
    tasks: list[str] | None = None

    model: str = "llamacpp:default"
    llm_options: dict[str, Any] = Field(default_factory=dict)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=16)
    code_stop: bool = True  # stop code replies at the closing fence (saves the chatter after the program)
    seed: int = 0

    sandbox: str = "auto"
    sandbox_options: dict[str, Any] = Field(default_factory=dict)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)

    strategy: Strategy = "sequential"
    width: int | None = Field(None, ge=1)
    depth: int | None = Field(None, ge=0)
    stop_on_pass: bool = True
    stop_on_timeout: bool = True  # a visible run stops at its first timeout (false: run every visible test)
    representation: str = "next"
    trace_budget: int = Field(1024, ge=64)
    max_events: int = Field(DEFAULT_MAX_EVENTS, ge=10)
    max_value_len: int = Field(120, ge=10)
    critique: bool = False
    history: Literal["all", "last"] = "all"

    selector: str = "visible_rate"
    selector_inputs: int = Field(5, ge=1)

    task_concurrency: int | None = Field(None, ge=1)  # None: enough tasks in flight to keep the LLM busy
    keep_outcomes: Literal["compact", "all"] = "compact"  # per-test detail in results.jsonl (agents/record.py)
    out: str | None = None
    display: bool = True

    @field_validator("tasks", mode="before")
    @classmethod
    def _split_tasks(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [t.strip() for t in v.split(",")]
        if isinstance(v, (list, tuple)):
            v = [t.strip() if isinstance(t, str) else t for t in v]
            if not any(v):  # "", ",", [] or [""] would silently mean "every task"
                raise ValueError(
                    "names no task id; give ids separated by commas (e.g. --tasks demo/fib,demo/gcd), "
                    "or leave --tasks out to run every task"
                )
            v = [t for t in v if t != ""]
        return v

    @model_validator(mode="after")
    def _apply_strategy(self) -> RunConfig:
        preset = STRATEGY_PRESETS[self.strategy]
        for key in ("width", "depth"):
            given = getattr(self, key)
            if given is None:
                object.__setattr__(self, key, preset[key])
            elif key in preset["fixed"] and given != preset[key]:
                raise ValueError(
                    f"strategy '{self.strategy}' fixes {key}={preset[key]} (got {given}); "
                    f"use strategy 'hybrid' (or 'sequential'/'parallel') for other widths and depths"
                )
        return self

    @property
    def resolved_width(self) -> int:
        return int(self.width or 1)

    @property
    def resolved_depth(self) -> int:
        return int(self.depth or 0)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _absolute_file(text: str) -> str:
    """``text`` as an absolute path when it names an existing file or directory relative to the current one."""
    p = Path(text).expanduser()
    return str(p.resolve()) if not p.is_absolute() and p.exists() else text


def with_benchmark_options(cfg: RunConfig) -> RunConfig:
    """The config with the benchmark spec's ``?options`` moved into ``benchmark_options``, checked against what
    the benchmark takes, and the calibration timing filled in, so config.yaml records every value that changes
    results."""
    from semtrace.benchmarks.registry import (
        CALIBRATION_OPTIONS,
        TIME_FACTOR,
        TIME_FLOOR,
        get_benchmark,
        parse_benchmark_spec,
    )

    name, spec_options = parse_benchmark_spec(cfg.benchmark)
    bench = get_benchmark(name)
    options = bench.check_options({**spec_options, **cfg.benchmark_options})
    if bench.calibrates:
        defaults = dict(zip(CALIBRATION_OPTIONS, (TIME_FLOOR, TIME_FACTOR), strict=True))
        options = {**defaults, **options}
    return cfg.model_copy(update={"benchmark": name, "benchmark_options": options})


def with_absolute_paths(cfg: RunConfig) -> RunConfig:
    """The config with relative paths made absolute (``data_dir``, the file of ``scripted:``/``llamacpp:``
    specs), so the saved config resumes from any directory; the benchmark's options resolved (see
    ``with_benchmark_options``)."""
    cfg = with_benchmark_options(cfg)
    update: dict[str, Any] = {}
    if cfg.data_dir:
        update["data_dir"] = str(Path(cfg.data_dir).expanduser().resolve())
    provider, sep, rest = cfg.model.partition(":")
    if sep and provider in ("scripted", "llamacpp"):
        path, q, query = rest.partition("?")
        absolute = _absolute_file(path)
        if absolute != path:
            update["model"] = f"{provider}:{absolute}{q}{query}"
    return cfg.model_copy(update=update) if update else cfg


def parse_override(item: str) -> tuple[str, Any]:
    """``key=value`` -> (key, YAML-parsed value); dotted keys address nested fields (``limits.wall_time=2``)."""
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not key=value; write e.g. -o depth=3")
    key, _, raw = item.partition("=")
    key = key.strip()
    if not key:
        raise ConfigError(f"override '{item}' has an empty key; write e.g. -o depth=3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' not found; pass an existing YAML file to -c")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file '{p}' is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{p}' must hold a mapping of key: value")
    return data


def build_config(
    path: str | Path | None = None,
    flags: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """Merge base dict, YAML file, flags (None values ignored) and ``key=value`` overrides into a RunConfig."""
    data: dict[str, Any] = dict(base or {})
    if path is not None:
        data.update(load_yaml(path))
    for key, value in (flags or {}).items():
        if value is not None:
            data[key] = value
    for item in overrides or []:
        key, value = parse_override(item)
        _set_dotted(data, key, value)
    return validate_config(data)


def drop_removed_keys(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the keys of ``REMOVED_KEYS``, each dropped with its one-line hint (a warning)."""
    for key in [k for k in REMOVED_KEYS if k in data]:
        log.warning(REMOVED_KEYS[key])
    return {k: v for k, v in data.items() if k not in REMOVED_KEYS}


def validate_config(data: dict[str, Any]) -> RunConfig:
    data = drop_removed_keys(data)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "config"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            valid = ", ".join(sorted(RunConfig.model_fields))
            raise ConfigError(f"unknown config key '{loc}'; valid keys: {valid}") from None
        raise ConfigError(f"bad config value for '{loc}': {msg}") from None
