"""The viewer shows a ``debug`` round as the conversation it was (issue 21), in a real headless Chromium: each
reply, each tool call with its arguments and the observation it got (errors marked), in order, and how the loop
ended."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from debughelp import call, max_of_scenario, rule, write
from runhelp import run_config
from semtrace.agents.run import read_records
from semtrace.config import build_config
from semtrace.viewer.build import build_viewer

pytestmark = pytest.mark.browser


async def test_the_viewer_shows_a_debug_round_as_its_conversation(tmp_path: Path, browser: Any) -> None:
    rules = write(tmp_path / "rules.jsonl", [
        *max_of_scenario(False)[:2],
        rule(r"`max_of`[\s\S]*error: unknown tool", max_of_scenario(False)[-1]["reply"]),
        rule(r"`max_of`", call("debugger", False))])  # a malformed call first
    cfg = build_config(flags={"benchmark": "demo", "tasks": "demo/max_of", "model": f"scripted:{rules}",
                              "sandbox": "local", "strategy": "debug", "depth": 1, "representation": "none",
                              "display": False})
    await run_config(cfg, tmp_path / "run")
    [record] = read_records(tmp_path / "run" / "results.jsonl")
    t = record["candidates"][1]["transcript"]
    assert [c["name"] for turn in t["turns"] for c in turn["calls"]] == ["debugger", "run_tests", "trace", "submit"]
    view = build_viewer([tmp_path / "run"], tmp_path / "view")
    browser.open(view.index.resolve().as_uri())
    assert browser.wait_for("ST.ready")
    browser.eval(f"document.querySelector('#st-tasks tr[data-task={json.dumps('demo/max_of')}] a').click()")
    assert browser.wait_for("document.getElementById('st-detail').getAttribute('data-state') === 'ready'")
    shown = browser.eval(
        "(function(){var c = document.querySelector('.st-round[data-id=\"c0r1\"]');"
        "var b = c.querySelector('details.st-transcript-block');"
        "return {open: b.open, title: b.querySelector('summary').textContent,"
        "calls: Array.from(b.querySelectorAll('.st-call')).map(function(x){return {tool: x.getAttribute('data-tool'),"
        "error: x.classList.contains('st-call-error'), head: x.querySelector('.st-role').textContent,"
        "obs: (x.querySelector('.st-observation') || {}).textContent || null};}),"
        "turns: b.querySelectorAll('.st-turn').length};})()")
    assert shown["open"] is True and shown["turns"] == 4
    assert "text protocol; 4 turns, 4 calls of 8; ended: submit" in shown["title"]
    calls = [c for turn in t["turns"] for c in turn["calls"]]
    assert [c["tool"] for c in shown["calls"]] == [c["name"] for c in calls]
    assert [c["error"] for c in shown["calls"]] == [True, False, False, False]
    for got, want in zip(shown["calls"][:3], calls[:3]):
        assert got["obs"] == want["observation"]
    assert shown["calls"][2]["head"].startswith('tool call trace({"expression":"max_of([1, 5, 3])","watch":["best"]})')
    assert shown["calls"][3]["obs"] is None  # submit: the code is the candidate's, shown below
    browser.drain(0.3)
    assert browser.errors == []
