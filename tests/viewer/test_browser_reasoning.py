"""The viewer shows a reasoning model's run (issue 20) in a real headless Chromium: each candidate's reasoning folded
(a closed ``<details>``) under the reply, exactly as recorded; a reply without a program shows its reason instead
of code; the report's cost table splits tokens into prompt / answer / reasoning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from reasoninghelp import CANARY, TASKS, reasoning_rules
from runhelp import run_config
from semtrace.agents.run import read_records
from semtrace.config import build_config
from semtrace.llms import UNFINISHED_REASONING
from semtrace.viewer.build import build_viewer

pytestmark = pytest.mark.browser


async def test_the_viewer_folds_each_reasoning_under_its_reply(tmp_path: Path, browser: Any) -> None:
    rules = reasoning_rules(tmp_path / "rules.jsonl")
    cfg = build_config(flags={"benchmark": "demo", "tasks": ",".join(TASKS), "model": f"scripted:{rules}",
                              "sandbox": "local", "strategy": "sequential", "depth": 2, "display": False})
    await run_config(cfg, tmp_path / "run")
    records = {r["task_id"]: r for r in read_records(tmp_path / "run" / "results.jsonl")}
    view = build_viewer([tmp_path / "run"], tmp_path / "view")
    browser.open(view.index.resolve().as_uri())
    assert browser.wait_for("ST.ready")
    heads = browser.eval("Array.from(document.querySelectorAll('table.st-table th')).map(function(t){"
                         "return t.textContent;})")
    assert {"prompt tokens", "answer tokens", "reasoning tokens"} <= set(heads)

    task_id = "demo/sum_to_n"  # round 1: an unclosed <think> (no program); round 2: asked again, answered
    browser.eval(f"document.querySelector('#st-tasks tr[data-task={json.dumps(task_id)}] a').click()")
    assert browser.wait_for("document.getElementById('st-detail').getAttribute('data-state') === 'ready'")
    cells = browser.eval(
        "Array.from(document.querySelectorAll('.st-round[data-id]')).map(function(c){"
        "var r = c.querySelector('details.st-reasoning');"
        "return {id: c.getAttribute('data-id'), reasoning: r ? r.querySelector('pre').textContent : null,"
        "open: r ? r.open : null, afterReply: r ? (r.previousElementSibling || {}).textContent || '' : '',"
        "code: (c.querySelector('.st-code') || {}).textContent || null,"
        "noProgram: (c.querySelector('.st-no-program') || {}).textContent || null};})")
    rec = records[task_id]
    assert [c["id"] for c in cells] == [c["id"] for c in rec["candidates"]] == ["c0r0", "c0r1", "c0r2"]
    for cell, cand in zip(cells, rec["candidates"]):
        assert cell["reasoning"] == (cand["reasoning"] or None), cand["id"]
    cut, answered = cells[1], cells[2]
    assert CANARY in cut["reasoning"] and cut["open"] is False  # folded
    assert cut["code"] is None and cut["noProgram"] == f"no program: {UNFINISHED_REASONING}"
    assert answered["open"] is False and answered["afterReply"].startswith("Model reply")
    assert answered["code"] == rec["candidates"][2]["code"]
    browser.drain(0.3)
    assert browser.errors == []
