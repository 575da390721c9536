"""MBPP (google-research/mbpp): the full set (974 tasks) and the hand-verified sanitized subset (427 tasks).

Field mapping (full, ``mbpp.jsonl``): ``task_id`` -> ``"MBPP/<id>"``; ``text`` + the first test -> prompt (as a
docstring, the layout MBPP+ uses); ``code`` -> reference; ``test_setup_code`` -> test_setup; ``test_list`` (three
asserts) -> tests, one ``assert`` TestCase each; the entry point is the function the first test calls.
``challenge_test_list`` is kept in metadata and not run (the standard evaluation uses ``test_list``).
Sanitized (``sanitized-mbpp.json``): ``prompt`` -> text, ``test_imports`` -> test_setup, otherwise the same.

Visible/hidden split (the MBPP prompt convention, as in MBPP+ and the self-debugging papers that show the model
one example): the first test is visible; all tests (the first included) are hidden, i.e. the official score.
Known broken upstream: tasks 367 and 927 build their test trees in ``test_setup_code`` with a ``Node`` class that
nothing but the reference defines (upstream every program fails them; here the reference passes, since the setup
runs after the program, but a candidate must guess the class). They are listed in ``known_broken`` either way.
"""

from __future__ import annotations

import ast
import builtins
import warnings
from pathlib import Path
from typing import Any

from semtrace.benchmarks.common import rows_to
from semtrace.benchmarks.registry import Benchmark
from semtrace.benchmarks.task import Task
from semtrace.sandbox.types import TestCase

FILE = "mbpp/mbpp.jsonl"
SANITIZED_FILE = "mbpp/sanitized-mbpp.json"
URL = "https://github.com/google-research/google-research/raw/master/mbpp/mbpp.jsonl"
SANITIZED_URL = "https://github.com/google-research/google-research/raw/master/mbpp/sanitized-mbpp.json"

_NODE = ("test_setup_code builds its trees with a Node class that it never defines and the prompt never "
         "mentions: upstream, where the setup runs before the program, every program fails; in semtrace the "
         "setup runs after the program, so the reference (which defines Node) passes, but a candidate passes "
         "only if it happens to define Node(data) with .left/.right")
KNOWN_BROKEN = {"MBPP/367": _NODE, "MBPP/927": _NODE}


def entry_point_of(assert_source: str, code: str) -> str:
    """The function the test calls that the reference defines (else the first non-builtin call)."""
    try:
        with warnings.catch_warnings():  # MBPP code has invalid escapes like '\d' in plain strings
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            tree = ast.parse(code.replace("\r\n", "\n"))
        defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    except SyntaxError:
        defined = []
    called = [n.func.id for n in ast.walk(ast.parse(assert_source.strip()))
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    for name in called:
        if name in defined:
            return name
    return next((n for n in called if n not in dir(builtins)), defined[-1] if defined else "")


def make_task(task_id: str, text: str, code: str, tests: list[str], setup: str, dataset: str,
              extra: dict[str, Any] | None = None) -> Task:
    tests = [t.strip() for t in tests if t.strip()]
    entry = entry_point_of(tests[0], code)
    cases = tuple(TestCase(kind="assert", source=t, name=f"test{i}") for i, t in enumerate(tests))
    prompt = f'"""\n{text.strip()}\n{tests[0]}\n"""\n'
    return Task(
        task_id=task_id,
        kind="synthesis",
        prompt=prompt,
        entry_point=entry,
        visible_tests=cases[:1],
        hidden_tests=cases,
        reference=code.replace("\r\n", "\n"),
        test_setup=setup.replace("\r\n", "\n"),
        metadata={"dataset": dataset, **(extra or {})},
    )


def load(data_dir: Path) -> list[Task]:
    return rows_to(data_dir / FILE, lambda row: make_task(
        f"MBPP/{row['task_id']}", row["text"], row["code"], row["test_list"], row["test_setup_code"], "mbpp",
        {"challenge_tests": row.get("challenge_test_list", [])}))


def load_sanitized(data_dir: Path) -> list[Task]:
    return rows_to(data_dir / SANITIZED_FILE, lambda row: make_task(
        f"MBPP/{row['task_id']}", row["prompt"], row["code"], row["test_list"],
        "\n".join(row.get("test_imports", [])), "mbpp-sanitized"))


MBPP = Benchmark(
    name="mbpp",
    description="MBPP full: 974 basic Python tasks (first test visible, all three hidden)",
    loader=load,
    files={FILE: URL},
    known_broken=KNOWN_BROKEN,
)
MBPP_SANITIZED = Benchmark(
    name="mbpp-sanitized",
    description="MBPP sanitized: 427 hand-verified tasks (first test visible, all hidden)",
    loader=load_sanitized,
    files={SANITIZED_FILE: SANITIZED_URL},
)
