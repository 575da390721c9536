"""Calibration on a small EvalPlus-format file: expected outputs from the reference, per-test time limits,
cached by the file's hash and reused without running anything; digests agree with ==."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from semtrace.benchmarks.calibrate import cache_path, calibrate
from semtrace.benchmarks.evalplus import DIGEST_PREFIX, judged_tests, read_problems
from semtrace.registry import RegistryError
from semtrace.sandbox.types import ExecRequest

ROWS = [
    {"task_id": "HumanEval/900", "prompt": "def double(x):\n", "entry_point": "double",
     "canonical_solution": "    return x * 2\n", "base_input": [[1], [2.5]], "plus_input": [["ab"], [[1, 2]]],
     "atol": 0},
    {"task_id": "HumanEval/901", "prompt": "import time\ndef slow(n):\n", "entry_point": "slow",
     "canonical_solution": "    time.sleep(0.3)\n    return [n] * 30000\n", "base_input": [[7]], "plus_input": [],
     "atol": 0},
]


@pytest.fixture
def dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEMTRACE_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "Tiny.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in ROWS))
    return path


def test_calibrate_records_and_caches(dataset: Path) -> None:
    problems = read_problems(dataset, "humaneval")
    calib = calibrate(problems, dataset)
    assert calib.expected["HumanEval/900"] == ["2", "5.0", "'abab'", "[1, 2, 1, 2]"]
    big = calib.expected["HumanEval/901"][0]
    assert big.startswith(DIGEST_PREFIX)  # 30000 items: shipped as a digest, not as source
    assert calib.timeouts("HumanEval/900") == [1.0] * 4  # the floor
    assert calib.timeouts("HumanEval/901")[0] >= 4 * 0.3  # factor x reference time
    assert cache_path(dataset).is_file()
    again = calibrate(problems, dataset, sandbox="no-such-sandbox")  # cached: nothing runs
    assert again.expected == calib.expected
    with pytest.raises(RegistryError):
        calibrate(problems, dataset, sandbox="no-such-sandbox", refresh=True)


async def test_calibrated_tests_judge_candidates(dataset: Path, local_sandbox) -> None:
    problems = {p.task_id: p for p in read_problems(dataset, "humaneval")}
    calib = calibrate(list(problems.values()), dataset)
    from semtrace.benchmarks.evalplus import ORACLE_SETUP

    for task_id, good, bad in [
        ("HumanEval/900", "def double(x):\n    return x + x\n", "def double(x):\n    return x * 3\n"),
        ("HumanEval/901", "def slow(n):\n    return [n for _ in range(30000)]\n",
         "def slow(n):\n    return [n] * 29999\n"),
    ]:
        p = problems[task_id]
        tests = tuple(judged_tests(p, calib.expected[task_id], calib.timeouts(task_id)))
        ok = await local_sandbox.run(ExecRequest(code=good, tests=tests, entry_point=p.entry_point,
                                                 test_setup=ORACLE_SETUP))
        assert ok.passed, ok.first_failure
        ko = await local_sandbox.run(ExecRequest(code=bad, tests=tests, entry_point=p.entry_point,
                                                 test_setup=ORACLE_SETUP))
        assert not ko.passed


def test_digest_agrees_with_equality() -> None:
    from semtrace.sandbox.judge import digest

    same = [([1, 2.0, {3: {4}}], [1, 2, {3: {4}}]), ({"b": 1, "a": 2}, {"a": 2, "b": 1}),
            ({3, 1, 2}, {1, 2, 3}), (["a", ("x", 1)], ["a", ("x", 1.0)])]
    for a, b in same:
        assert a == b and digest(a) == digest(b)
    different = [((1,), [1]), ([1, 2], [2, 1]), ("1", 1), ([0.5], [0.25])]
    for a, b in different:
        assert a != b and digest(a) != digest(b)


async def test_always_equal_object_does_not_pass(dataset: Path, local_sandbox) -> None:
    """Neither the parent-judged call tests nor the digest tests accept an object whose __eq__ is always True."""
    from semtrace.benchmarks.evalplus import ORACLE_SETUP

    problems = {p.task_id: p for p in read_problems(dataset, "humaneval")}
    calib = calibrate(list(problems.values()), dataset)
    hostile = "class Any:\n    def __eq__(self, other):\n        return True\n"
    for task_id, entry in (("HumanEval/900", "double"), ("HumanEval/901", "slow")):
        code = f"{hostile}def {entry}(x):\n    return Any()\n"
        tests = tuple(judged_tests(problems[task_id], calib.expected[task_id], calib.timeouts(task_id)))
        result = await local_sandbox.run(ExecRequest(code=code, tests=tests, entry_point=entry,
                                                     test_setup=ORACLE_SETUP))
        assert not any(t.status == "passed" for t in result.tests), result.tests


def test_expected_values_never_reach_the_candidate(dataset: Path) -> None:
    """Every EvalPlus test (oracles included) is judged from a value: no expected output in what the child runs."""
    from semtrace.sandbox import convert

    problems = read_problems(dataset, "humaneval")
    calib = calibrate(problems, dataset)
    for p in problems:
        tests = judged_tests(p, calib.expected[p.task_id], calib.timeouts(p.task_id))
        assert all(t.kind == "call" for t in tests)
        assert convert.self_reported([t.to_dict() for t in tests], p.entry_point, p.reference, "") == 0
