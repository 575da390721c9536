"""Build the static viewer folder from run directories (see README.md for the layout and the contract).

Records stream one line at a time: each task's detail is written to its own small script as soon as it is read
(``data/r<run>/t<key>.js``), and only the compact task list (``data/index.js``) is kept in memory. The page loads
a task's scripts with ``<script>`` tags on demand, so it opens from ``file://`` without a server (Chromium blocks
``fetch()`` there) and a run of thousands of tasks opens as fast as a small one.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semtrace.agents.rundir import RESULTS_FILE, RunError
from semtrace.viewer.data import KNOBS, iter_records, knobs_of, outcome_of, task_view

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
MARKER = ".semtrace-view"  # names a folder this module wrote, so a rebuild may replace it
FORMAT = 1


class ViewerError(RunError):
    """The viewer cannot be built as asked (no run there, an output folder that is not ours); says the fix."""


@dataclass(frozen=True)
class RunInfo:
    index: int
    path: Path
    label: str
    knobs: dict[str, Any]
    tasks: int

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "path": str(self.path), "label": self.label, "knobs": self.knobs,
                "tasks": self.tasks}


@dataclass(frozen=True)
class ViewerResult:
    """What ``build_viewer`` wrote: the folder, its ``index.html``, the runs shown, the task count, the number of
    task detail files and whether the report's tables and plots are in it."""

    out_dir: Path
    index: Path
    runs: tuple[RunInfo, ...]
    tasks: int
    detail_files: int
    report: bool
    seconds: float = 0.0


def find_run_dirs(paths: list[Path]) -> list[Path]:
    """Each run directory under ``paths``: a run's ``--out`` directory (it holds config.yaml), or a directory of
    runs (an ``ablate --out``), expanded to its runs — found as ``semtrace report`` finds them (grid order)."""
    from semtrace.reports.load import ReportError, find_runs

    try:
        found, _ = find_runs(paths)
    except ReportError as exc:
        raise ViewerError(str(exc)) from None
    return [run_dir for _, run_dir, _ in found]


