"""The runner's semantics through the local back end: judging outside the candidate, limits, crashes."""

from __future__ import annotations

import sys

import pytest

from semtrace.sandbox import convert, judge
from semtrace.sandbox.types import ExecRequest, Limits, TestCase

FAST = Limits(wall_time=1.0, load_time=5.0, memory_mb=512)


def req(code: str, *tests: TestCase, entry: str = "f", **kw) -> ExecRequest:
    return ExecRequest(code=code, tests=tests, entry_point=entry, limits=kw.pop("limits", FAST), **kw)


def a(source: str) -> TestCase:
    return TestCase(kind="assert", source=source)


async def test_pass_fail_error_and_messages(local_sandbox):
    r = await local_sandbox.run(req("def f(x):\n    return x * 2\n",
                                    a("assert f(2) == 4"), a("assert candidate(3) == 7"), a("assert f('a', 1)")))
    assert [t.status for t in r.tests] == ["passed", "failed", "error"]
    assert r.status == "failed"
    assert r.tests[1].message == "expected 7, got 6" and r.tests[1].actual == "6"
    assert r.tests[2].message.startswith("TypeError")


async def test_always_true_eq_does_not_pass(local_sandbox):
    code = ("class Liar:\n    def __eq__(self, other):\n        return True\n    def __bool__(self):\n"
            "        return True\n\nclass LyingInt(int):\n    def __eq__(self, other):\n        return True\n\n"
            "def f(x):\n    return Liar() if x else LyingInt(5)\n")
    r = await local_sandbox.run(req(code, a("assert f(1) == 3"), a("assert f(0) == 3"), a("assert 3 == f(1)"),
                                    a("assert f(1)"), TestCase(kind="call", args="1", expected="[1]")))
    assert [t.status for t in r.tests] == ["failed"] * 5
    assert r.status == "failed"


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)", "raise SystemExit"])
async def test_exiting_before_the_tests_is_not_passing(local_sandbox, exit_call):
    at_module = f"import os, sys\n{exit_call}\ndef f(x):\n    return x\n"
    in_function = f"import os, sys\ndef f(x):\n    {exit_call}\n"
    for code in (at_module, in_function):
        r = await local_sandbox.run(req(code, a("assert f(1) == 1"), a("assert f(2) == 2")))
        assert r.status != "passed", code
        assert all(t.status != "passed" for t in r.tests)


async def test_a_failure_of_the_childs_own_code_is_named_on_stderr_and_never_a_pass(local_sandbox):
    """A candidate that breaks what the child itself calls (here ``len``, which the reporter calls on every
    report): the test left without its report is an error, never a pass; the next test runs in a fresh child; and
    the cause is one line on stderr rather than silence. (Test code itself is trusted and runs in the assert
    judge, so the candidate's own function does the breaking.)"""
    code = "x = 1\ndef brk():\n    import builtins\n    builtins.len = None\n    return 1\n"
    r = await local_sandbox.run(req(code, a("assert x == 2"), a("assert brk() == 1"), a("assert x == 1"),
                                    a("assert x == 1")))
    assert [t.status for t in r.tests] == ["failed", "error", "passed", "passed"]
    assert "semtrace child: internal error at child.py:" in r.stderr and "TypeError" in r.stderr


