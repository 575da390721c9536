"""The livecodebench loader on our fixtures (tests/benchmarks/fixtures/livecodebench, see make_fixtures.py):
counts per window, difficulty, platform and release, both encodings of private tests, poisoned and damaged
files, options, and the fixture solutions judged in the local sandbox by LiveCodeBench's rules."""

from __future__ import annotations

import base64
import json
import pickle
import shutil
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from semtrace.benchmarks.common import DataError, DataMissing
from semtrace.benchmarks.livecodebench import OptionError, load, unpickle_string
from semtrace.benchmarks.registry import get_benchmark, load_benchmark
from semtrace.benchmarks.verify import request_for
from semtrace.registry import RegistryError

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FOLDER = FIXTURES / "livecodebench"
ALL = {"fx-cf-parity", "fx-abc-sum", "fx-lc-minmax", "fx-cf-mean", "fx-lc-pair", "fx-lc-inversions",
       "fx-abc-grid"}
WINDOW = {"fx-abc-sum", "fx-cf-mean", "fx-lc-pair", "fx-lc-inversions"}  # 2024-08-01 .. 2024-12-01 inclusive


def ids(tasks) -> set[str]:
    return {t.task_id for t in tasks}


def rows() -> list[dict]:
    files = sorted(FOLDER.glob("test*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def write_data(tmp_path: Path, data: list[dict], name: str = "test.jsonl") -> Path:
    folder = tmp_path / "livecodebench"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in data))
    return folder / name


def test_counts_per_window_difficulty_platform_and_release() -> None:
    assert ids(load(FIXTURES)) == ALL
    assert ids(load(FIXTURES, since="2024-08-01", until="2024-12-01")) == WINDOW
    assert ids(load(FIXTURES, since="2024-12-02")) == {"fx-abc-grid"}
    assert ids(load(FIXTURES, until="2024-07-31")) == {"fx-cf-parity", "fx-lc-minmax"}
    counts = {d: len(load(FIXTURES, difficulty=d)) for d in ("easy", "medium", "hard")}
    assert counts == {"easy": 3, "medium": 2, "hard": 2}
    window = {d: ids(load(FIXTURES, since="2024-08-01", until="2024-12-01", difficulty=d))
              for d in ("easy", "medium", "hard")}
    assert window == {"easy": {"fx-abc-sum", "fx-lc-pair"}, "medium": {"fx-cf-mean"},
                      "hard": {"fx-lc-inversions"}}
    assert {p: len(load(FIXTURES, platform=p)) for p in ("leetcode", "codeforces", "atcoder")} == {
        "leetcode": 3, "codeforces": 2, "atcoder": 2}
    both = load(FIXTURES, platform="atcoder,codeforces", difficulty="EASY")
    assert ids(both) == {"fx-cf-parity", "fx-abc-sum"}
    assert ids(load(FIXTURES, release="release_v1")) == {"fx-cf-parity", "fx-abc-sum"}
    assert len(load(FIXTURES, release="release_v2")) == 4
    assert ids(load(FIXTURES, release="v3")) == {"fx-lc-pair"}
    assert ids(load(FIXTURES, release="release_v4")) == ALL == ids(load(FIXTURES, release="release_latest"))


def test_spec_options_reach_the_loader_and_unknown_ones_are_refused() -> None:
    tasks = load_benchmark("livecodebench?difficulty=easy&since=2024-08-01", FIXTURES)
    assert ids(tasks) == {"fx-abc-sum", "fx-lc-pair"}
    assert len(load_benchmark("livecodebench", FIXTURES, options={"release": "release_v1"})) == 2
    valid = "release, since, until, difficulty, platform"
    with pytest.raises(RegistryError, match=f"no option 'colour'.*{valid}"):
        load_benchmark("livecodebench?colour=red", FIXTURES)
    assert get_benchmark("livecodebench").valid_options() == ("release", "since", "until", "difficulty",
                                                               "platform")  # no calibration options