def _natural(task_id: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", task_id)]


def _labels(paths: list[Path], knobs: list[dict[str, Any]]) -> list[str]:
    """Each run by the knobs that differ between the runs (``representation=concise``), else by its folder."""
    differ = [k for k in KNOBS if len({json.dumps(kn.get(k)) for kn in knobs}) > 1]
    labels = [", ".join(f"{k}={kn.get(k)}" for k in differ) or p.name for p, kn in zip(paths, knobs)]
    if len(set(labels)) < len(labels):  # same knobs: the folder tells them apart
        labels = [f"{label} ({p.name})" if differ else str(p) for label, p in zip(labels, paths)]
    return labels


def _prepare_out(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ViewerError(f"--out '{out_dir}' is a file; pass a new or empty directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).is_file():
        raise ViewerError(f"--out '{out_dir}' is not empty and holds no viewer ({MARKER} missing); "
                          f"pass a new or empty directory")
    for sub in ("data", "assets"):  # a rebuild replaces what an earlier build wrote
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    (out_dir / MARKER).write_text(json.dumps({"format": FORMAT}) + "\n", encoding="utf-8")


def _script(call: str, *args: Any) -> str:
    """One JavaScript call whose arguments are JSON (ASCII only, so no byte can end the script early)."""
    return f"{call}({', '.join(json.dumps(a, ensure_ascii=True, separators=(',', ':')) for a in args)});\n"


def _write_run(run: int, path: Path, data_dir: Path, keys: dict[str, int],
               entries: dict[str, dict[int, list[int]]]) -> tuple[dict[str, Any], int]:
    """Stream one run's records into its detail files; the run's knobs (from its first record) and file count."""
    run_dir = data_dir / f"r{run}"
    run_dir.mkdir(parents=True, exist_ok=True)
    knobs: dict[str, Any] = {}
    files = set()
    for record in iter_records(path / RESULTS_FILE):
        if not knobs:
            knobs = knobs_of(record)
        key = keys.setdefault(record.task_id, len(keys))
        name = run_dir / f"t{key}.js"
        name.write_text(_script("ST.task", run, key, task_view(record)), encoding="utf-8")  # last line wins
        files.add(name)
        entries.setdefault(record.task_id, {})[run] = outcome_of(record).compact()
    return knobs, len(files)


def _report_html(run_dirs: list[Path], out_dir: Path, by: list[str] | None, baseline: Path | None,
                 plots: bool) -> str:
    from semtrace.reports import build_report

    return build_report(run_dirs, out_dir, by=by, baseline=baseline, plots=plots).html()


def build_viewer(run_dirs: list[Path], out_dir: Path, *, by: list[str] | None = None, baseline: Path | None = None,
                 plots: bool = True, report: bool = True, title: str | None = None) -> ViewerResult:
    """Write the viewer for ``run_dirs`` into ``out_dir`` (created, or replaced when an earlier build made it):
    ``index.html`` with the report's tables and plots (``reports.build_report``) and the task list, one detail
    script per task and run. ``report=False`` leaves the tables and plots out."""
    start = time.perf_counter()
    paths = find_run_dirs([Path(d) for d in run_dirs])
    empty = [p for p in paths if not (p / RESULTS_FILE).is_file()]
    if empty:
        raise ViewerError(f"'{empty[0]}' has no {RESULTS_FILE} yet (no task finished); run or resume it first")
    out_dir = Path(out_dir)
    _prepare_out(out_dir)
    keys: dict[str, int] = {}
    entries: dict[str, dict[int, list[int]]] = {}
    knobs, counts, files = [], [], 0
    for i, path in enumerate(paths):
        kn, n = _write_run(i, path, out_dir / "data", keys, entries)
        knobs.append(kn)
        counts.append(sum(1 for e in entries.values() if i in e))
        files += n
    labels = _labels(paths, knobs)
    runs = tuple(RunInfo(i, p, labels[i], knobs[i], counts[i]) for i, p in enumerate(paths))
    report_html = _report_html([Path(d) for d in run_dirs], out_dir, by, baseline, plots) if report else ""
    tasks = [[tid, keys[tid], [[r, *entries[tid][r]] for r in sorted(entries[tid])]]
             for tid in sorted(entries, key=_natural)]
    depth = max([int(kn.get("depth") or 0) for kn in knobs] + [0])
    index = {"format": FORMAT, "runs": [r.to_dict() for r in runs], "depth": depth, "tasks": tasks}
    (out_dir / "data" / "index.js").write_text(_script("ST.index", index), encoding="utf-8")
    assets = out_dir / "assets"
    assets.mkdir(exist_ok=True)
    for static in sorted((HERE / "static").iterdir()):
        if static.suffix in (".js", ".css"):
            shutil.copyfile(static, assets / static.name)
    page = _render_index(title or _title(runs), runs, report_html, len(tasks))
    index_path = out_dir / "index.html"
    index_path.write_text(page, encoding="utf-8")
    seconds = time.perf_counter() - start
    log.info("viewer: %d tasks, %d runs, %d detail files in %.2fs -> %s", len(tasks), len(runs), files, seconds,
             index_path)
    return ViewerResult(out_dir, index_path, runs, len(tasks), files, bool(report_html), seconds)


def _title(runs: tuple[RunInfo, ...]) -> str:
    benches = sorted({str(r.knobs.get("benchmark") or "") for r in runs} - {""})
    return f"semtrace: {', '.join(benches) or 'runs'} ({len(runs)} run{'s' if len(runs) != 1 else ''})"


def _render_index(title: str, runs: tuple[RunInfo, ...], report_html: str, tasks: int) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=jinja2.select_autoescape(["html"]), keep_trailing_newline=True)
    return env.get_template("index.html").render(
        title=title, runs=runs, report_html=report_html, tasks=tasks,
        generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    )
