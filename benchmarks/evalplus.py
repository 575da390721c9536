"""EvalPlus: HumanEval+ (v0.1.10, 164 tasks) and MBPP+ (v0.2.0, 378 tasks); also the test source of MBPP-R.

Field mapping: ``task_id`` -> task_id; ``prompt`` -> prompt; ``entry_point`` -> entry_point; the reference is
``prompt + canonical_solution`` (HumanEval+) or ``canonical_solution`` (MBPP+); ``base_input`` (the original
tests' arguments) and ``plus_input`` (EvalPlus's extra inputs) become ``call`` tests with ``args`` = the arguments
as Python source and ``atol`` from the dataset. EvalPlus stores no expected outputs: they come from running the
reference once in the sandbox (``calibrate.py``), which also sets each test's time limit to
``max(floor, factor x reference time)`` (EvalPlus defaults 1 s and 4x). MBPP+ inputs are JSON, so tuples, sets and
complex numbers are restored per task exactly as EvalPlus's MBPP input deserializer does (table below).
EvalPlus's special oracles are kept: HumanEval/32 (``find_zero``) is judged by ``|poly(xs, x)| <= atol``; MBPP+
tasks whose answer is a set are compared as sets, ``check_str``-style tasks by "returns something / None",
Mbpp/164 accepts any output, Mbpp/295 also accepts 0, Mbpp/558 and Mbpp/581 also accept an alternative formula.

Visible/hidden split: HumanEval+ shows the docstring examples (as HumanEval); MBPP+ shows the first base input (the
one example assert its prompt contains). Hidden = every base and plus input (the EvalPlus score).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semtrace.benchmarks.common import args_source, rows_to
from semtrace.benchmarks.registry import TIME_FACTOR, TIME_FLOOR, Benchmark
from semtrace.benchmarks.task import Task
from semtrace.sandbox.types import TestCase

HUMANEVAL_PLUS_FILE = "humanevalplus/HumanEvalPlus-v0.1.10.jsonl.gz"
HUMANEVAL_PLUS_URL = "https://github.com/evalplus/humanevalplus_release/releases/download/v0.1.10/HumanEvalPlus.jsonl.gz"
MBPP_PLUS_FILE = "mbppplus/MbppPlus-v0.2.0.jsonl.gz"
MBPP_PLUS_URL = "https://github.com/evalplus/mbppplus_release/releases/download/v0.2.0/MbppPlus.jsonl.gz"


@dataclass(frozen=True)
class PlusProblem:
    """One EvalPlus problem before its expected outputs are known."""

    task_id: str
    dataset: str  # "humaneval" | "mbpp"
    prompt: str
    entry_point: str
    reference: str
    inputs: tuple[str, ...]  # argument source per test, base inputs first
    n_base: int
    atol: float


# --------------------------------------------------------------------------------------------- MBPP+ input types
# Which MBPP+ tasks take tuples/sets/complex numbers that JSON stored as lists/strings (EvalPlus data/mbpp.py).


def _tuples(x: Any) -> Any:
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x


def _restore_mbpp_args(number: int, args: list[Any]) -> list[Any]:
    if number in {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726,
                  740, 744, 809}:
        return [tuple(a) for a in args]  # every argument is a tuple
    if number in {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}:
        return [[tuple(item) for item in a] for a in args]  # every argument is a list of tuples
    if number in {75, 413, 444, 753}:
        return [[tuple(item) for item in args[0]], args[1]]
    if number in {106, 750}:
        return [args[0], tuple(args[1])]
    if number == 115:  # EvalPlus writes empty members as {} (an empty dict); kept as upstream does
        return [[set(item) if isinstance(item, list) and item else {} for item in args[0]]]
    if number == 124:
        return [float(args[0]), complex(args[1])]
    if number in {250, 405, 446, 617, 720, 763, 808}:
        return [tuple(args[0]), *args[1:]]
    if number in {259, 401, 445}:
        return [tuple(tuple(item) for item in a) for a in args]
    if number == 278:
        return [tuple(tuple(item) if isinstance(item, list) else item for item in args[0])]
    if number == 307:
        return [tuple(args[0]), args[1], args[2]]
    if number == 722:
        return [{k: tuple(v) for k, v in args[0].items()}, *args[1:]]
    if number == 252:
        return [complex(args[0])]
    if number in {580, 615, 791}:
        return [_tuples(a) for a in args]
    return args


def read_problems(path: Path, dataset: str) -> list[PlusProblem]:
    """Every row as a PlusProblem; a row that does not fit (a missing field, ...) is one DataError naming the file,
    the row and the task."""

    def problem(row: dict[str, Any]) -> PlusProblem:
        number = int(row["task_id"].split("/")[-1])
        inputs = list(row["base_input"]) + list(row["plus_input"])
        if dataset == "mbpp":
            inputs = [_restore_mbpp_args(number, list(args)) for args in inputs]
        reference = (row["prompt"] + row["canonical_solution"]) if dataset == "humaneval" else row["canonical_solution"]
        return PlusProblem(
            task_id=row["task_id"], dataset=dataset, prompt=row["prompt"], entry_point=row["entry_point"],
            reference=reference, inputs=tuple(args_source(a) for a in inputs), n_base=len(row["base_input"]),
            atol=float(row.get("atol") or 0.0))

    return rows_to(path, problem)


# --------------------------------------------------------------------------------------------- tests and oracles

SET_EQ = {"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly", "larg_nnum",
          "intersection_array", "find_dissimilar", "Diff"}
NOT_NONE = {"check_str", "text_match_three", "text_starta_endb"}
MBPP_ORACLES = SET_EQ | NOT_NONE | {"are_equivalent", "sum_div", "surface_Area", "digit_distance_nums"}

# Setup code every EvalPlus task's tests run with. The oracles are judged outside the candidate now (compare modes
# of ``sandbox/judge.py``), so nothing is needed; kept as a named hook for the loaders that pass it on.
ORACLE_SETUP = ""
DIGEST_PREFIX = "sha256:"  # an expected output too large to ship as source: compared by ``judge.digest``


def _pyramid_area(base_edge: float, height: float) -> float:
    return round(base_edge ** 2 + 2 * base_edge * math.sqrt((base_edge / 2) ** 2 + height ** 2))


def _digit_distance(a: int, b: int) -> int:
    x, y = str(a), str(b)
    n = max(len(x), len(y))
    return sum(abs(int(p) - int(q)) for p, q in zip(x.zfill(n), y.zfill(n)))


def _args(args: str) -> tuple[Any, ...]:
    from semtrace.sandbox.judge import eval_expected

    return tuple(eval_expected(f"({args},)"))


def _not_none_expected(recorded: str) -> bool:
    """EvalPlus judges these tasks by "returned something": the reference's output (a bool, None or a Match
    object, recorded as ``repr:<...>``) -> the bool a correct program's output must match."""
    text = recorded.removeprefix("repr:").strip()
    if text in ("True", "False"):
        return text == "True"
    return text != "None"


