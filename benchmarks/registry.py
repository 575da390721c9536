"""The benchmark registry: name -> Benchmark (lazy import), data-dir resolution, ``load_benchmark``.

A ``Benchmark`` is a name, a one-line description, the data files it needs (relative to the data dir, with their
public download source), the upstream-broken task ids with their reason, and a loader
``load(data_dir, sandbox) -> list[Task]``. Add one by writing a module that defines a ``Benchmark`` and adding a line
to ``BENCHMARKS`` (or an entry point in the ``semtrace.benchmarks`` group, or passing a dotted path).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from semtrace.benchmarks.common import DataError, DataMissing
from semtrace.benchmarks.task import Task
from semtrace.registry import Registry, RegistryError

Loader = Callable[..., list[Task]]


@dataclass(frozen=True)
class Benchmark:
    """A named dataset loader. ``files`` maps a path under the data dir to its public download URL."""

    name: str
    description: str
    loader: Loader
    files: dict[str, str] = field(default_factory=dict)
    known_broken: dict[str, str] = field(default_factory=dict)
    needs_sandbox: bool = False  # True when loading runs reference solutions (EvalPlus expected outputs)

    def load(self, data_dir: Path | None = None, *, sandbox: str = "local", calibrate: bool = True) -> list[Task]:
        """The tasks; with ``calibrate``, each test's time limit comes from the reference's runtime (measured once
        per dataset file in ``sandbox`` and cached, see ``calibrate.py``)."""
        root = resolve_data_dir(data_dir) if self.files else Path(".")
        for rel, url in self.files.items():
            if not (root / rel).is_file():
                raise DataMissing(
                    f"{self.name}: data file {root / rel} not found; put it there (download: {url}), or pass "
                    f"--data DIR / set SEMTRACE_DATA to a folder laid out like shared/benchmarks"
                )
        try:
            if self.needs_sandbox:  # the loader calibrates expected outputs and time limits itself
                return self.loader(root, sandbox=sandbox)
            tasks = self.loader(root)
        except DataError as exc:
            url = next((u for rel, u in self.files.items() if root / rel == exc.path), None)
            if url is None or exc.fix != DataError.DAMAGED:
                raise
            raise exc.with_fix(f"{exc.fix} from {url}") from exc.__cause__
        if calibrate and self.files:
            from semtrace.benchmarks.calibrate import calibrate_timeouts

            tasks = calibrate_timeouts(self.name, tasks, [root / rel for rel in self.files], sandbox=sandbox)
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
    """The Benchmark registered as ``name`` (or at a dotted path); unknown names list the valid ones."""
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
                   calibrate: bool = True) -> list[Task]:
    """Load a benchmark's tasks. ``sandbox`` runs the reference solutions once per dataset file to calibrate time
    limits (and, for EvalPlus, expected outputs); the results are cached (see ``benchmarks/calibrate.py``)."""
    bench = get_benchmark(name)
    return bench.load(Path(data_dir) if data_dir is not None else None, sandbox=sandbox, calibrate=calibrate)