def test_both_encodings_decode_and_the_fields_map() -> None:
    by_id = {t.task_id: t for t in load(FIXTURES)}
    plain, pickled = by_id["fx-abc-sum"], by_id["fx-cf-mean"]  # private tests as JSON / base64+zlib+pickle
    assert [(t.stdin, t.expected) for t in plain.hidden_tests] == [("1 2\n", "3\n"), ("5 7\n", "12\n"),
                                                                   ("-3 3\n", "0\n")]
    assert [(t.stdin, t.expected) for t in pickled.hidden_tests][1:] == [("3\n1 2 4\n", "2.33\n"),
                                                                         ("1\n7\n", "7.00\n")]
    assert plain.visible_tests == plain.hidden_tests[:1]  # public tests visible; hidden = public + private
    assert all(t.kind == "stdio" and t.compare == "lcb" and t.timeout == 6.0 for t in plain.hidden_tests)
    assert plain.entry_point == "" and plain.test_setup == "" and "# YOUR CODE HERE" in plain.prompt
    assert "Read the inputs from stdin" in plain.prompt
    assert plain.prompt.startswith("### Question:\nGiven two")
    pair = by_id["fx-lc-pair"]
    assert pair.entry_point == "pairSum" and pair.kind == "synthesis" and pair.reference is None
    assert [(t.kind, t.func, t.args, t.expected) for t in pair.hidden_tests] == [
        ("call", "pairSum", "[2, 7, 11, 15], 9", "[0, 1]"), ("call", "pairSum", "[3, 2, 4], 6", "[1, 2]"),
        ("call", "pairSum", "[3, 3], 6", "[0, 1]")]
    starter = next(r for r in rows() if r["question_id"] == "fx-lc-pair")["starter_code"]
    assert f"```python\n{starter}\n```" in pair.prompt  # the starter code verbatim, in LCB's format section
    assert pair.metadata["difficulty"] == "easy" and pair.metadata["platform"] == "leetcode"
    assert pair.metadata["contest_date"] == "2024-10-05T00:00:00"
    assert pair.metadata["test_type"] == "functional"
    assert pair.public().metadata == {}  # metadata never reaches the agent


def poisoned_row(marker: Path) -> dict:
    class Poison:
        def __reduce__(self):
            return (open, (str(marker), "w"))  # unpickling this would create the marker file

    row = next(r for r in rows() if r["question_id"] == "fx-lc-pair")
    blob = base64.b64encode(zlib.compress(pickle.dumps(Poison()))).decode()
    return dict(row, question_id="fx-poison", private_test_cases=blob)


def test_a_poisoned_pickle_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write_data(tmp_path, [poisoned_row(marker)])
    with pytest.raises(DataError) as err:
        load(tmp_path)
    text = str(err.value)
    assert "fx-poison" in text and str(path) in text and "row 1" in text and "not allowed" in text
    assert not marker.exists()
    raw = zlib.decompress(base64.b64decode(poisoned_row(marker)["private_test_cases"]))
    with pytest.raises(ValueError, match="REDUCE|GLOBAL"):
        unpickle_string(raw)
    assert not marker.exists()
    with pytest.raises(ValueError, match="only a plain string"):
        unpickle_string(pickle.dumps(["a list, not a string"]))
    assert unpickle_string(pickle.dumps("[]", protocol=0)) == "[]"
    assert unpickle_string(pickle.dumps("x" * 70000, protocol=5)) == "x" * 70000


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("private_test_cases", "@@@ not base64 @@@", "neither JSON nor base64"),
    ("private_test_cases", base64.b64encode(b"not zlib").decode(), "neither JSON nor zlib"),
    ("private_test_cases", base64.b64encode(zlib.compress(b"not a pickle")).decode(), "not a pickled string"),
    ("public_test_cases", '[{"input": "1", "output": "2", "testtype": "interactive"}]',
     "testtype 'interactive'"),
    ("metadata", "{}", "no func_name"),
    ("contest_date", "someday", "contest_date"),
])
def test_an_undecodable_task_is_an_error_naming_it(tmp_path: Path, field: str, value: str,
                                                    problem: str) -> None:
    row = dict(next(r for r in rows() if r["question_id"] == "fx-lc-pair"), **{field: value})
    path = write_data(tmp_path, [rows()[0], row], name="test2.jsonl")
    with pytest.raises(DataError, match=problem) as err:
        load(tmp_path)
    assert "question_id 'fx-lc-pair'" in str(err.value) and f"{path}: row 2" in str(err.value)


def test_verify_cli_loads_every_task_and_names_a_broken_one(tmp_path: Path) -> None:
    from semtrace.benchmarks.cli import app
    from typer.testing import CliRunner

    good = CliRunner().invoke(app, ["verify", "livecodebench", "--data", str(FIXTURES)])
    assert good.exit_code == 0, good.output
    assert "livecodebench: 7 tasks" in good.output
    hard = CliRunner().invoke(app, ["verify", "livecodebench?difficulty=hard", "--data", str(FIXTURES)])
    assert hard.exit_code == 0 and ": 2 tasks" in hard.output, hard.output
    shutil.copytree(FOLDER, tmp_path / "livecodebench", ignore=shutil.ignore_patterns("*.py", "scripted*"))
    write_data(tmp_path, [poisoned_row(tmp_path / "pwned")], name="test5.jsonl")
    bad = CliRunner().invoke(app, ["verify", "livecodebench", "--data", str(tmp_path)])
    assert bad.exit_code != 0 and "fx-poison" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "pwned").exists()