async def test_assert_becomes_parent_judged_call():
    converted = convert.to_call_test({"kind": "assert", "source": "assert add(1, b=[2]) == (3, 'x')"}, "add",
                                     "def add(a, b): pass", "")
    assert converted["kind"] == "call" and converted["func"] == "add"
    assert converted["args"] == "1, b=[2]" and converted["expected"] == "(3, 'x')"
    close = convert.to_call_test({"kind": "assert", "source": "assert abs(add(1, 2) - 3) < 1e-6"}, "add", "", "")
    assert close["compare"] == "isclose" and close["atol"] == 1e-6 and close["expected"] == "3"
    iso = convert.to_call_test({"kind": "assert", "source": "assert math.isclose(add(1), 2.5, rel_tol=0.01)"},
                               "add", "", "")
    assert iso["compare"] == "isclose" and iso["rtol"] == 0.01
    helper = convert.to_call_test({"kind": "assert", "source": "assert sorted(add(1)) == [1]"}, "add", "", "")
    assert helper["kind"] == "call" and helper["expr"] == "sorted(add(1))" and helper["func"] is None
    member = convert.to_call_test({"kind": "assert", "source": "assert add(1) in (2, 0)"}, "add", "", "")
    assert member["compare"] == "in" and member["expected"] == "(2, 0)"
    zero = convert.to_call_test({"kind": "assert", "source": "assert add(1) is 0"}, "add", "", "")
    assert zero["kind"] == "assert"  # `is 0` is not `is False`
    for kept in ("assert add(1) > 2", "assert isinstance(add(1), int)", "x = add(1)\nassert x == 2"):
        assert convert.to_call_test({"kind": "assert", "source": kept}, "add", "", "")["kind"] == "assert", kept


async def test_converted_forms_are_judged_by_value(local_sandbox):
    code = "def f(x):\n    return [x, x + 1]\n"
    r = await local_sandbox.run(req(code, a("assert sorted(f(1)) == [1, 2]"), a("assert set(f(1)) == {3}"),
                                    a("assert f(1)[0] in (1, 5)"), a("assert abs(f(1)[1] - 2.0) <= 1e-9"),
                                    a("assert f(1)[0] in (7, 8)")))
    assert [t.status for t in r.tests] == ["passed", "failed", "passed", "passed", "failed"]
    assert r.tests[4].message == "expected one of (7, 8), got 1"


async def test_float_tolerance_and_types(local_sandbox):
    code = "def f(x):\n    return x / 3\n"
    tests = (TestCase(kind="call", args="1", expected="0.3333333"),
             TestCase(kind="call", args="1", expected="0.33", atol=0.01),
             TestCase(kind="call", args="1", expected="0.4"),
             TestCase(kind="call", args="3", expected="1"))
    r = await local_sandbox.run(req(code, *tests))
    assert [t.status for t in r.tests] == ["passed", "passed", "failed", "passed"]


async def test_record_only_and_stdio(local_sandbox):
    r = await local_sandbox.run(req("def f(x):\n    return {x: [x, (x,)]}\n", TestCase(kind="call", args="2")))
    assert r.passed and r.tests[0].actual == "{2: [2, (2,)]}"
    prog = "n = int(input())\nprint(n * 2)\n"
    r = await local_sandbox.run(req(prog, TestCase(kind="stdio", stdin="4\n", expected="8\n"),
                                    TestCase(kind="stdio", stdin="5\n", expected="11")))
    assert [t.status for t in r.tests] == ["passed", "failed"]


async def test_timeout_crash_oom_and_recovery(local_sandbox):
    code = ("import ctypes, time\ndef f(x):\n    if x == 0:\n        while True:\n            pass\n"
            "    if x == 1:\n        ctypes.string_at(0)\n    if x == 2:\n        b = []\n        while True:\n"
            "            b.append(bytearray(10**7))\n    return x\n")
    r = await local_sandbox.run(req(code, a("assert f(0) == 0"), a("assert f(1) == 1"), a("assert f(2) == 2"),
                                    a("assert f(3) == 3")))
    assert [t.status for t in r.tests] == ["timeout", "error", "oom", "passed"]
    assert "SIGSEGV" in r.tests[1].message
    assert r.status == "timeout"


async def test_output_is_capped_and_leftovers_killed(local_sandbox, tmp_path):
    marker = tmp_path / "alive"
    code = ("import subprocess, sys\ndef f(x):\n    sys.stdout.write('x' * 5_000_000)\n"
            f"    subprocess.Popen(['sh', '-c', 'sleep 2; touch {marker}'], start_new_session=True)\n"
            "    return x\n")
    limits = Limits(wall_time=5.0, output_bytes=1000)
    r = await local_sandbox.run(req(code, a("assert f(1) == 1"), limits=limits))
    assert r.passed
    assert len(r.stdout) < 1100 and "more bytes" in r.stdout
    import asyncio
    await asyncio.sleep(2.5)
    assert not marker.exists(), "a process left behind by the candidate survived the request"


