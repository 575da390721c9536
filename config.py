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
from semtrace.agents.config import STRATEGY_PRESETS, AgentSection, Strategy
from semtrace.llms.config import LLMSection
from semtrace.representations.config import TraceSection
from semtrace.sandbox.config import LimitsConfig, SandboxSection
from semtrace.sandbox.types import DEFAULT_MAX_EVENTS

__all__ = ["DEFAULT_MAX_EVENTS", "FLAT_KEYS", "STRATEGY_PRESETS", "AgentSection", "ConfigError", "LLMSection",
           "LimitsConfig", "RunConfig", "SandboxSection", "Strategy", "TraceSection", "build_config",
           "validate_config"]

log = logging.getLogger(__name__)

# keys of older configs that no longer exist -> the one-line hint; they never changed a result, so they are dropped
REMOVED_KEYS: dict[str, str] = {
    "judge_rounds": "config key 'judge_rounds' was removed (it never had an effect); delete it from the config",
}

# the flat keys of older configs (and of the command line's flags and -o overrides) -> their place in a section.
# They keep working everywhere a config is read; a flat key given beside its section's key wins (it is the more
# specific: a flag, or an ablation grid's value over its base config).
FLAT_KEYS: dict[str, str] = {
    "model": "llm.model",
    "llm_options": "llm.options",
    "temperature": "llm.temperature",
    "max_tokens": "llm.max_tokens",
    "code_stop": "llm.code_stop",
    "sandbox_options": "sandbox.options",
    "representation": "trace.representation",
    "trace_budget": "trace.budget",
    "max_events": "trace.max_events",
    "max_value_len": "trace.max_value_len",
    **{k: f"agent.{k}" for k in ("strategy", "width", "depth", "stop_on_pass", "stop_on_timeout", "critique",
                                 "history", "selector", "selector_inputs", "tool_calls")},
}
SECTIONS = ("llm", "sandbox", "limits", "trace", "agent")


class ConfigError(ValueError):
    """A bad configuration value; the message names the key and the fix."""


def canonical_key(key: str, value: Any = None) -> str:
    """A config key in its sectioned, dotted form: ``depth`` -> ``agent.depth``, ``sandbox_options.image`` ->
    ``sandbox.options.image``, ``sandbox`` with a back end name -> ``sandbox.backend``; others unchanged."""
    head, dot, rest = key.partition(".")
    if head in FLAT_KEYS:
        return FLAT_KEYS[head] + dot + rest
    if key == "sandbox" and not isinstance(value, dict | BaseModel):
        return "sandbox.backend"
    return key


def nested(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every flat key moved into its section (sections first, then the flat keys over them)."""
    out: dict[str, Any] = {}
    flat = []
    for key, value in data.items():
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if canonical_key(key, value) != key:
            flat.append((canonical_key(key, value), value))
        else:
            merge_into(out, {key: value})
    for key, value in flat:
        set_dotted(out, key, value)
    return out


def merge_into(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``extra`` into ``base`` (mappings merge key by key; anything else replaces)."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = merge_into(dict(base[key]), value)
        else:
            base[key] = value
    return base


class RunConfig(BaseModel):
    """Everything that defines a run: the tasks at the top, then one section per component (``llm``, ``sandbox``,
    ``limits``, ``trace``, ``agent``), each the component's own model, handed to it whole. Unknown keys are errors
    (a typo must not silently change an experiment); the flat keys of older configs are read (``FLAT_KEYS``)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    benchmark: str = "demo"
    # the loader's options (e.g. livecodebench's difficulty) and, for calibrated benchmarks, time_floor/time_factor
    # (each test's limit is max(time_floor, time_factor x the reference's runtime)); filled in when a run starts
    benchmark_options: dict[str, Any] = Field(default_factory=dict)
    data_dir: str | None = None
    limit: int | None = Field(None, ge=1)
    tasks: list[str] | None = None
    seed: int = 0  # the run's seed: every LLM call's seed derives from it (AgentSettings.seed_for)

    llm: LLMSection = Field(default_factory=LLMSection)
    sandbox: SandboxSection = Field(default_factory=SandboxSection)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    trace: TraceSection = Field(default_factory=TraceSection)
    agent: AgentSection = Field(default_factory=AgentSection)

    task_concurrency: int | None = Field(None, ge=1)  # None: enough tasks in flight to keep the LLM busy
    keep_outcomes: Literal["compact", "all"] = "compact"  # per-test detail in results.jsonl (agents/record.py)
    keep_reasoning: bool = True  # the models' reasoning in results.jsonl (false: dropped, for size; still counted)
    out: str | None = None
    display: bool = True

    @model_validator(mode="before")
    @classmethod
    def _sections(cls, data: Any) -> Any:
        return nested(data) if isinstance(data, dict) else data

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

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def flat(self) -> dict[str, Any]:
        """The config as one level of knobs, each under its flat name (``depth``, ``model``, ``representation``,
        ``sandbox``, ``sandbox_options``...): what reports group by."""
        dumped = self.dump()
        out = {k: v for k, v in dumped.items() if k not in SECTIONS or k == "limits"}
        for flat_key, path in FLAT_KEYS.items():
            section, _, key = path.partition(".")
            out[flat_key] = dumped[section][key]
        out["sandbox"] = dumped["sandbox"]["backend"]
        return out


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
    provider, sep, rest = cfg.llm.model.partition(":")
    if sep and provider in ("scripted", "llamacpp"):
        path, q, query = rest.partition("?")
        absolute = _absolute_file(path)
        if absolute != path:
            update["llm"] = cfg.llm.model_copy(update={"model": f"{provider}:{absolute}{q}{query}"})
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


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``a.b.c`` in nested mappings (a mapping value merges into one already there)."""
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
        node[parts[-1]] = merge_into(dict(node[parts[-1]]), value)
    else:
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
    """Merge base dict, YAML file, flags (None values ignored) and ``key=value`` overrides into a RunConfig, each
    layer over the ones before it (flat keys and section keys alike: ``-o depth=3`` = ``-o agent.depth=3``)."""
    data: dict[str, Any] = nested(drop_removed_keys(dict(base or {})))
    if path is not None:
        merge_into(data, nested(drop_removed_keys(load_yaml(path))))
    merge_into(data, nested({k: v for k, v in (flags or {}).items() if v is not None}))
    for item in overrides or []:
        key, value = parse_override(item)
        if key in REMOVED_KEYS:
            log.warning(REMOVED_KEYS[key])
            continue
        set_dotted(data, canonical_key(key, value), value)
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
            raise ConfigError(f"unknown config key '{loc}'; valid keys: {_valid_keys(err['loc'][:-1])}") from None
        raise ConfigError(f"bad config value for '{loc}': {msg}") from None


def _valid_keys(section: tuple[Any, ...]) -> str:
    """The keys valid where an unknown one was given: a section's fields, or the top level's (with the flat keys)."""
    if section and section[0] in SECTIONS:
        model = RunConfig.model_fields[str(section[0])].annotation
        names = sorted(getattr(model, "model_fields", {}))
        return ", ".join(f"{section[0]}.{n}" for n in names)
    return ", ".join(sorted(set(RunConfig.model_fields) | set(FLAT_KEYS)))
