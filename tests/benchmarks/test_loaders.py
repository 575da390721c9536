"""Every loader on the real data files: counts, field mapping, visible/hidden split, data-dir errors."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
from semtrace.benchmarks.common import DataMissing, args_source, doctest_examples, to_source
from semtrace.benchmarks.evalplus import MBPP_PLUS_FILE, read_problems
from semtrace.benchmarks.registry import BENCHMARKS, load_benchmark, resolve_data_dir
from semtrace.registry import RegistryError
from semtrace.sandbox.judge import eval_expected

EXPECTED_NAMES = {"humaneval", "humaneval-plus", "mbpp", "mbpp-sanitized", "mbpp-plus", "humaneval-fix", "mbpp-r",
                  "quixbugs", "cruxeval", "demo"}


def test_registry_names() -> None:
    assert EXPECTED_NAMES <= set(BENCHMARKS.names())


def test_unknown_benchmark_lists_valid_names() -> None:
    with pytest.raises(RegistryError, match="humaneval-fix"):
        load_benchmark("humaneval-fixx")


def test_missing_data_says_where_and_how(tmp_path: Path) -> None:
    with pytest.raises(DataMissing) as err:
        load_benchmark("humaneval", tmp_path)
    text = str(err.value)
    assert str(tmp_path / "humaneval" / "HumanEval.jsonl.gz") in text
    assert "https://github.com/openai/human-eval" in text and "SEMTRACE_DATA" in text


def test_data_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMTRACE_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"  # --data wins
    monkeypatch.delenv("SEMTRACE_DATA")
    monkeypatch.setenv("SEMTRACE_CACHE", str(tmp_path / "cache"))
    assert resolve_data_dir(None) == tmp_path / "cache" / "benchmarks"


@pytest.mark.parametrize("name, count, kind", [
    ("humaneval", 164, "synthesis"), ("mbpp", 974, "synthesis"), ("mbpp-sanitized", 427, "synthesis"),
    ("humaneval-fix", 164, "repair"), ("quixbugs", 40, "repair"), ("cruxeval", 800, "reasoning"),
])
def test_counts_and_split(data_dir: Path, name: str, count: int, kind: str) -> None:
    tasks = load_benchmark(name, data_dir, calibrate=False)
    assert len(tasks) == count and len({t.task_id for t in tasks}) == count
    for t in tasks:
        assert t.kind == kind and t.entry_point and t.reference and t.hidden_tests
        assert (t.starting_code is not None) == (kind == "repair")
        if kind != "reasoning":
            assert t.visible_tests, t.task_id
        for test in (*t.visible_tests, *t.hidden_tests):
            if test.kind == "assert":
                ast.parse(test.source)
        if t.test_setup:
            ast.parse(t.test_setup)


def test_humaneval_mapping(data_dir: Path) -> None:
    tasks = {t.task_id: t for t in load_benchmark("humaneval", data_dir, calibrate=False)}
    t0 = tasks["HumanEval/0"]
    assert len(t0.hidden_tests) == 7  # one TestCase per assert of check()
    assert all(t.source.startswith("assert candidate(") for t in t0.hidden_tests)
    assert [t.source for t in t0.visible_tests] == [
        "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False",
        "assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True"]
    assert "METADATA" in t0.test_setup
    # the wrong docstring example of HumanEval/47 is not shown
    assert all("1000, 10, 20]) == 15.0" not in t.source for t in tasks["HumanEval/47"].visible_tests)
    # a check() with loops stays one test
    assert [t.source for t in tasks["HumanEval/38"].hidden_tests] == ["check(decode_cyclic)"]


def test_humaneval_fix_mapping(data_dir: Path) -> None:
    tasks = {t.task_id: t for t in load_benchmark("humaneval-fix", data_dir, calibrate=False)}
    t = tasks["Python/0"]
    assert t.starting_code.startswith("from typing import List") and "distance = elem - elem2" in t.starting_code
    assert len(t.visible_tests) == 2 and len(t.hidden_tests) == 7
    assert tasks["Python/119"].visible_tests[0].source == "assert match_parens(['()(', ')']) == 'Yes'"
    assert tasks["Python/0"].metadata["bug_type"] == "missing logic"


def test_quixbugs_scripts_become_tests(data_dir: Path) -> None:
    tasks = {t.task_id: t for t in load_benchmark("quixbugs", data_dir, calibrate=False)}
    bfs = tasks["QuixBugs/breadth_first_search"]
    assert "class Node" in bfs.test_setup and [t.source for t in bfs.hidden_tests][:2] == ["test1()", "test2()"]
    assert tasks["QuixBugs/bitcount"].hidden_tests[0].source == "assert bitcount(*[127]) == 7"


def test_mbpp_mapping(data_dir: Path) -> None:
    tasks = {t.task_id: t for t in load_benchmark("mbpp", data_dir, calibrate=False)}
    t = tasks["MBPP/1"]
    assert t.entry_point == "min_cost" and len(t.hidden_tests) == 3 and t.visible_tests == t.hidden_tests[:1]
    assert t.visible_tests[0].source in t.prompt
    assert "\r" not in t.reference


def test_cruxeval_mapping(data_dir: Path) -> None:
    t = load_benchmark("cruxeval", data_dir, calibrate=False)[0]
    (test,) = t.hidden_tests
    assert (test.kind, test.func, test.args, test.expected) == ("call", "f", "[1, 1, 3, 1, 3, 1]",
                                                              "[(4, 1), (4, 1), (4, 1), (4, 1), (2, 3), (2, 3)]")
    assert test.expected not in t.prompt and not t.visible_tests


def test_mbpp_plus_inputs_restore_tuples(data_dir: Path) -> None:
    problems = {p.task_id: p for p in read_problems(data_dir / MBPP_PLUS_FILE, "mbpp")}
    assert problems["Mbpp/2"].inputs[0] == "(3, 4, 5, 6), (5, 7, 4, 10)"
    assert problems["Mbpp/2"].n_base == 3 and len(problems["Mbpp/2"].inputs) > 3
    assert problems["Mbpp/124"].inputs[0].count("complex(") == 1


@pytest.mark.parametrize("value", [
    [1, (2,), {3: "x"}, {4, 5}, frozenset({6})], math.inf, -math.inf, complex(1, -2), (), set(), b"\x00",
    {"k": [1.5, None, True]}, 10 ** 30, "quote ' and \" and \n",
])
def test_to_source_round_trips_through_the_runner_evaluator(value: object) -> None:
    assert eval_expected(to_source(value)) == value
    assert args_source([value, 1]) == f"{to_source(value)}, 1"


def test_to_source_nan() -> None:
    assert math.isnan(eval_expected(to_source(math.nan)))


def test_doctest_examples() -> None:
    prompt = 'def f(x):\n    """\n    >>> f(1)\n    2\n    >>> g(1)\n    3\n    >>> f(\n    """\n'
    assert doctest_examples(prompt, "f") == [("f(1)", "2")]
