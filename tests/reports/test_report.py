"""``semtrace report`` on a scripted ``ablate`` over three representations of HumanEvalFix's first 20 tasks:
tables with intervals, the paired comparison, LaTeX of the right shape, plots whose points are the table's."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from reportcli import error_line, invoke
from rules import repair_rules, write_rules
from semtrace.benchmarks.metrics import mcnemar_exact
from semtrace.reports import Rate, build_report

# fix round of task i (None: never); the rules fix a program only when the prompt's trace shows the bug's line
ROUNDS = [1, 2, None, 1, 2, 1, None, 2, 1, 1] * 2
REPRS = ["none", "concise", "next"]


@pytest.fixture(scope="module")
def ablation(tmp_path_factory: pytest.TempPathFactory, fix20: list[Any], data_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("ablate")
    rules = write_rules(tmp / "rules.jsonl", repair_rules(fix20, {t.task_id: r for t, r in zip(fix20, ROUNDS)}))
    out = tmp / "grid"
    res = invoke("ablate", "--grid", "representation=" + ",".join(REPRS), "-o", "benchmark=humaneval-fix",
                 "-o", f"data_dir={data_dir}", "-o", "limit=20", "-o", "strategy=sequential", "-o", "depth=2",
                 "-o", f"model=scripted:{rules}", "-o", "sandbox=local", "--out", out, "--no-display")
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def report(ablation: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_report([ablation], tmp_path_factory.mktemp("report"), baseline=ablation / "representation=none")


def _expected_next(depth: int) -> float:
    return sum(r is not None and r <= depth for r in ROUNDS) / len(ROUNDS)


def test_tables_have_every_depth_with_intervals(report: Any) -> None:
    depth = report.table("by_depth")
    assert depth.columns[:3] == ("representation", "depth", "pass@1")
    rows = {(r[0], r[1]): r[2] for r in depth.rows}
    assert set(rows) == {(rep, d) for rep in REPRS for d in range(3)}
    for d in range(3):
        assert rows[("none", d)].mean == 0.0  # no trace, no fix
        assert rows[("next", d)].mean == pytest.approx(_expected_next(d))
    for rate in rows.values():
        assert isinstance(rate, Rate) and 0.0 <= rate.lo <= rate.mean <= rate.hi <= 1.0
    assert rows[("next", 2)].hi - rows[("next", 2)].lo > 0.2  # a real interval over 20 tasks
    summary = report.table("summary")
    assert [r[0] for r in summary.rows] == REPRS  # the grid's order, one row per group
    assert summary.column("tasks") == [20, 20, 20]
    cost = report.table("cost")
    assert all(isinstance(t, int) and t > 0 for t in cost.column("prompt tokens"))
    # the run's LLM ledger, kept in summary.json: one request per fresh call, none retried; and its wall time
    assert cost.column("requests") == cost.column("LLM calls") and cost.column("retries") == [0, 0, 0]
    assert all(isinstance(w, float) and w > 0 for w in cost.column("wall time (s)"))


def test_paired_comparison_against_the_baseline(report: Any) -> None:
    by_run = {p.run: p for p in report.paired}
    assert set(by_run) == {"representation=concise", "representation=next"}
    nxt = by_run["representation=next"]
    fixed = sum(r is not None for r in ROUNDS)
    assert (nxt.baseline, nxt.metric, nxt.tasks) == ("representation=none", "selected", 20)
    assert (nxt.wins, nxt.losses, nxt.ties) == (fixed, 0, 20 - fixed)
    assert nxt.diff == pytest.approx(fixed / 20) and nxt.lo <= nxt.diff <= nxt.hi and nxt.lo > 0
    assert nxt.p_value == pytest.approx(mcnemar_exact(fixed, 0))


def test_cli_prints_tables_with_intervals_and_the_paired_comparison(ablation: Path, tmp_path: Path) -> None:
    res = invoke("report", ablation, "--baseline", ablation / "representation=none", "--out", tmp_path / "r")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "pass@1 by depth" in out and "80.0% [58.4, 91.9]" in out  # 16/20 with its Wilson interval
    assert "paired comparison against the baseline" in out and "McNemar" in out
    assert re.search(r"representation=next\s+│\s+representation=none\s+│\s+selected\s+│\s+20\s+│\s+16\s+│\s+0",
                     out), out
    assert "80.0% [58.4, 91.9]" in (tmp_path / "r" / "report.txt").read_text()


def test_latex_is_booktabs_of_the_right_shape(ablation: Path) -> None:
    res = invoke("report", ablation, "--format", "latex", "--by", "representation,max_tokens")
    assert res.exit_code == 0, res.output
    tex = res.stdout
    blocks = re.findall(r"\\begin\{tabular\}\{([lr]+)\}\n(.*?)\\end\{tabular\}", tex, re.DOTALL)
    assert len(blocks) == tex.count(r"\begin{table}") == tex.count(r"\end{table}") >= 3
    align, body = blocks[0]  # the summary table
    lines = body.strip().splitlines()
    assert lines[0] == r"\toprule" and lines[2] == r"\midrule" and lines[-1] == r"\bottomrule"
    assert lines[1].startswith(r"representation & max\_tokens & tasks & pass@1") and lines[1].endswith(r"\\")
    rows = lines[3:-1]
    assert [r.split(" & ")[0] for r in rows] == REPRS  # one row per group
    assert all(r.count(" & ") == len(align) - 1 and r.endswith(r"\\") for r in rows)
    assert "80.0 [58.4, 91.9]" in rows[2]
    text = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
    assert not re.search(r"(?<!\\)[_%$#&](?! )", text.replace(" & ", " ")), "unescaped special character"
    assert r"cost (\$)" in tex and r"95\% interval" in tex


def test_other_formats(ablation: Path, tmp_path: Path) -> None:
    data = json.loads(invoke("report", ablation, "--format", "json").stdout)
    assert {t["name"] for t in data["tables"]} >= {"summary", "by_depth", "cost"}
    assert set(data["runs"]) == {f"representation={r}" for r in REPRS}
    md = invoke("report", ablation, "--format", "md").stdout
    assert "| representation | depth | pass@1 |" in md
    res = invoke("report", ablation, "--format", "csv", "--out", tmp_path / "csv")
    assert res.exit_code == 0, res.output
    lines = (tmp_path / "csv" / "by_depth.csv").read_text().splitlines()
    assert lines[0].startswith("representation,depth,pass@1,pass@1 lo,pass@1 hi") and len(lines) == 1 + 9


def _svg_ok(path: Path) -> None:
    root = ET.fromstring(path.read_bytes())
    assert root.tag.endswith("svg")
    assert "<dc:date>" not in path.read_text()  # no date: the same report gives the same file


def test_plots_exist_are_valid_and_plot_the_table(report: Any) -> None:
    names = {f.name for f in report.figures}
    assert names == {"pass1_depth", "pass1_tokens", "axis_representation"}
    for fig in report.figures:
        png, svg = fig.files
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        _svg_ok(svg)
        assert png in report.plots and svg in report.plots
    by = {f.name: f for f in report.figures}
    depth = report.table("by_depth")
    for series in by["pass1_depth"].series:
        rep = series.label.removeprefix("representation=")
        rows = [r for r in depth.rows if r[0] == rep]
        assert series.x == tuple(float(r[1]) for r in rows)
        assert series.y == tuple(r[2].mean for r in rows)
        assert series.lo == tuple(r[2].lo for r in rows) and series.hi == tuple(r[2].hi for r in rows)
    assert len(by["pass1_depth"].series) == 3
    for series in by["pass1_tokens"].series:
        rep = series.label.split(" · ")[0].removeprefix("representation=")
        rows = [r for r in depth.rows if r[0] == rep]
        assert series.x == tuple(r[depth.columns.index("tokens/task")] for r in rows)
        assert series.y == tuple(r[depth.columns.index("selected")].mean for r in rows)
    (axis,) = by["axis_representation"].series
    summary = report.table("summary")
    assert axis.x == tuple(REPRS)
    assert axis.y == tuple(r.mean for r in summary.column("selected"))
    assert "st-table" in report.html() and 'src="pass1_depth.png"' in report.html()
    assert "<script" not in report.html() and "http" not in report.html()


def test_plots_are_reproducible(ablation: Path, tmp_path: Path) -> None:
    a = build_report([ablation / "representation=next"], tmp_path / "a")
    b = build_report([ablation / "representation=next"], tmp_path / "b")
    for fa, fb in zip(a.plots, b.plots):
        assert fa.name == fb.name and fa.read_bytes() == fb.read_bytes()


def test_refuses_to_pair_runs_of_other_seeds_or_tasks(ablation: Path, tmp_path: Path) -> None:
    base = ablation / "representation=none"
    other_seed = tmp_path / "seed1"
    shutil.copytree(ablation / "representation=next", other_seed)
    cfg = other_seed / "config.yaml"
    cfg.write_text(cfg.read_text().replace("seed: 0\n", "seed: 1\n"))
    res = invoke("report", other_seed, "--baseline", base)
    assert res.exit_code == 2
    assert error_line(res) == (f"error: cannot pair {other_seed} with the baseline {base}: their seeds differ "
                               f"({other_seed}: seed 1, {base}: seed 0); compare runs of the same tasks and seed")

    fewer = tmp_path / "fewer"
    shutil.copytree(ablation / "representation=next", fewer)
    results = fewer / "results.jsonl"
    lines = results.read_text().splitlines(keepends=True)
    dropped = sorted(json.loads(line)["task_id"] for line in lines[-2:])
    results.write_text("".join(lines[:-2]))
    (fewer / "summary.json").unlink()  # as if the run had been stopped before these two tasks
    res = invoke("report", fewer, "--baseline", base)
    assert res.exit_code == 2
    line = error_line(res)
    assert line.startswith(f"error: cannot pair {fewer} with the baseline {base}: their task sets differ: "
                           f"2 only in {base} ({dropped[0]}, {dropped[1]})"), line


def test_unknown_group_key_is_one_line(ablation: Path) -> None:
    res = invoke("report", ablation, "--by", "representaton")
    assert res.exit_code == 2
    assert error_line(res).startswith("error: --by 'representaton' is not a config key or a task key of these "
                                      "runs; valid: ")


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory, fix20: list[Any], data_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("wide")
    tasks = fix20[:4]
    rules = write_rules(tmp / "rules.jsonl", repair_rules(tasks, {tasks[0].task_id: 1, tasks[1].task_id: 1}))
    out = tmp / "run"
    res = invoke("run", "--benchmark", "humaneval-fix", "--data", data_dir, "--limit", "4", "--strategy", "hybrid",
                 "--width", "3", "--depth", "1", "-o", "temperature=0.7", "--model", f"scripted:{rules}",
                 "--sandbox", "local", "--out", out, "--no-display")
    assert res.exit_code == 0, res.output
    return out


def test_width_table_and_passk_plot(wide: Path, tmp_path: Path) -> None:
    rep = build_report([wide], tmp_path)
    width = rep.table("by_width")
    assert width.column("width") == [1, 2, 3]
    assert [r.mean for r in width.column("pass@k (k=width)")] == pytest.approx([0.5, 0.5, 0.5])
    oracle = width.column("oracle (upper bound)")
    assert all(isinstance(r, Rate) for r in oracle)
    tokens = width.column("tokens/task")
    assert tokens == sorted(tokens) and tokens[0] > 0
    (series,) = next(f for f in rep.figures if f.name == "passk_width").series
    assert series.x == (1.0, 2.0, 3.0) and series.y == tuple(r.mean for r in width.column("pass@k (k=width)"))
    assert any("UPPER BOUND" in n for n in rep.table("summary").notes)


def test_reduced_records_are_cached_and_a_changed_file_is_read_again(ablation: Path, tmp_path: Path,
                                                                     report_cache: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(ablation / "representation=next", run)
    first = build_report([run], tmp_path / "a", plots=False)
    cached = [p for p in report_cache.iterdir() if p.suffix == ".json"]
    key = json.dumps(str((run / "results.jsonl").resolve()))
    assert any(key in p.read_text()[:2000] for p in cached)
    again = build_report([run], tmp_path / "b", plots=False)
    assert again.tables == first.tables
    results = run / "results.jsonl"
    lines = results.read_text().splitlines(keepends=True)
    fixed = [json.loads(line) for line in lines]
    target = next(r for r in fixed if r["correct"])
    target["correct"] = False  # a hand edit: the report must see it, not the cached reduction
    results.write_text("".join(json.dumps(r) + "\n" for r in fixed))
    changed = build_report([run], tmp_path / "c", plots=False)
    sel = changed.table("summary").column("selected")[0]
    assert sel.mean == pytest.approx(first.table("summary").column("selected")[0].mean - 1 / 20)


def test_one_figure_per_grid_axis(tmp_path: Path, fix20: list[Any], data_dir: Path) -> None:
    tasks = fix20[:4]
    rules = write_rules(tmp_path / "rules.jsonl", repair_rules(tasks, {t.task_id: r for t, r in zip(tasks, ROUNDS)}))
    grid = tmp_path / "grid"
    res = invoke("ablate", "--grid", "representation=none,next", "--grid", "depth=1,2", "-o", "benchmark=humaneval-fix",
                 "-o", f"data_dir={data_dir}", "-o", "limit=4", "-o", "strategy=sequential",
                 "-o", f"model=scripted:{rules}", "-o", "sandbox=local", "--out", grid, "--no-display")
    assert res.exit_code == 0, res.output
    rep = build_report([grid], tmp_path / "report")
    summary = rep.table("summary")
    assert summary.columns[:2] == ("representation", "depth") and len(summary.rows) == 4
    cell = {(r[0], r[1]): r[summary.columns.index("selected")] for r in summary.rows}
    figs = {f.name: f for f in rep.figures}
    by_repr = {s.label: s for s in figs["axis_representation"].series}
    by_depth = {s.label: s for s in figs["axis_depth"].series}
    assert set(by_repr) == {"depth=1", "depth=2"} and set(by_depth) == {"representation=none", "representation=next"}
    for d in (1, 2):
        s = by_repr[f"depth={d}"]
        assert s.x == ("none", "next") and s.y == (cell[("none", d)].mean, cell[("next", d)].mean)
        assert s.lo == (cell[("none", d)].lo, cell[("next", d)].lo)
    for rep_name in ("none", "next"):
        s = by_depth[f"representation={rep_name}"]
        assert s.x == ("1", "2") and s.y == (cell[(rep_name, 1)].mean, cell[(rep_name, 2)].mean)
    assert (cell[("next", 1)].mean, cell[("next", 2)].mean, cell[("none", 2)].mean) == (0.5, 0.75, 0.0)