def plus_test(problem: PlusProblem, i: int, expected: str | None, timeout: float | None) -> TestCase:
    """The TestCase for input ``i``: a parent-judged ``call`` test, or an ``assert`` for a special oracle."""
    args, entry, atol = problem.inputs[i], problem.entry_point, problem.atol
    name = f"{'base' if i < problem.n_base else 'plus'}{i if i < problem.n_base else i - problem.n_base}"
    common: dict[str, Any] = {"timeout": timeout, "name": name}
    if expected is None:
        return TestCase(kind="call", func=entry, args=args, expected=None, atol=atol, **common)
    if problem.dataset == "humaneval" and entry == "find_zero":  # any root will do: |poly(x)| <= atol
        return TestCase(kind="call", func=entry, args=args, expected=args, compare="poly_root", atol=atol or 1e-6,
                        **common)
    oracle = problem.dataset == "mbpp" and entry in MBPP_ORACLES
    if expected.startswith(DIGEST_PREFIX):
        if oracle:
            raise ValueError(f"{problem.task_id} input {i}: a special oracle needs the full expected output")
        return TestCase(kind="call", func=entry, args=args, expected=expected, compare="digest", **common)
    if oracle:  # EvalPlus's special oracles, each judged from the value outside the candidate
        if entry == "are_equivalent":  # any return passes (EvalPlus only runs it)
            return TestCase(kind="call", func=entry, args=args, expected="None", compare="returns", **common)
        if entry == "sum_div":
            return TestCase(kind="call", func=entry, args=args, expected=f"({expected}, 0)", compare="in",
                            atol=atol, **common)
        if entry in ("surface_Area", "digit_distance_nums"):
            alt = _pyramid_area(*_args(args)) if entry == "surface_Area" else _digit_distance(*_args(args))
            return TestCase(kind="call", func=entry, args=args, expected=f"({expected}, {alt!r})", compare="in",
                            atol=atol, **common)
        if entry in SET_EQ:
            return TestCase(kind="call", expr=f"set(candidate({args}))", expected=f"set({expected})",
                            atol=atol, **common)
        return TestCase(kind="call", func=entry, args=args, expected=repr(_not_none_expected(expected)),
                        compare="not_none", **common)
    if expected.startswith("repr:"):
        raise ValueError(f"{problem.task_id} input {i}: the reference returned a non-builtin value "
                         f"{expected[5:60]!r}; no oracle knows how to compare it")
    return TestCase(kind="call", func=entry, args=args, expected=expected, atol=atol, **common)


