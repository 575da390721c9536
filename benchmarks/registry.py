"""The benchmark registry: name -> Benchmark (lazy import), data-dir resolution, ``load_benchmark``.

A ``Benchmark`` is a name, a one-line description, the data files it needs (relative to the data dir, with their
public download source), the upstream-broken task ids with their reason, and a loader
``load(data_dir, sandbox) -> list[Task]``. Add one by writing a module that defines a ``Benchmark`` and adding a line
to ``BENCHMARKS`` (or an entry point in the ``semtrace.benchmarks`` group, or passing a dotted path).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from semtrace.benchmarks.common import DataError, DataMissing
from semtrace.benchmarks.task import Task
from semtrace.registry import Registry, RegistryError

Loader = Callable[..., list[Task]]

# Options every calibrating benchmark takes: each test's limit is max(time_floor, time_factor x reference time)
# (EvalPlus's rule and defaults). They change results, so they live in the run config and its config.yaml.
TIME_FLOOR = 1.0
TIME_FACTOR = 4.0
CALIBRATION_OPTIONS = ("time_floor", "time_factor")


class BenchmarkOptionError(RegistryError):
    """An option the benchmark does not take, or a bad value for one."""


def parse_benchmark_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``name?key=value&key=value`` -> (name, options); a plain name has no options."""
    name, sep, query = spec.partition("?")
    if not sep:
        return spec, {}
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if not key:
            raise BenchmarkOptionError(f"benchmark spec {spec!r} has an option without a name; write name?key=value")
        options[key] = value
    return name, options


@dataclass(frozen=True)
class Benchmark:
    """A named dataset loader. ``files`` maps a path under the data dir to its public download URL."""

    name: str
    description: str
    loader: Loader
    files: dict[str, str] = field(default_factory=dict)
    known_broken: dict[str, str] = field(default_factory=dict)
    needs_sandbox: bool = False  # True when loading runs reference solutions (EvalPlus expected outputs)
    options: tuple[str, ...] = ()  # keyword options the loader takes (``name?key=value`` or ``benchmark_options``)
    data_folder: str = ""  # a folder under the data dir whose files the loader finds itself (livecodebench)

    @property
    def calibrates(self) -> bool:
        return self.needs_sandbox or bool(self.files)

    def valid_options(self) -> tuple[str, ...]:
        return self.options + (CALIBRATION_OPTIONS if self.calibrates else ())

    def check_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """``options`` validated: known names only, the timing ones as positive numbers."""
        opts = dict(options or {})
        valid = self.valid_options()
        for key in opts:
            if key not in valid:
                hint = f"valid: {', '.join(valid)}" if valid else "it takes none"
                raise BenchmarkOptionError(f"benchmark '{self.name}' has no option '{key}' ({hint})")
        for key in CALIBRATION_OPTIONS:
            if key in opts:
                try:
                    opts[key] = float(opts[key])
                except (TypeError, ValueError):
                    opts[key] = -1.0
                if not opts[key] > 0:
                    raise BenchmarkOptionError(
                        f"benchmark '{self.name}': option '{key}' must be a positive number of "
                        f"{'seconds' if key == 'time_floor' else 'times the reference runtime'}")
        return opts

    def load(self, data_dir: Path | None = None, *, sandbox: str = "local", calibrate: bool = True,
             options: Mapping[str, Any] | None = None) -> list[Task]:
        """The tasks; with ``calibrate``, each test's time limit comes from the reference's runtime (measured once
        per dataset file in ``sandbox`` and cached, see ``calibrate.py``), as max(time_floor, time_factor x t).
        ``options`` go to the loader as keyword arguments (see ``options``)."""
        opts = self.check_options(options)
        floor = float(opts.pop("time_floor", TIME_FLOOR))
        factor = float(opts.pop("time_factor", TIME_FACTOR))
        root = resolve_data_dir(data_dir) if self.files or self.data_folder else Path(".")
        for rel, url in self.files.items():
            if not (root / rel).is_file():
                raise DataMissing(
                    f"{self.name}: data file {root / rel} not found; put it there (download: {url}), or pass "
                    f"--data DIR / set SEMTRACE_DATA to a folder laid out like shared/benchmarks"
                )
        try:
            if self.needs_sandbox:  # the loader calibrates expected outputs and time limits itself
                return self.loader(root, sandbox=sandbox, floor=floor, factor=factor, **opts)
            tasks = self.loader(root, **opts)
        except DataError as exc:
            url = next((u for rel, u in self.files.items() if root / rel == exc.path), None)
            if url is None or exc.fix != DataError.DAMAGED:
                raise
            raise exc.with_fix(f"{exc.fix} from {url}") from exc.__cause__
        if calibrate and self.files:
            from semtrace.benchmarks.calibrate import calibrate_timeouts

            tasks = calibrate_timeouts(self.name, tasks, [root / rel for rel in self.files], sandbox=sandbox,
                                       floor=floor, factor=factor)
        return tasks


