"""The assert judge (sandbox/assert_judge.py, calls.py) through the local back end: what test code can do with the
program's objects, what never reaches the child, and that tracing is the same as for a value-judged test."""

from __future__ import annotations

from semtrace.sandbox.types import ExecRequest, Limits, TestCase, TraceSpec

FAST = Limits(wall_time=2.0, load_time=5.0, memory_mb=512)


def a(source: str) -> TestCase:
    return TestCase(kind="assert", source=source)


def req(code: str, *tests: TestCase, **kw) -> ExecRequest:
    return ExecRequest(code=code, tests=tests, entry_point=kw.pop("entry", "f"), limits=FAST, **kw)


async def test_a_traced_assert_traces_the_same_calls_as_a_value_judged_one(local_sandbox):
    code = "def f(x):\n    y = x + 1\n    return y * 10\n"
    judged = await local_sandbox.run(req(code, a("assert f(3) == sum([40, 1])"), trace=TraceSpec()))
    valued = await local_sandbox.run(req(code, a("assert f(3) == 41"), trace=TraceSpec()))
    assert judged.tests[0].status == valued.tests[0].status == "failed"
    assert judged.tests[0].message == "AssertionError: assert f(3) == sum([40, 1])"
    assert judged.traces and judged.traces[0].events == valued.traces[0].events
    assert [e.kind for e in judged.traces[0].events] == ["call", "line", "line", "return"]


async def test_shared_objects_built_from_setup_classes_live_in_the_child(local_sandbox):
    """QuixBugs' shape: ``Node`` and prebuilt nodes in ``test_setup``, ``testN()`` bodies that mutate them."""
    setup = ("class Node:\n    def __init__(self, value, successor=None):\n        self.value = value\n"
             "        self.successor = successor\n"
             "a = Node(1)\nb = Node(2, a)\n"
             "def test1():\n    assert not cycle(b)\n"
             "def test2():\n    a.successor = b\n    assert cycle(b)\n"
             "def test3():\n    assert [n.value for n in walk(b, 3)] == [2, 1, 2]\n")
    code = ("def cycle(node):\n    seen = set()\n    while node is not None:\n        if id(node) in seen:\n"
            "            return True\n        seen.add(id(node))\n        node = node.successor\n    return False\n"
            "def walk(node, n):\n    out = []\n    for _ in range(n):\n        out.append(node)\n"
            "        node = node.successor\n    return out\n")
    r = await local_sandbox.run(req(code, a("test1()"), a("test2()"), a("test3()"), entry="cycle", test_setup=setup))
    assert [t.status for t in r.tests] == ["passed"] * 3, r


async def test_the_tests_own_code_never_reaches_the_child(local_sandbox):
    """test_setup's functions (with their asserts) and data stay in the judge; its classes and imports run in the
    child. The program looks for them in its own namespace and objects."""
    setup = "import math\nclass Box:\n    pass\nSECRET = [4, 1]\ndef test1():\n    assert f() == sorted(SECRET)\n"
    code = ("import gc\ndef f():\n    g = next(o for o in gc.get_objects() if isinstance(o, dict) and o.get('candidate') is f)\n"
            "    names = sorted(k for k in ('Box', 'math', 'SECRET', 'test1') if k in g)\n"
            "    codes = [o for o in gc.get_objects() if type(o).__name__ == 'function' and o.__name__ == 'test1']\n"
            "    return names + ['test1 code'] * len(codes)\n")
    r = await local_sandbox.run(req(code, a("assert f() == sorted(['math', 'Box'])"), test_setup=setup))
    assert r.tests[0].status == "passed", r


