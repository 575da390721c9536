"""LiveCodeBench end to end on our fixtures with the scripted model and the local sandbox: the study's
sequential config runs (stdin and functional problems, a repair round), an ablation split by difficulty is
reported per difficulty, and ``semtrace score`` judges given solutions by LiveCodeBench's rules."""

from __future__ import annotations

import json
from pathlib import Path

from semtrace.agents.run import read_records
from semtrace.cli import _mount, app
from typer.testing import CliRunner

_mount()  # the sub-commands, as the `semtrace` entry point mounts them

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "benchmarks" / "fixtures"
RULES = FIXTURES / "livecodebench" / "scripted.jsonl"
CONFIG = REPO / "configs" / "paper-lcb-sequential.yaml"
WINDOW = {"fx-abc-sum", "fx-cf-mean", "fx-lc-pair", "fx-lc-inversions"}
PRIVATE_ONLY = ("3\\n1 2 4", "[5, 4, 3, 2, 1]", "-3 3")  # private tests' inputs (as JSON would print them)
runner = CliRunner()


def test_the_sequential_config_runs_on_the_fixtures(tmp_path: Path) -> None:
    out = tmp_path / "run"
    res = runner.invoke(app, ["run", "-c", str(CONFIG), "--data", str(FIXTURES), "--model",
                              f"scripted:{RULES}", "--sandbox", "local", "--no-display", "--out", str(out)])
    assert res.exit_code == 0, res.output
    records = {r["task_id"]: r for r in read_records(out / "results.jsonl")}
    assert set(records) == WINDOW  # release v4, 2024-08-01 .. 2024-12-01
    for rec in records.values():
        assert len({c["chain"] for c in rec["candidates"]}) == 8
        finals = [c for c in rec["candidates"] if not any(d["parent"] == c["id"] for d in rec["candidates"])]
        assert all(c["hidden"]["status"] == "passed" for c in finals), rec["task_id"]
    chain0 = [c for c in records["fx-lc-inversions"]["candidates"] if c["chain"] == 0]
    assert [(c["round"], c["hidden"]["status"]) for c in chain0] == [(0, "failed"), (1, "passed")]
    assert "Input: countInversions([2, 1])" in chain0[0]["feedback"]  # the public test, as feedback
    assert records["fx-cf-mean"]["candidates"][0]["hidden"]["outcomes"] == "PPP"  # 2.5 for 2.50 passes
    text = (out / "results.jsonl").read_text()
    prompts = json.dumps([c["prompt"] for r in records.values() for c in r["candidates"]])
    assert not any(p in prompts for p in PRIVATE_ONLY) and "LiveCodeBench" not in prompts
    assert "class Solution:\\n    def pairSum" in text  # the starter code reached the prompt
    # one run, reported per difficulty: the records carry the task's difficulty (TaskRecord.task_meta)
    assert {r["task_meta"]["difficulty"] for r in records.values()} == {"easy", "medium", "hard"}
    rep = runner.invoke(app, ["report", str(out), "--by", "difficulty", "--format", "json"])
    assert rep.exit_code == 0, rep.output
    summary = next(t for t in json.loads(rep.stdout)["tables"] if t["rows"])
    tasks_at = summary["columns"].index("tasks")
    assert {row[0]: row[tasks_at] for row in summary["rows"]} == {"easy": 2, "medium": 1, "hard": 1}
    bad = runner.invoke(app, ["report", str(out), "--by", "colour"])
    assert bad.exit_code == 2 and "difficulty" in bad.output  # the valid keys include the task keys


def test_an_ablation_over_difficulty_is_reported_per_difficulty(tmp_path: Path) -> None:
    out = tmp_path / "ablate"
    grid = "benchmark=" + ",".join(f"livecodebench?difficulty={d}" for d in ("easy", "medium", "hard"))
    overrides = [f"data_dir={FIXTURES}", f"model=scripted:{RULES}", "sandbox=local", "display=false",
                 "width=2", "depth=1"]
    res = runner.invoke(app, ["ablate", "-c", str(CONFIG), *(x for o in overrides for x in ("-o", o)),
                              "--grid", grid, "--out", str(out)])
    assert res.exit_code == 0, res.output
    rep = runner.invoke(app, ["report", str(out), "--by", "benchmark_options", "--format", "json"])
    assert rep.exit_code == 0, rep.output
    summary = next(t for t in json.loads(rep.stdout)["tables"] if t["rows"])
    tasks_at = summary["columns"].index("tasks")
    by_difficulty = {json.loads(row[0])["difficulty"]: row[tasks_at] for row in summary["rows"]}
    assert by_difficulty == {"easy": 2, "medium": 1, "hard": 1}


def test_score_judges_samples_by_lcb_rules(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    lines = [
        {"task_id": "fx-cf-mean", "solution": "n = int(input())\nxs = list(map(int, input().split()))\n"
                                              "print(round(sum(xs) / n, 2))\n"},  # 2.5 for 2.50: right
        {"task_id": "fx-cf-mean", "solution": "n = int(input())\nxs = list(map(int, input().split()))\n"
                                              "print(sum(xs) // n)\n"},  # 2 for 2.50: wrong
        {"task_id": "fx-lc-minmax", "solution": "class Solution:\n    def minMax(self, nums):\n"
                                                "        return min(nums), max(nums)\n"},  # a tuple: right
        {"task_id": "fx-abc-grid",  # trailing spaces and a trailing blank line: right
         "solution": "h, w = map(int, input().split())\nprint(('.' * w + '  \\n') * h)\n"},
    ]
    samples.write_text("".join(json.dumps(x) + "\n" for x in lines))
    res = runner.invoke(app, ["score", str(samples), "--benchmark", "livecodebench", "--data", str(FIXTURES),
                              "--sandbox", "local", "--json"])
    assert res.exit_code == 0, res.output
    per_task = {json.loads(x)["task_id"]: json.loads(x)
                for x in (tmp_path / "samples.scores.jsonl").read_text().splitlines()}
    verdicts = {k: [s["correct"] for s in v["samples"]] for k, v in per_task.items()}
    assert verdicts == {"fx-cf-mean": [True, False], "fx-lc-minmax": [True], "fx-abc-grid": [True]}