BENCHMARKS = Registry(
    kind="benchmark",
    group="semtrace.benchmarks",
    entries={
        "humaneval": "semtrace.benchmarks.humaneval:HUMANEVAL",
        "humaneval-plus": "semtrace.benchmarks.evalplus:HUMANEVAL_PLUS",
        "mbpp": "semtrace.benchmarks.mbpp:MBPP",
        "mbpp-sanitized": "semtrace.benchmarks.mbpp:MBPP_SANITIZED",
        "mbpp-plus": "semtrace.benchmarks.evalplus:MBPP_PLUS",
        "humaneval-fix": "semtrace.benchmarks.humaneval_fix:HUMANEVAL_FIX",
        "mbpp-r": "semtrace.benchmarks.mbpp_r:MBPP_R",
        "quixbugs": "semtrace.benchmarks.quixbugs:QUIXBUGS",
        "cruxeval": "semtrace.benchmarks.cruxeval:CRUXEVAL",
        "demo": "semtrace.benchmarks.demo:DEMO",
        "livecodebench": "semtrace.benchmarks.livecodebench:LIVECODEBENCH",
    },
)

DEFAULT_DATA_DIR = Path("~/.cache/semtrace/benchmarks")


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir`` if given, else $SEMTRACE_DATA, else $SEMTRACE_CACHE/benchmarks (default ~/.cache/semtrace)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("SEMTRACE_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("SEMTRACE_CACHE")
    return (Path(cache) / "benchmarks") if cache else DEFAULT_DATA_DIR.expanduser()


def get_benchmark(name: str) -> Benchmark:
    """The Benchmark registered as ``name`` (or at a dotted path); unknown names list the valid ones. A spec's
    ``?options`` are ignored here (``load_benchmark`` reads them)."""
    name = parse_benchmark_spec(name)[0]
    try:
        bench = BENCHMARKS.resolve(name)
    except ImportError as exc:  # an entry point or registered module that does not import
        raise RegistryError(f"cannot import benchmark '{name}': {exc}") from exc
    if not isinstance(bench, Benchmark):
        raise RegistryError(
            f"'{name}' is a {type(bench).__name__}, not a benchmark; a dotted path must name a "
            f"semtrace.benchmarks.registry.Benchmark (valid names: {', '.join(BENCHMARKS.names())})"
        )
    return bench


def load_benchmark(name: str, data_dir: str | Path | None = None, *, sandbox: str = "local",
                   calibrate: bool = True, options: Mapping[str, Any] | None = None) -> list[Task]:
    """Load a benchmark's tasks. ``name`` may carry options (``livecodebench?difficulty=easy``); ``options`` add to
    them (and win). ``sandbox`` runs the reference solutions once per dataset file to calibrate time limits (and,
    for EvalPlus, expected outputs); the results are cached (see ``benchmarks/calibrate.py``)."""
    base, spec_options = parse_benchmark_spec(name)
    bench = get_benchmark(base)
    return bench.load(Path(data_dir) if data_dir is not None else None, sandbox=sandbox, calibrate=calibrate,
                      options={**spec_options, **dict(options or {})})