def test_bad_options_and_missing_files_are_one_clear_error() -> None:
    with pytest.raises(OptionError, match="'since' must be a date YYYY-MM-DD"):
        load(FIXTURES, since="August")
    with pytest.raises(OptionError, match="'difficulty' takes easy, medium, hard.*extreme"):
        load(FIXTURES, difficulty="extreme")
    with pytest.raises(OptionError, match="'platform' takes"):
        load(FIXTURES, platform="topcoder")
    with pytest.raises(OptionError, match="unknown release 'v9'"):
        load(FIXTURES, release="v9")
    with pytest.raises(DataMissing, match="test5.jsonl not found.*huggingface.co/datasets/livecodebench"):
        load(FIXTURES, release="release_v5")


def test_a_question_id_twice_is_an_error(tmp_path: Path) -> None:
    write_data(tmp_path, rows()[:1])
    write_data(tmp_path, rows()[:1], name="test2.jsonl")
    with pytest.raises(DataError, match="appears again"):
        load(tmp_path)


def scripted_solutions() -> dict[str, str]:
    """The fixture solutions of scripted.jsonl (the last reply of each rule), by task."""
    by_id = {t.task_id: t for t in load(FIXTURES)}
    out = {}
    for line in (FOLDER / "scripted.jsonl").read_text().splitlines():
        rule = json.loads(line)
        reply = rule["reply"] if isinstance(rule["reply"], str) else rule["reply"][-1]
        import re

        task = next(t for t in by_id.values() if re.search(rule["when"], t.prompt))
        out[task.task_id] = reply.split("```python\n", 1)[1].rsplit("```", 1)[0]
    return out


async def test_fixture_solutions_pass_by_lcb_rules_and_fail_by_the_default(local_sandbox) -> None:
    tasks = {t.task_id: t for t in load(FIXTURES)}
    solutions = scripted_solutions()
    assert set(solutions) == ALL
    for task_id, code in solutions.items():
        result = await local_sandbox.run(request_for(tasks[task_id], code))
        assert result.status == "passed", (task_id, result.first_failure)
    # Mean Value prints 2.5 for 2.50 and Min and Max returns a tuple: right only under LiveCodeBench's rules
    for task_id in ("fx-cf-mean", "fx-lc-minmax"):
        task = tasks[task_id]
        strict = replace(task, visible_tests=(), hidden_tests=tuple(replace(t, compare="eq")
                                                                    for t in task.hidden_tests))
        result = await local_sandbox.run(request_for(strict, solutions[task_id]))
        assert result.status == "failed", task_id


async def test_a_top_level_function_and_a_missing_method(local_sandbox) -> None:
    """As LiveCodeBench calls it: the program's own function when it defines no Solution class; a Solution
    without the method fails every test."""
    task = next(t for t in load(FIXTURES) if t.task_id == "fx-lc-minmax")
    own = "def minMax(nums):\n    return [min(nums), max(nums)]\n"
    plain = await local_sandbox.run(request_for(task, own))
    assert plain.status == "passed"
    other = "class Solution:\n    def other(self, nums):\n        pass\n"
    wrong = await local_sandbox.run(request_for(task, other))
    assert wrong.status == "error" and "minMax" in (wrong.message + str(wrong.first_failure))


async def test_a_leetcode_style_program_without_imports_runs_as_in_lcb(local_sandbox) -> None:
    task = next(t for t in load(FIXTURES) if t.task_id == "fx-lc-minmax")
    code = ("class Solution:\n    def minMax(self, nums):\n"
            "        return [min(nums + [inf]), max(Counter(nums))]\n")  # inf, Counter: not imported
    result = await local_sandbox.run(request_for(task, code))
    assert result.status == "passed"


@pytest.mark.parametrize("spec, option, valid", [
    ("livecodebench?release", "release", "release_v1..release_v6, release_latest, v1..v6"),
    ("livecodebench?release=", "release", "release_v1..release_v6, release_latest, v1..v6"),
    ("livecodebench?since=", "since", "a date YYYY-MM-DD"),
    ("livecodebench?difficulty", "difficulty", "easy, medium, hard"),
    ("livecodebench?platform=,", "platform", "leetcode, codeforces, atcoder"),
])
def test_an_option_without_a_value_is_one_clear_error(spec: str, option: str, valid: str) -> None:
    from semtrace.benchmarks.cli import app
    from typer.testing import CliRunner

    res = CliRunner().invoke(app, ["verify", spec, "--data", str(FIXTURES)])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"option '{option}'" in lines[0] and valid in lines[0], res.output
    assert "Traceback" not in res.output and "tasks" not in res.output