def judged_tests(problem: PlusProblem, expected: list[str], timeouts: list[float]) -> list[TestCase]:
    return [plus_test(problem, i, expected[i], timeouts[i]) for i in range(len(problem.inputs))]


def load_plus(data_dir: Path, rel: str, dataset: str, sandbox: str, floor: float = TIME_FLOOR,
              factor: float = TIME_FACTOR) -> list[Task]:
    from semtrace.benchmarks.calibrate import calibrate
    from semtrace.benchmarks.humaneval import visible_from_docstring

    path = data_dir / rel
    problems = read_problems(path, dataset)
    calib = calibrate(problems, path, sandbox=sandbox, floor=floor, factor=factor)
    tasks = []
    for p in problems:
        hidden = judged_tests(p, calib.expected[p.task_id], calib.timeouts(p.task_id))
        if dataset == "humaneval":
            visible = visible_from_docstring(p.task_id, p.prompt, p.entry_point) or hidden[:1]
        else:
            visible = hidden[:1]
        tasks.append(Task(
            task_id=p.task_id, kind="synthesis", prompt=p.prompt, entry_point=p.entry_point,
            visible_tests=tuple(visible), hidden_tests=tuple(hidden), reference=p.reference,
            test_setup=ORACLE_SETUP, metadata={"dataset": f"{dataset}-plus", "n_base": p.n_base, "atol": p.atol}))
    return tasks


def load_humaneval_plus(data_dir: Path, sandbox: str = "local", floor: float = TIME_FLOOR,
                        factor: float = TIME_FACTOR) -> list[Task]:
    return load_plus(data_dir, HUMANEVAL_PLUS_FILE, "humaneval", sandbox, floor, factor)


def load_mbpp_plus(data_dir: Path, sandbox: str = "local", floor: float = TIME_FLOOR, factor: float = TIME_FACTOR) -> list[Task]:
    return load_plus(data_dir, MBPP_PLUS_FILE, "mbpp", sandbox, floor, factor)


HUMANEVAL_PLUS = Benchmark(
    name="humaneval-plus",
    description="HumanEval+ (EvalPlus v0.1.10): 164 tasks, base + plus inputs (outputs from the reference, cached)",
    loader=load_humaneval_plus,
    files={HUMANEVAL_PLUS_FILE: HUMANEVAL_PLUS_URL},
    needs_sandbox=True,
)
MBPP_PLUS = Benchmark(
    name="mbpp-plus",
    description="MBPP+ (EvalPlus v0.2.0): 378 tasks, base + plus inputs (outputs from the reference, cached)",
    loader=load_mbpp_plus,
    files={MBPP_PLUS_FILE: MBPP_PLUS_URL},
    needs_sandbox=True,
)
