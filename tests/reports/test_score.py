"""``semtrace score`` on HumanEval+ samples (canonical solutions, broken ones, a completion) agrees with the
agent's own hidden-test verdicts for the same programs (a scripted run that answers with those programs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from reportcli import error_line, invoke
from rules import fenced, write_rules
from semtrace.agents.record import Candidate
from semtrace.agents.rundir import read_records
from semtrace.benchmarks.metrics import pass_at_k


@pytest.fixture(scope="module")
def plus(data_dir: Path) -> list[Any]:
    from semtrace.benchmarks.registry import load_benchmark

    return load_benchmark("humaneval-plus", data_dir)[:4]


def _samples(tasks: list[Any]) -> list[dict[str, str]]:
    """Sample 0 of each task: its canonical solution; sample 1 of three tasks: broken, off by a comparison, and
    the canonical solution again as an EvalPlus ``completion`` (the body after the prompt)."""
    t0, t1, t2, _ = tasks
    rows = [{"task_id": t.task_id, "solution": t.reference} for t in tasks]
    rows.append({"task_id": t0.task_id, "solution": t0.prompt + "    return False\n"})
    rows.append({"task_id": t1.task_id, "completion": t1.reference[len(t1.prompt):]})
    rows.append({"task_id": t2.task_id, "completion": "    return number - int(number) + 0.5\n"})
    return rows


@pytest.fixture(scope="module")
def scored(plus: list[Any], data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    tmp = tmp_path_factory.mktemp("score")
    samples = tmp / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in _samples(plus)))
    res = invoke("score", samples, "--benchmark", "humaneval-plus", "--sandbox", "local", "--data", data_dir,
                 "--run-dir", tmp / "as-run", "--json")
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in (tmp / "samples.scores.jsonl").read_text().splitlines()]
    return tmp, json.loads(res.stdout), lines


def test_score_prints_pass_at_1_and_pass_at_k(scored: tuple[Path, Any, Any], plus: list[Any]) -> None:
    _, summary, lines = scored
    assert [line["task_id"] for line in lines] == [t.task_id for t in plus]
    assert [line["n"] for line in lines] == [2, 2, 2, 1]
    assert [line["correct"] for line in lines] == [1, 2, 1, 1]
    assert summary["tasks"] == 4 and summary["n_samples"] == 7 and summary["tasks_total"] == 164
    assert summary["pass@1"]["mean"] == pytest.approx((0.5 + 1 + 0.5 + 1) / 4)
    assert summary["pass@1"]["lo"] < summary["pass@1"]["mean"] <= summary["pass@1"]["hi"]
    assert summary["pass@k"] == {"1": pytest.approx(0.75)}  # one task has a single sample: no pass@2 overall
    assert lines[0]["pass@k"]["2"] == pytest.approx(pass_at_k(2, 1, 2))
    broken = lines[0]["samples"][1]
    assert broken["correct"] is False and broken["status"] == "failed" and broken["total"] > 100


def test_score_agrees_with_the_agents_hidden_verdicts(scored: tuple[Path, Any, Any], plus: list[Any],
                                                      data_dir: Path) -> None:
    tmp, _, lines = scored
    by_task = {t.task_id: t for t in plus}
    programs: dict[int, dict[str, str]] = {}
    for row in _samples(plus):  # the programs score judged, by sample index
        task = by_task[row["task_id"]]
        code = row.get("solution") or task.prompt + row["completion"]
        index = sum(row["task_id"] in p for p in programs.values())
        programs.setdefault(index, {})[row["task_id"]] = code
    agent: dict[tuple[str, int], bool] = {}
    for index, codes in programs.items():
        rules = write_rules(tmp / f"rules{index}.jsonl",
                            [{"when": f"`{by_task[t].entry_point}`", "reply": fenced(c)} for t, c in codes.items()])
        out = tmp / f"run{index}"
        res = invoke("run", "--benchmark", "humaneval-plus", "--data", data_dir, "--tasks", ",".join(codes),
                     "--strategy", "greedy", "--model", f"scripted:{rules}", "--sandbox", "local", "--out", out,
                     "--no-display")
        assert res.exit_code == 0, res.output
        for rec in read_records(out / "results.jsonl"):
            (cand,) = [Candidate.from_dict(c) for c in rec["candidates"]]
            assert cand.code.strip() == codes[rec["task_id"]].strip()  # the very program score judged
            agent[(rec["task_id"], index)] = cand.correct
    mine = {(line["task_id"], s["index"]): s["correct"] for line in lines for s in line["samples"]}
    assert mine == agent
    assert set(mine.values()) == {True, False}


def test_scored_samples_come_into_the_report(scored: tuple[Path, Any, Any]) -> None:
    tmp, summary, lines = scored
    from semtrace.reports import build_report

    rep = build_report([tmp / "as-run"], tmp / "report", plots=False)
    table = rep.table("summary")
    (row,) = table.rows
    assert row[table.columns.index("tasks")] == 4
    assert row[table.columns.index("pass@1")].mean == pytest.approx(summary["pass@1"]["mean"])
    first = sum(line["samples"][0]["correct"] for line in lines) / 4  # the first sample is the selected answer
    assert row[table.columns.index("selected")].mean == pytest.approx(first)
    width = rep.table("by_width")
    assert width.column("pass@k (k=width)")[1].mean == pytest.approx(
        sum(line["pass@k"].get("2", line["pass@1"]) for line in lines) / 4)


@pytest.mark.parametrize("line, needle", [
    ('{"task_id": "HumanEval/0"}', "no 'solution' or 'completion' string for HumanEval/0"),
    ('{"task_id": "HumanEval/9999", "solution": "x = 1"}', "task_id 'HumanEval/9999' is not in this benchmark"),
    ("not json", "not JSON"),
])
def test_bad_samples_are_one_line_naming_file_and_line(tmp_path: Path, data_dir: Path, line: str,
                                                       needle: str) -> None:
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "HumanEval/1", "solution": "x = 1"}\n' + line + "\n")
    res = invoke("score", samples, "--benchmark", "humaneval-plus", "--sandbox", "local", "--data", data_dir)
    assert res.exit_code == 2
    msg = error_line(res)
    assert msg.startswith(f"error: {samples}:2: ") and needle in msg, msg


def test_score_judges_stdin_stdout_tasks(tmp_path: Path) -> None:
    samples = tmp_path / "io.jsonl"
    rows = [
        {"task_id": "io/sum", "completion": "a, b = map(int, input().split())\nprint(a + b)\n"},
        {"task_id": "io/sum", "completion": "a, b = map(int, input().split())\nprint(a - b)\n"},
        {"task_id": "io/rev", "solution": "print(input()[::-1])\n"},
    ]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = invoke("score", samples, "--benchmark", "stdio_bench:STDIO", "--sandbox", "local", "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["pass@1"]["mean"] == pytest.approx((0.5 + 1.0) / 2)
    lines = [json.loads(line) for line in (tmp_path / "io.scores.jsonl").read_text().splitlines()]
    assert [[s["correct"] for s in line["samples"]] for line in lines] == [[True, False], [True]]
    assert lines[0]["samples"][1]["total"] == 2 and lines[0]["samples"][1]["status"] == "failed"


@pytest.mark.docker
def test_score_in_docker_gives_the_local_verdicts(scored: tuple[Path, Any, Any], data_dir: Path) -> None:
    tmp, _, lines = scored
    out = tmp / "docker.scores.jsonl"
    res = invoke("score", tmp / "samples.jsonl", "--benchmark", "humaneval-plus", "--sandbox", "docker", "--data",
                 data_dir, "--out", out, "--json")
    assert res.exit_code == 0, res.output
    docker = [json.loads(line) for line in out.read_text().splitlines()]
    verdicts = [[(s["correct"], s["status"], s["total"]) for s in line["samples"]] for line in docker]
    assert verdicts == [[(s["correct"], s["status"], s["total"]) for s in line["samples"]] for line in lines]
