"""The viewer folder without a browser: outcomes per task, what the detail files hold (the record's exact prompt
and rendering, hidden tests as pass/fail and counts only), rebuilds, and bad input as one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from clihelp import error_line, invoke, run_demo
from semtrace.agents.record import Candidate, ExecSummary, TaskRecord
from semtrace.agents.run import read_records
from semtrace.viewer.build import MARKER, ViewerError, build_viewer
from semtrace.viewer.data import diff_lines, outcome_of, task_view


def _cand(chain: int, round_: int, correct: bool) -> Candidate:
    status = "passed" if correct else "failed"
    return Candidate(id=f"c{chain}r{round_}", chain=chain, round=round_, code=f"x = {round_}\n",
                     parent=f"c{chain}r{round_ - 1}" if round_ else None,
                     visible=ExecSummary(status=status, passed=int(correct), total=1),
                     hidden=ExecSummary(status=status, passed=int(correct), total=1))


def _record(chains: list[list[bool]], depth: int = 2) -> TaskRecord:
    cands = tuple(_cand(c, r, ok) for c, rounds in enumerate(chains) for r, ok in enumerate(rounds))
    return TaskRecord(task_id="t/0", kind="repair", depth=depth, width=len(chains), candidates=cands)


@pytest.mark.parametrize(("chains", "fixed_at", "regressed"), [
    ([[False, False, True]], 2, False),
    ([[False, False, False]], None, False),
    ([[True]], 0, False),
    ([[False, True, False]], 1, True),  # correct at round 1, broken again at round 2
    ([[False, False, False], [False, True]], 1, False),  # the first depth at which some chain is correct
    ([[False, False, False], [True, False, True]], 0, True),
])
def test_outcome_is_the_first_depth_some_chain_is_correct(chains: list[list[bool]], fixed_at: int | None,
                                                          regressed: bool) -> None:
    out = outcome_of(_record(chains))
    assert (out.fixed_at, out.regressed, out.candidates) == (fixed_at, regressed, sum(map(len, chains)))


def test_diff_against_the_parent() -> None:
    assert diff_lines(None, "a\n") is None
    assert diff_lines("a\nb\n", "a\nc\n") == ["@@ -1,2 +1,2 @@", " a", "-b", "+c"]
    assert diff_lines("a\n", "a\n") == []


def _detail(out: Path, run: int, key: int) -> dict[str, Any]:
    text = (out / "data" / f"r{run}" / f"t{key}.js").read_text()
    head = f"ST.task({run}, {key}, "
    assert text.startswith(head) and text.endswith(");\n")
    return json.loads(text[len(head):-3])


def _index(out: Path) -> dict[str, Any]:
    text = (out / "data" / "index.js").read_text()
    assert text.startswith("ST.index(") and text.endswith(");\n")
    return json.loads(text[len("ST.index("):-3])


def test_detail_files_hold_the_record_and_only_counts_of_hidden_tests(demo_rules: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_demo(demo_rules, run, "-r", "concise", "--limit", "4")
    result = build_viewer([run], tmp_path / "view", plots=False)
    assert result.tasks == 4 and result.detail_files == 4 and result.report
    index = _index(tmp_path / "view")
    assert [t[0] for t in index["tasks"]] == sorted(t[0] for t in index["tasks"])
    page = result.index.read_text()
    assert 'class="st-table"' in page and "https://" not in page and "http://" not in page
    for rec in read_records(run / "results.jsonl"):
        key = next(t[1] for t in index["tasks"] if t[0] == rec["task_id"])
        data = _detail(tmp_path / "view", 0, key)
        assert data["task_id"] == rec["task_id"]
        shown = [c for chain in data["chains"] for c in chain]
        assert [c["id"] for c in shown] == [c["id"] for c in rec["candidates"]]
        for view, cand in zip(shown, rec["candidates"]):
            assert view["prompt"] == cand["prompt"] and view["rendering"] == cand["rendering"]
            assert view["hidden"] == {k: cand["hidden"][k] for k in ("status", "passed", "total")}
        assert shown[-1]["diff"] and shown[0]["diff"] is None  # fixed at round 1 against the buggy start
    files = [p for p in (tmp_path / "view").rglob("*") if p.is_file() and p.suffix in (".js", ".html", ".css")]
    blob = "\n".join(p.read_text() for p in files)
    assert "http://" not in blob and "https://" not in blob  # nothing fetched from anywhere
    from semtrace.benchmarks.demo import load

    checked = 0
    for task in (t for t in load() if t.task_id in {r["task_id"] for r in read_records(run / "results.jsonl")}):
        shown_tests = {t.source for t in task.visible_tests}
        for secret in (t.source for t in task.hidden_tests if t.source not in shown_tests):
            assert json.dumps(secret)[1:-1] not in blob and secret not in blob, (task.task_id, secret)
            checked += 1
    assert checked >= 4


def test_a_rebuild_replaces_the_earlier_one(demo_rules: Path, tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "view"
    run_demo(demo_rules, run, "--limit", "3")
    build_viewer([run], out, report=False)
    stale = out / "data" / "r0" / "t99.js"
    stale.write_text("stale")
    again = build_viewer([run], out, report=False)
    assert again.tasks == 3 and not stale.exists() and (out / MARKER).is_file()
    assert sorted(p.name for p in (out / "data" / "r0").iterdir()) == ["t0.js", "t1.js", "t2.js"]


def test_a_record_with_markup_stays_text(tmp_path: Path) -> None:
    """Model output is data: the detail file is JSON inside one call, ASCII only."""
    cand = Candidate(id="c0r0", chain=0, round=0, code="s = '</script><img src=x onerror=alert(1)>\u2028'\n")
    data = task_view(TaskRecord(task_id="t/<b>", kind="synthesis", candidates=(cand,)))
    from semtrace.viewer.build import _script

    text = _script("ST.task", 0, 0, data)
    assert text.isascii() and "\u2028" not in text
    assert json.loads(text[len("ST.task(0, 0, "):-3])["chains"][0][0]["code"] == cand.code


def test_bad_input_is_one_line(demo_rules: Path, tmp_path: Path) -> None:
    res = invoke("view", str(tmp_path / "nope"), "--out", str(tmp_path / "v"))
    assert res.exit_code == 2 and "is not a directory; pass a run's --out directory" in error_line(res)
    (tmp_path / "empty").mkdir()
    res = invoke("view", str(tmp_path / "empty"), "--out", str(tmp_path / "v"))
    assert res.exit_code == 2 and "holds no run" in error_line(res)
    run = tmp_path / "run"
    run_demo(demo_rules, run, "--limit", "1")
    res = invoke("view", str(run), "--out", str(run))  # the run directory itself: not ours to overwrite
    assert res.exit_code == 2 and "is not empty and holds no viewer" in error_line(res)
    assert (run / "results.jsonl").is_file()
    with pytest.raises(ViewerError, match="is a file"):
        build_viewer([run], run / "results.jsonl")


def test_cli_prints_the_path_and_how_to_open_it(demo_rules: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_demo(demo_rules, run, "--limit", "2")
    res = invoke("view", str(run), "--out", str(tmp_path / "view"), "--no-plots")
    assert res.exit_code == 0, res.output
    assert f"viewer: 2 tasks from 1 run -> {tmp_path / 'view' / 'index.html'}" in res.output
    assert f"open it in a browser (no server needed): {(tmp_path / 'view' / 'index.html').as_uri()}" in res.output


def test_a_directory_of_runs_is_its_runs_labelled_by_what_differs(demo_rules: Path, tmp_path: Path) -> None:
    grid = tmp_path / "grid"
    run_demo(demo_rules, grid / "a", "--limit", "2", "-r", "none")
    run_demo(demo_rules, grid / "b", "--limit", "3", "-r", "concise")
    result = build_viewer([grid], tmp_path / "view", report=False)
    assert [(r.path.name, r.label, r.tasks) for r in result.runs] == [
        ("a", "representation=none", 2), ("b", "representation=concise", 3)]
    index = _index(tmp_path / "view")
    assert result.tasks == 3 and [len(t[2]) for t in index["tasks"]].count(1) == 1  # one task only in run b