async def test_methods_attributes_items_iteration_and_exceptions(local_sandbox):
    code = ("class Solution:\n    def __init__(self):\n        self.calls = 0\n"
            "    def twice(self, xs):\n        self.calls += 1\n        return [2 * x for x in xs]\n"
            "class Bad(KeyError):\n    pass\n"
            "def f(x):\n    if x < 0:\n        raise Bad('negative')\n    print('f', x)\n    return {'k': [x, x + 1]}\n")
    tests = [a("s = Solution()\nassert s.twice([1, 2]) == list(map(int, '24')) and s.calls == 1 + 0"),
             a("r = f(3)\nassert r['k'] == sorted([4, 3]) and len(r) == len('k')"),
             a("try:\n    f(-1)\nexcept KeyError as e:\n    assert 'negative' in str(e)\nelse:\n    assert False"),
             a("s = Solution()\ns.calls = 41\nassert s.calls + 1 == sum([40, 2])"),
             a("assert [x for x in f(1)['k']] == list(range(1, 3)) and f(2) == f(2)"),
             a("assert f(-1) == sum([])")]
    r = await local_sandbox.run(req(code, *tests))
    assert [t.status for t in r.tests] == ["passed"] * 5 + ["error"], r
    assert r.tests[5].message.startswith("KeyError") and "Bad" in r.tests[5].message
    assert "f 3" in r.stdout  # the program's output during the judge's calls is captured as before


async def test_a_module_the_program_imported_is_the_judges_own(local_sandbox):
    code = ("import math\nmath.isclose = lambda *a, **k: True\nmath.pi = 3\n"
            "def f():\n    return 3.0\n")
    r = await local_sandbox.run(req(code, a("assert math.isclose(f(), math.pi)"), a("assert f() < math.pi")))
    assert [t.status for t in r.tests] == ["failed", "passed"], r


async def test_a_program_object_has_no_order_and_takes_no_test_value(local_sandbox):
    code = ("class Num:\n    def __init__(self, v):\n        self.v = v\n    def __add__(self, o):\n"
            "        return 41\n    def __lt__(self, o):\n        return True\n"
            "def f():\n    return Num(1)\n")
    r = await local_sandbox.run(req(code, a("assert f() + 40 == sum([40, 1])"), a("assert f() < sum([1])"),
                                    a("assert f().v == sum([1])")))
    assert [t.status for t in r.tests] == ["error", "error", "passed"], r
    assert "unsupported operand" in r.tests[0].message and "Num" in r.tests[0].message


async def test_a_call_test_that_reads_a_setup_function_still_finds_it(local_sandbox):
    """A call test's arguments are evaluated in the child, as always: when they read a name that test_setup's
    functions or data define, the child runs the whole test_setup, as before (sandbox/README.md says so; no
    shipped benchmark does this)."""
    setup = "def make(n):\n    return list(range(n))\nN = 3\n"
    r = await local_sandbox.run(req("def f(xs):\n    return len(xs)\n", TestCase(kind="call", args="make(N)",
                                                                            expected="3"), test_setup=setup))
    assert r.tests[0].status == "passed", r


async def test_many_assert_tests_in_one_batch_all_settle(local_sandbox):
    """The judge runs ahead of the child, so one read of the call pipe can hold a test's ``end`` and the next
    test's first call: that call must wait for the next test, not be lost (it was, and the test timed out)."""
    tests = [a(f"assert f({i}) == sum([{i}, 1])") for i in range(12)]
    for k in range(5):
        r = await local_sandbox.run(req(f"def f(x):\n    return x + 1\n# {k}\n", *tests))
        assert [t.status for t in r.tests] == ["passed"] * 12, r


async def test_a_names_answer_cannot_shadow_the_judges_builtins(local_sandbox):
    """The program rewrites the child's answer to the judge's ``names`` call, adding ``sorted`` (an always-equal
    list maker) and ``__builtins__``: only the names asked for are bound, so the test's ``sorted`` stays the
    judge's own and the wrong value fails."""
    code = ("import sys\nclass L(list):\n    def __eq__(self, o):\n        return True\n"
            "def liar(*a, **k):\n    return L()\n"
            "for _m in list(sys.modules.values()):\n"
            "    if hasattr(_m, '_perform') and hasattr(_m, 'Handles'):\n"
            "        _real = _m._perform\n"
            "        def _perform(msg, ns, table, _real=_real):\n"
            "            out = _real(msg, ns, table)\n"
            "            if msg.get('op') == 'names':\n"
            "                out = dict(out, sorted=liar, __builtins__=1)\n"
            "            return out\n"
            "        _m._perform = _perform\n"
            "def f(x):\n    return [0]\n")
    r = await local_sandbox.run(req(code, a("assert sorted(f(3)) == sorted([4, 1])")))
    assert r.tests[0].status == "failed", r
