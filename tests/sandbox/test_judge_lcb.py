"""LiveCodeBench's grading rules (compare ``lcb``): a table of outputs with the verdict LiveCodeBench's
evaluator (``lcb_runner/evaluation/testing_util.py``) gives, checked on the pure comparison and end to end
through the real local sandbox (the program prints or returns the row's output; the supervisor judges it).

Rules the rows pin down. stdin/stdout: both texts stripped, split on "\\n", each line stripped; the line
counts must agree; a line that differs passes only when both lines are whitespace-separated numbers with equal
Decimal values (no tolerance). Functional: a returned tuple becomes a list (top level only), then Python
``==`` (no float tolerance; 1 == 1.0 and True == 1 hold).
"""

from __future__ import annotations

import json

import pytest
from semtrace.sandbox import judge
from semtrace.sandbox.types import ExecRequest, TestCase

# (what the program prints, the expected stdout, LiveCodeBench's verdict)
STDIO_ROWS = [
    ("3\n", "3\n", True),
    ("3   \n", "3\n", True),  # trailing whitespace on a line
    ("3", "3\n\n\n", True),  # trailing blank lines / missing final newline
    ("\n\n3\n", "3\n", True),  # leading blank lines
    ("1\n\n2\n", "1\n2\n", False),  # a blank line in between is a line: counts differ
    ("1\r\n2\r\n", "1\n2\n", True),  # CRLF
    ("  3\n", "3\n", True),  # leading spaces on a line
    ("0.5\n", "0.50\n", True),  # numeric formatting: decimal values are equal
    ("1e3\n", "1000\n", True),
    ("+5 -0\n", "5 0\n", True),
    ("1.0 2\n", "1 2.00\n", True),
    ("0.333\n", "0.3333\n", False),  # no tolerance
    ("0.30000000000000004\n", "0.3\n", False),
    ("12345678901234567890\n", "12345678901234567891\n", False),  # exact, even for long integers
    ("1 2 3\n", "1  2  3\n", True),  # numbers: tokens compared, spacing free
    ("1\t2\n", "1 2\n", True),
    ("a  b\n", "a b\n", False),  # words: the stripped line must be identical
    ("Yes\n", "yes\n", False),  # case matters
    ("1,2\n", "1 2\n", False),
    ("3\n4\n", "3 4\n", False),  # one line expected, two printed
    ("3 4\n", "3\n4\n", False),
    ("nan\n", "nan\n", True),  # identical text passes before any numeric reading
    ("NaN\n", "nan\n", False),  # Decimal NaN equals nothing
    ("", "", True),
    ("", "0\n", False),
    ("1 2\n", "1 2 3\n", False),  # token counts differ
]

# (the returned value as Python source, the expected output as LiveCodeBench's JSON, its verdict)
CALL_ROWS = [
    ("[1, 2]", "[1, 2]", True),
    ("(1, 2)", "[1, 2]", True),  # a returned tuple counts as a list
    ("[(1, 2)]", "[[1, 2]]", False),  # ... at the top level only
    ("((1, 2),)", "[[1, 2]]", False),
    ("0.5", "0.5", True),
    ("0.1 + 0.2", "0.3", False),  # no float tolerance
    ("1", "1.0", True),  # Python ==
    ("True", "1", True),
    ("'1'", "1", False),
    ("None", "null", True),
    ("{'a': [1, 2]}", '{"a": [1, 2]}', True),
    ("{'a': (1, 2)}", '{"a": [1, 2]}', False),
    ("[2, 1]", "[1, 2]", False),
    ("{1, 2}", "[1, 2]", False),
    ("2 ** 70", "1180591620717411303424", True),
    ("'abc'", '"abc"', True),
    ("'abc '", '"abc"', False),  # strings are not stripped
    ("[]", "[]", True),
    ("()", "[]", True),
]


def expected_source(output_json: str) -> str:
    """How the loader stores a functional test's expected output: the JSON value as Python source."""
    return repr(json.loads(output_json))


@pytest.mark.parametrize(("printed", "expected", "verdict"), STDIO_ROWS)
def test_stdout_rule(printed: str, expected: str, verdict: bool) -> None:
    ok, message = judge.lcb_stdout(printed, expected)
    assert ok is verdict, message
    assert bool(message) is not verdict


@pytest.mark.parametrize(("returned", "expected", "verdict"), CALL_ROWS)
def test_functional_rule(returned: str, expected: str, verdict: bool) -> None:
    actual = judge.decode(judge.encode(eval(returned)))  # what the supervisor sees of the returned value
    assert judge.judge("lcb", actual, judge.eval_expected(expected_source(expected)), 0.0) is verdict


