"""The viewer in a real headless Chromium: a scripted humaneval-fix run with two representations (`none`, and
`next` with critique: the rules fix a program only when the prompt's trace shows the bug's line, so `none` never
fixes), viewed,
opened from file://: no console errors, the outcome filter and the search change the visible rows as the records
say, a task shows every round of both runs side by side with the exact rendered trace and prompt of the record,
and a screenshot is saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from runhelp import run_config
from rules import repair_rules, write_rules
from semtrace.agents.run import read_records
from semtrace.config import build_config
from semtrace.viewer.browser import is_png
from semtrace.viewer.build import build_viewer

pytestmark = pytest.mark.browser

FIX_ROUNDS = [1, 2, None, 1, None]  # per task: the round whose prompt's trace leads to the fix (None: never)
REPRESENTATIONS = ("none", "next")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Any]:
    import asyncio

    from semtrace.benchmarks.registry import load_benchmark

    root = tmp_path_factory.mktemp("viewer-runs")
    tasks = load_benchmark("humaneval-fix", data_dir)[: len(FIX_ROUNDS)]
    fixes = {t.task_id: r for t, r in zip(tasks, FIX_ROUNDS)}
    rules = write_rules(root / "rules.jsonl", repair_rules(tasks, fixes))
    dirs = []
    for rep in REPRESENTATIONS:
        cfg = build_config(flags={"benchmark": "humaneval-fix", "data_dir": str(data_dir), "limit": len(tasks),
                                  "strategy": "sequential", "depth": 2, "representation": rep,
                                  "critique": rep == "next",
                                  "model": f"scripted:{rules}", "sandbox": "local", "display": False})
        asyncio.run(run_config(cfg, root / rep))
        dirs.append(root / rep)
    view = build_viewer(dirs, root / "view")
    records = {rep: {r["task_id"]: r for r in read_records(d / "results.jsonl")} for rep, d in zip(REPRESENTATIONS,
                                                                                                   dirs)}
    return {"view": view, "records": records, "tasks": tasks, "fixes": fixes}


def _select(browser: Any, element: str, value: str) -> None:
    browser.eval(f"(function(){{var s=document.getElementById({json.dumps(element)}); s.value={json.dumps(value)};"
                 f"s.dispatchEvent(new Event('change'));}})()")


def _search(browser: Any, text: str) -> None:
    browser.eval(f"(function(){{var s=document.getElementById('st-search'); s.value={json.dumps(text)};"
                 f"s.dispatchEvent(new Event('input'));}})()")


def _visible_ids(browser: Any) -> list[str]:
    return browser.eval("Array.from(document.querySelectorAll('#st-tasks tbody tr'))"
                        ".filter(function(tr){return !tr.hidden && tr.offsetParent !== null;})"
                        ".map(function(tr){return tr.getAttribute('data-task');})")


def test_viewer_opens_filters_searches_and_shows_every_round(runs: dict[str, Any], browser: Any, tmp_path: Path,
                                                             save_artifact: Any) -> None:
    view, records, fixes = runs["view"], runs["records"], runs["fixes"]
    ids = sorted(fixes)
    assert view.tasks == len(ids) and [r.label for r in view.runs] == [
        "representation=none, critique=False", "representation=next, critique=True"]
    browser.open(view.index.resolve().as_uri())
    assert browser.wait_for("ST.ready")
    assert sorted(_visible_ids(browser)) == ids
    assert browser.eval("document.querySelectorAll('table.st-table').length") >= 1  # the report's tables
    assert browser.eval("Array.from(document.images).every(function(i){return i.complete && i.naturalWidth > 0;})")

    # the filter: outcomes in one run, in any run; the run selector's values are the run indices
    _select(browser, "st-run", "0")  # none: the rules never fix without a trace
    _select(browser, "st-outcome", "never")
    assert sorted(_visible_ids(browser)) == ids
    _select(browser, "st-outcome", "fixed")
    assert _visible_ids(browser) == []
    _select(browser, "st-run", "1")  # next: fixed at the rules' round
    for depth in (0, 1, 2):
        _select(browser, "st-outcome", f"fixed:{depth}")
        assert sorted(_visible_ids(browser)) == sorted(t for t, r in fixes.items() if r == depth), depth
    _select(browser, "st-outcome", "never")
    never = sorted(t for t, r in fixes.items() if r is None)
    assert sorted(_visible_ids(browser)) == never
    assert browser.eval("document.getElementById('st-count').textContent") == f"{len(never)} of {len(ids)} tasks"
    _select(browser, "st-run", "any")
    _select(browser, "st-outcome", "fixed")
    assert sorted(_visible_ids(browser)) == sorted(t for t, r in fixes.items() if r is not None)
    _select(browser, "st-outcome", "differs")  # none never fixes, next does: exactly the tasks next fixes
    assert sorted(_visible_ids(browser)) == sorted(t for t, r in fixes.items() if r is not None)

    # the search, combined with the filter, then alone
    probe = ids[3]
    _search(browser, probe.upper())
    assert _visible_ids(browser) == [probe]
    _select(browser, "st-outcome", "regressed")
    assert _visible_ids(browser) == []
    _select(browser, "st-outcome", "all")
    _search(browser, "no such task")
    assert _visible_ids(browser) == []
    _search(browser, "")
    assert sorted(_visible_ids(browser)) == ids

    # a task fixed at round 2: both runs side by side, every round of each
    task_id = next(t for t, r in fixes.items() if r == 2)
    browser.eval(f"document.querySelector('#st-tasks tr[data-task={json.dumps(task_id)}] a').click()")
    assert browser.wait_for("document.getElementById('st-detail').getAttribute('data-state') !== 'loading' && "
                            "document.getElementById('st-detail').getAttribute('data-state')") == "ready"
    assert browser.eval("document.getElementById('st-list-view').hidden") is True
    cells = browser.eval(
        "Array.from(document.querySelectorAll('.st-round[data-id]')).map(function(c){return {"
        "run: +c.getAttribute('data-run'), id: c.getAttribute('data-id'),"
        "rendering: (c.querySelector('.st-rendering') || {}).textContent || '',"
        "prompt: Array.from(c.querySelectorAll('.st-prompt-block .st-msg-content')).map(function(m){return m.textContent;}),"
        "critique: Array.from(c.querySelectorAll('.st-critique-prompt-block .st-msg-content'))"
        ".map(function(m){return m.textContent;}),"
        "code: c.querySelector('.st-code').textContent, text: c.textContent};})")
    for run, rep in enumerate(REPRESENTATIONS):
        rec = records[rep][task_id]
        shown = [c for c in cells if c["run"] == run]
        assert [c["id"] for c in shown] == [c["id"] for c in rec["candidates"]], rep
        for cell, cand in zip(shown, rec["candidates"]):
            assert cell["rendering"] == cand["rendering"], (rep, cand["id"])
            assert cell["prompt"] == [m["content"] for m in cand["prompt"]], (rep, cand["id"])
            assert cell["code"] == cand["code"]
            assert cell["critique"] == [m["content"] for m in cand["critique_prompt"]], (rep, cand["id"])
            assert not cand["critique"] or cand["critique"] in cell["text"]
            hidden = cand["hidden"]
            assert f"hidden: {hidden['status']} ({hidden['passed']}/{hidden['total']})" in cell["text"]
    nxt = records["next"][task_id]["candidates"]
    assert len(nxt) == 3 and all(c["rendering"] and c["critique_prompt"] for c in nxt[:2])  # really on the page
    assert nxt[0]["rendering"] in nxt[1]["prompt"][-1]["content"]  # and it is what the next prompt carried
    page = browser.eval("document.body.textContent")
    task = next(t for t in runs["tasks"] if t.task_id == task_id)
    shown_tests = {t.source for t in task.visible_tests}
    secret = [t.source for t in task.hidden_tests if t.source not in shown_tests]
    assert secret and not any(s in page for s in secret)  # hidden tests: pass/fail and counts only

    shot = browser.screenshot(tmp_path / "viewer-task.png")
    assert is_png(shot) and shot.stat().st_size > 10_000
    save_artifact(shot)

    browser.eval("location.hash = ''")
    assert browser.wait_for("!document.getElementById('st-list-view').hidden")
    browser.drain(0.3)
    assert browser.errors == []