async def test_module_state_is_shared_across_tests_like_a_check_function(local_sandbox):
    code = "def f(x, acc=[]):\n    acc.append(x)\n    return len(acc)\n"
    r = await local_sandbox.run(req(code, a("assert f(1) == 1"), a("assert f(1) == 1")))
    assert [t.status for t in r.tests] == ["passed", "failed"]


async def test_load_errors_and_setup(local_sandbox):
    r = await local_sandbox.run(req("def f(x) return x\n", a("assert f(1) == 1")))
    assert r.status == "error" and "SyntaxError" in r.message
    r = await local_sandbox.run(req("def f(x):\n    return math.floor(x)\n", a("assert f(1.5) == 1"),
                                    test_setup="import math"))
    assert r.status == "error"  # setup names are visible to tests, not to the candidate's own globals
    r = await local_sandbox.run(req("import math\ndef f(x):\n    return math.floor(x)\n",
                                    a("assert f(HALF) == 1"), test_setup="HALF = 1.5"))
    assert r.passed


async def test_environment_is_clean(local_sandbox, monkeypatch):
    monkeypatch.setenv("SEMTRACE_SECRET_KEY", "sk-canary")
    from semtrace.sandbox.local import LocalSandbox

    sandbox = LocalSandbox(concurrency=1)
    try:
        r = await sandbox.run(req("import os\ndef f():\n    return os.environ.get('SEMTRACE_SECRET_KEY')\n",
                                  a("assert f() is None"), entry="f"))
    finally:
        await sandbox.close()
    assert r.passed, r