def test_the_default_modes_are_unchanged() -> None:
    """Where LiveCodeBench's rules differ from semtrace's defaults, the defaults stay for other benchmarks."""
    assert judge.judge("eq", 0.1 + 0.2, 0.3, 0.0)  # eq: float tolerance
    assert not judge.judge("lcb", 0.1 + 0.2, 0.3, 0.0)
    assert not judge.judge("eq", (1, 2), [1, 2], 0.0)
    assert judge.judge("lcb", (1, 2), [1, 2], 0.0)


ECHO_STDIO = ("import sys\ndata = sys.stdin.read()\nsys.stdout.write(data)\n"
              "if 'EXIT' in data:\n    sys.exit()\n")
ECHO_CALL = "def echo(value):\n    return value\n"


async def test_stdout_rows_end_to_end(local_sandbox) -> None:
    rows = [*STDIO_ROWS, ("EXIT\n", "EXIT", True)]  # LiveCodeBench grades what was printed before exit()
    tests = tuple(TestCase(kind="stdio", stdin=printed, expected=expected, compare="lcb")
                  for printed, expected, _ in rows)
    result = await local_sandbox.run(ExecRequest(code=ECHO_STDIO, tests=tests))
    got = [o.status for o in result.tests]
    assert got == ["passed" if v else "failed" for _, _, v in rows]


async def test_stdout_default_mode_end_to_end(local_sandbox) -> None:
    tests = (TestCase(kind="stdio", stdin="0.5\n", expected="0.50\n"),
             TestCase(kind="stdio", stdin="0.5\n", expected="0.50\n", compare="lcb"))
    result = await local_sandbox.run(ExecRequest(code=ECHO_STDIO, tests=tests))
    assert [o.status for o in result.tests] == ["failed", "passed"]


async def test_functional_rows_end_to_end(local_sandbox) -> None:
    tests = tuple(TestCase(kind="call", func="echo", args=returned, expected=expected_source(expected),
                           compare="lcb") for returned, expected, _ in CALL_ROWS)
    result = await local_sandbox.run(ExecRequest(code=ECHO_CALL, tests=tests, entry_point="echo"))
    assert [o.status for o in result.tests] == ["passed" if v else "failed" for _, _, v in CALL_ROWS]
    wrong = result.tests[2]
    assert "expected [[1, 2]]" in wrong.message and "[(1, 2)]" in wrong.message


async def test_an_always_equal_object_is_still_refused(local_sandbox) -> None:
    """Deliberately stricter than LiveCodeBench (whose ``prediction == expected`` runs the candidate's own
    ``__eq__``): the supervisor compares builtin values only, so such an object never passes."""
    code = "class Any:\n    def __eq__(self, other):\n        return True\n\ndef f():\n    return Any()\n"
    test = TestCase(kind="call", func="f", args="", expected="[1, 2]", compare="lcb")
    result = await local_sandbox.run(ExecRequest(code=code, tests=(test,), entry_point="f"))
    assert result.tests[0].status == "failed"


async def test_the_stdin_forms_that_work(local_sandbox) -> None:
    programs = ["print(sum(map(int, input().split())))\n",
                "import sys\nprint(sum(map(int, sys.stdin.readline().split())))\n",
                "import sys\nprint(sum(map(int, sys.stdin.read().split())))\nsys.exit(0)\n",
                "import sys\nfor line in sys.stdin:\n    print(sum(map(int, line.split())))\n",
                "import sys\nprint(sum(map(int, sys.stdin.buffer.read().split())))\n",
                "print(sum(map(int, open(0).read().split())))\n",
                "import sys\nsys.stdout.buffer.write(b'3\\n')\n",
                "import sys, os\nprint(sum(map(int, sys.stdin.read().split())), end='')\nsys.stdout.buffer.write(b'\\n')\n",
                "import sys\nprint(sum(map(int, sys.stdin.read().split())))\nsys.exit(1)\n"]  # LCB grades the output
    test = TestCase(kind="stdio", stdin="1 2\n", expected="3\n", compare="lcb")
    for code in programs:
        result = await local_sandbox.run(ExecRequest(code=code, tests=(test,)))
        assert result.tests[0].status == "passed", code


async def test_a_non_zero_exit_is_an_error_outside_lcb_mode(local_sandbox) -> None:
    code = "import sys\nprint(sum(map(int, sys.stdin.read().split())))\nsys.exit(1)\n"
    test = TestCase(kind="stdio", stdin="1 2\n", expected="3\n")
    result = await local_sandbox.run(ExecRequest(code=code, tests=(test,)))
    assert result.tests[0].status == "error" and "SystemExit" in result.tests[0].message