def test_runner_is_stdlib_only():
    import ast
    from pathlib import Path

    from semtrace.sandbox.pool import RUNNER_DIR

    from semtrace.sandbox.pool import RUNNER_FILES

    allowed = set(sys.stdlib_module_names) | {Path(n).stem for n in RUNNER_FILES}
    for name in RUNNER_FILES:
        tree = ast.parse((RUNNER_DIR / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [n.name.split(".")[0] for n in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [(node.module or "").split(".")[0]]
            else:
                continue
            assert set(mods) <= allowed, (name, mods)
    assert Path(RUNNER_DIR / "runner.py").exists()


async def test_library_subclasses_and_truthiness(local_sandbox):
    code = ("import collections, re\ndef f(s):\n    return collections.Counter(s)\n"
            "def g(s):\n    return re.match('a+', s)\n"
            "class Yes:\n    def __bool__(self):\n        return True\n"
            "def h(s):\n    return Yes()\n")
    r = await local_sandbox.run(req(code, a("assert f('aab') == {'a': 2, 'b': 1}"), a("assert g('aa')"),
                                    a("assert not g('b')"), a("assert g('b')"), a("assert h('x')")))
    # a Counter equals its dict; a re.Match's truth is trusted; a type the candidate defined is not
    assert [t.status for t in r.tests] == ["passed", "passed", "passed", "failed", "failed"]


async def test_trace_selection_and_reproducible_hashing(local_sandbox):
    from semtrace.sandbox.types import TraceSpec

    code = "def f(x):\n    s = {'alpha', 'beta', 'gamma', str(x)}\n    return sorted(s)[0] if x > 1 else x\n"
    tests = (a("assert f(1) == 1"), a("assert f(2) == 'x'"), a("assert f(3) == 'y'"), a("assert f(0) == 0"))
    first = await local_sandbox.run(req(code, *tests, trace=TraceSpec()))
    assert [t.status for t in first.tests] == ["passed", "failed", "failed", "passed"]
    assert [t.test_index for t in first.traces] == [1]
    both = await local_sandbox.run(req(code, *tests, trace=TraceSpec(max_failing=2, include_passing=True)))
    assert [t.test_index for t in both.traces] == [0, 1, 2]
    explicit = await local_sandbox.run(req(code, *tests, trace=TraceSpec(tests=(3,))))
    assert [t.test_index for t in explicit.traces] == [3]
    # string-set iteration order is fixed (PYTHONHASHSEED=0): a fresh runner process gives the same trace
    from semtrace.sandbox.local import LocalSandbox

    fresh = LocalSandbox(concurrency=1)
    try:
        again = await fresh.run(req(code, *tests, trace=TraceSpec()))
    finally:
        await fresh.close()
    assert again.traces == first.traces


@pytest.mark.parametrize("loops", [3, 600])  # a trace sent ahead of its verdict, and one that waits for it
async def test_traces_kept_are_the_ones_the_verdicts_ship(local_sandbox, loops):
    from semtrace.sandbox.child import AHEAD_EVENTS
    from semtrace.sandbox.types import TraceSpec

    code = f"def f(x):\n    t = 0\n    for k in range({loops}):\n        t += k\n    return x\n"
    tests = (a("assert f(1) == 1"), a("assert f(2) == 3"), a("assert f(3) == 3"), a("assert f(4) == 5"))
    small = loops * 2 < AHEAD_EVENTS
    assert small == (loops == 3)
    first = await local_sandbox.run(req(code, *tests, trace=TraceSpec(max_events=5000)))
    assert [t.status for t in first.tests] == ["passed", "failed", "passed", "failed"]
    assert [t.test_index for t in first.traces] == [1]  # the passing test 0 was traced, its trace dropped
    both = await local_sandbox.run(req(code, *tests, trace=TraceSpec(max_events=5000, include_passing=True)))
    assert [t.test_index for t in both.traces] == [0, 1]  # then tracing stops: tests 2 and 3 go untraced
    assert (len(both.traces[0].events) <= AHEAD_EVENTS) == small


async def test_whole_stdout_comes_back_every_time():
    """The child flushes before it reports and the judge drains to EOF: 1,000 runs, never a line lost."""
    import asyncio

    from semtrace.sandbox.local import LocalSandbox

    code = "def f(n):\n    for i in range(n):\n        print('line', i, 'x' * 40)\n    return n\n"
    want = "".join(f"line {i} {'x' * 40}\n" for i in range(300))
    sandbox = LocalSandbox(concurrency=4)
    try:
        results = await asyncio.gather(*(sandbox.run(req(code, TestCase(kind="call", args="300", expected="300")))
                                         for _ in range(1000)))
    finally:
        await sandbox.close()
    lost = [r for r in results if r.stdout != want or not r.passed]
    assert not lost, f"{len(lost)} of 1000 runs lost output; first: {lost[0].stdout[-200:]!r}"


async def test_record_mode_returns_whole_values(local_sandbox):
    code = ("def f(kind):\n    if kind == 'big':\n        return 7 ** 20000\n    if kind == 'long':\n"
            "        return list(range(5000))\n    return 'x' * 100\n")
    tests = tuple(TestCase(kind="call", args=repr(k)) for k in ("big", "long", "short"))
    r = await local_sandbox.run(req(code, *tests, record=True, limits=Limits(wall_time=5.0)))
    assert r.passed, r
    big, long, short = (t.decoded() for t in r.tests)
    assert big == 7 ** 20000 and long == list(range(5000)) and short == "x" * 100
    assert len(r.tests[1].actual or "") < 1100  # the repr for people stays capped
    plain = await local_sandbox.run(req(code, *tests))
    assert all(t.value is None for t in plain.tests)  # only record mode carries values
    capped = await local_sandbox.run(req(code, tests[1], record=True, limits=Limits(value_bytes=1000)))
    assert capped.status == "error" and "too large" in capped.tests[0].message and "limit 1000" in capped.tests[0].message


async def test_judge_compares_huge_ints_and_digests(local_sandbox):
    from semtrace.sandbox.judge import digest

    code = "def f(n):\n    return 3 ** n\n"
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        huge = str(3 ** 30000)
    finally:
        sys.set_int_max_str_digits(old)
    r = await local_sandbox.run(req(code, TestCase(kind="call", args="30000", expected=huge),
                                    TestCase(kind="call", args="30000", compare="digest",
                                             expected="sha256:" + digest(3 ** 30000)),
                                    TestCase(kind="call", args="3", compare="digest", expected="sha256:" + digest(28))))
    assert [t.status for t in r.tests] == ["passed", "passed", "failed"]


async def test_a_sigkill_without_evidence_is_killed_not_oom(local_sandbox):
    code = "import os, signal\ndef f():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    r = await local_sandbox.run(req(code, TestCase(kind="call", args="", expected="1")))
    assert r.status == "killed" and "SIGKILL" in r.tests[0].message


async def test_the_memory_hunt_is_real(local_sandbox):
    """The conformance case that hunts for expected values must find one that does enter the process: here a
    call's argument (the program's input, which it must see)."""
    from semtrace.sandbox.conformance_cases import _MEMORY_HUNT, SECRET_EXPECTED

    code = _MEMORY_HUNT.replace("{{", "{").replace("}}", "}") + "def f(x):\n    return _in_my_objects()\n"
    r = await local_sandbox.run(req(code, a(f"assert f([{SECRET_EXPECTED!r}]) == {SECRET_EXPECTED!r}")))
    assert r.passed, r


async def test_claimed_verdicts_only_count_for_asserts(local_sandbox):
    code = "def f():\n    return 0\n"
    fake = ("import gc\nfor o in gc.get_objects():\n"
            "    if callable(o) and getattr(o, '__name__', '') == 'send' and getattr(o, '__closure__', None):\n"
            "        o('done', i=0, kind='ok', traced=False)\n")
    r = await local_sandbox.run(req(fake, TestCase(kind="stdio", stdin="", expected="1")))
    assert r.status == "failed"  # no report kind claims a verdict: the forged line is ignored, the stdout judged
    served = fake.replace("kind='ok'", "kind='served'")
    for program in (fake + code.replace("0", "1"), served + code.replace("0", "1")):
        # an assert is the judge's, whatever the child says about it (here through every sender it can find: the
        # forged line on the judge's answer channel is out of turn, so the test cannot even be judged)
        r = await local_sandbox.run(req(program, a("x = f()\nassert x == 0"), a("assert f() + 1 == 1")))
        assert r.tests and all(t.status in ("failed", "error") for t in r.tests), r


async def test_values_too_large_to_ship_travel_as_digests(local_sandbox):
    from semtrace.sandbox.judge import Digest, digest

    code = "def f(n):\n    return list(range(n))\n"  # past judge.MAX_ENCODED_ITEMS
    big = list(range(5_500_000))
    rec = await local_sandbox.run(req(code, TestCase(kind="call", args="5_500_000"), record=True,
                                      limits=Limits(wall_time=30.0)))
    value = rec.tests[0].decoded()
    assert rec.passed and isinstance(value, Digest) and value.hex == digest(big)
    judged = await local_sandbox.run(req(code, TestCase(kind="call", args="5_500_000", compare="digest",
                                                        expected="sha256:" + digest(big)),
                                         TestCase(kind="call", args="5_499_999", compare="digest",
                                                  expected="sha256:" + digest(big)), limits=Limits(wall_time=30.0)))
    assert [t.status for t in judged.tests] == ["passed", "failed"]
    plain = await local_sandbox.run(req(code, TestCase(kind="call", args="5_500_000", expected="[]"),
                                        limits=Limits(wall_time=30.0)))
    assert plain.status == "error" and "too large" in plain.tests[0].message


async def test_no_request_can_read_an_earlier_one_from_inherited_memory():
    """The executor never holds a job (each child reads its own), so a candidate scanning its memory finds no
    earlier candidate's code (a red-team finding: copying another candidate's solution)."""
    from semtrace.sandbox.local import LocalSandbox

    marker = "semtrace_honest_marker_" + "7" * 8
    honest = f"def f(x):\n    # {marker}\n    return x\n"
    thief = (
        "def f(x):\n"
        "    needle = b'semtrace_honest_marker_' + b'7' * 8\n"
        "    maps = open('/proc/self/maps').read().splitlines()\n"
        "    with open('/proc/self/mem', 'rb') as mem:\n"
        "        for line in maps:\n"
        "            addr, perms = line.split()[:2]\n"
        "            if not perms.startswith('rw'):\n"
        "                continue\n"
        "            lo, hi = (int(v, 16) for v in addr.split('-'))\n"
        "            try:\n"
        "                mem.seek(lo)\n"
        "                found += mem.read(min(hi - lo, 1 << 26)).count(needle)\n"
        "            except (OSError, ValueError, OverflowError):\n"
        "                pass\n"
        "    return found\n"
    ).replace("    with open", "    found = 0\n    with open")

    async def occurrences(before: str) -> int:  # the needle itself is in memory too: compare counts
        sandbox = LocalSandbox(concurrency=1)
        try:
            assert (await sandbox.run(req(before, a("assert f(1) == 1")))).passed
            r = await sandbox.run(req(thief, TestCase(kind="call", args="1")))
        finally:
            await sandbox.close()
        assert r.passed, r
        return int(r.tests[0].actual or "0")

    neutral = "def f(x):\n    # nothing to see\n    return x\n"
    assert await occurrences(honest) == await occurrences(neutral)


async def test_hostile_report_lines_are_not_parsed(local_sandbox):
    """Deeply nested or huge-number lines on the report pipe (found through /proc/self/fd) are neither parsed
    nor able to break the runner; a report past the value limit is an error, not unbounded buffering."""
    find_fds = ("import os\ndef _fds():\n    return [int(n) for n in os.listdir('/proc/self/fd') if int(n) > 99]\n")
    nested = find_fds + ("def f():\n    for fd in _fds():\n        try:\n"
                         "            os.write(fd, b'[' * 200000 + b'\\n' + b'1' * 100000 + b'\\n')\n"
                         "        except OSError:\n            pass\n    return 0\n")
    r = await local_sandbox.run(req(nested, TestCase(kind="call", args="", expected="0")))
    assert r.passed, r
    flood = find_fds + ("def f():\n    for fd in _fds():\n        try:\n"
                        "            os.write(fd, b'x' * (3 << 20))\n        except OSError:\n            pass\n"
                        "    return 0\n")
    r = await local_sandbox.run(req(flood, TestCase(kind="call", args="", expected="0"),
                                    limits=Limits(value_bytes=1000, wall_time=5.0)))
    assert r.status == "error" and "malformed report" in r.tests[0].message, r


async def test_values_a_comparison_cannot_handle_fail_not_blame_the_test(local_sandbox):
    code = "def f(x):\n    return 10 ** 400\n"
    r = await local_sandbox.run(req(code, a("assert f(1) == 2.5"), a("assert math.isclose(f(1), 2.5)"),
                                    a("assert f(1) in (0.5, 2.5)")))
    assert [t.status for t in r.tests] == ["failed"] * 3


async def test_verdicts_computed_with_the_candidates_objects_stay_asserts():
    for src in ("assert (f(1) == 5) == True", "assert (f(1) == 5) is True", "assert bool(f(1) == 5) == True",
                "assert (f(1) == [1, 2]) in [True]"):
        assert convert.to_call_test({"kind": "assert", "source": src}, "f", "def f(x): pass", "")["kind"] == "assert"
    # a program that redefines a builtin does not turn `assert all(...)` into a call of its own function
    redefined = convert.to_call_test({"kind": "assert", "source": "assert all([f(1)])"}, "f",
                                     "def f(x): pass\ndef all(x): return True", "")
    assert redefined["kind"] == "assert"


async def test_shadowing_a_builtin_in_a_converted_expression_gains_nothing(local_sandbox):
    """`assert sorted(f(x)) == L` is judged from the value of `sorted(f(x))` evaluated in the candidate's
    namespace, so a program may shadow `sorted`; it still cannot produce a value it does not know."""
    code = ("class Any:\n    def __eq__(self, other):\n        return True\n"
            "def sorted(x):\n    return Any()\n"
            "def f(x):\n    return [x, 1]\n")
    r = await local_sandbox.run(req(code, a("assert sorted(f(3)) == [1, 3]"), a("assert set(f(3)) == {1, 3}")))
    assert [t.status for t in r.tests] == ["failed", "passed"]  # the shadowed one fails; the honest one passes


async def test_stdio_input_is_a_real_fd_0_for_every_test_even_past_the_file_size_limit(local_sandbox):
    # every stdio test gets its own input at fd 0 (input(), sys.stdin, sys.stdin.buffer, open(0) all read it),
    # written before the limits are set: an input larger than a pipe and than file_size_mb still arrives whole
    big = " ".join(["7"] * 1_500_000) + "\n"  # 3 MB
    code = "import sys\ndata = sys.stdin.buffer.read().split()\nprint(len(data), sum(map(int, data)))\n"
    tests = (TestCase(kind="stdio", stdin=big, expected=f"{1_500_000} {7 * 1_500_000}\n"),
             TestCase(kind="stdio", stdin="1 2\n", expected="2 3\n"),
             TestCase(kind="stdio", stdin="", expected="0 0\n"))
    r = await local_sandbox.run(ExecRequest(code=code, tests=tests, limits=Limits(wall_time=10, file_size_mb=1)))
    assert [t.status for t in r.tests] == ["passed", "passed", "passed"], r.tests


async def test_stop_on_timeout_stops_at_the_first_timeout_and_only_when_asked(local_sandbox):
    code = "def f(x):\n    while x:\n        pass\n    return x\n"
    tests = (a("assert f(0) == 0"), a("assert f(1) == 1"), a("assert f(2) == 2"), a("assert f(0) == 0"))
    limits = Limits(wall_time=0.5, load_time=5.0)
    stopped = await local_sandbox.run(ExecRequest(code=code, tests=tests, entry_point="f", limits=limits,
                                                  stop_on_timeout=True))
    assert [t.status for t in stopped.tests] == ["passed", "timeout", "timeout", "timeout"]
    assert [t.message.startswith("not run") for t in stopped.tests] == [False, False, True, True]
    assert stopped.status == "timeout"
    every = await local_sandbox.run(ExecRequest(code=code, tests=tests, entry_point="f", limits=limits))
    assert [t.status for t in every.tests] == ["passed", "timeout", "timeout", "passed"]


async def test_a_stdio_input_the_sandbox_cannot_stage_is_a_sandbox_error_not_a_failure(monkeypatch, tmp_path):
    # a working directory with no room for the input (a 64 KB tmpfs standing in for a full sandbox disk): the
    # sandbox's problem, retried and then reported as sandbox_error - never the candidate's failure
    import subprocess

    from semtrace.sandbox.local import LocalSandbox

    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.strip()[:100]}); the case needs a full disk")
    try:
        import tempfile

        monkeypatch.setattr(tempfile, "tempdir", str(small))  # the local sandbox's working directory goes there
        sandbox = LocalSandbox(concurrency=1)
        try:
            big = TestCase(kind="stdio", stdin="7" * 1_000_000 + "\n", expected="7\n")
            r = await sandbox.run(ExecRequest(code="print(len(input()))\n", tests=(big,)))
            ok = await sandbox.run(ExecRequest(code="print(input())\n",
                                               tests=(TestCase(kind="stdio", stdin="7\n", expected="7\n"),)))
        finally:
            await sandbox.close()
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)
    assert r.status == "sandbox_error" and "stage" in r.message, r
    assert ok.status == "passed"  # a small input still fits: the sandbox goes on
