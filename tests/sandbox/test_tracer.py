"""The in-sandbox tracer (sandbox/tracer.py), called directly as the runner's child calls it.

Also: sys.monitoring and sys.settrace give identical traces on every Python we can find (3.9-3.13), and the
fidelity acceptance check against pysnooper on CRUXEval.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from semtrace.sandbox import tracer
from semtrace.sandbox.trace import Trace

HERE = Path(__file__).resolve().parent
GOLDEN_PROGRAMS = HERE.parent / "representations" / "golden" / "programs.json"
TRACER_FILE = Path(tracer.__file__).resolve()

# Extra shapes for the back-end equivalence check (not rendered in goldens).
EXTRA_PROGRAMS = {
    "generator": (
        "def gen(n):\n    i = 0\n    while i < n:\n        yield i * 2\n        i += 1\n\n\n"
        "def f(n):\n    out = []\n    for v in gen(n):\n        out.append(v)\n    return out\n",
        "f(3)",
    ),
    "methods_finally": (
        "class Acc:\n    def __init__(self):\n        self.items = []\n\n    def add(self, x):\n"
        "        self.items.append(x)\n        return len(self.items)\n\n\ndef f(xs):\n    a = Acc()\n"
        "    try:\n        for x in xs:\n            a.add(10 // x)\n    finally:\n"
        "        done = True\n    return a.items\n",
        "f([1, 2, 0])",
    ),
    "caught": (
        "def f(s):\n    try:\n        v = int(s)\n    except ValueError as e:\n        v = -1\n    "
        "return v\n",
        "f('x')",
    ),
    "one_line_loop": (
        "def f(n):\n    s = 0\n    while s < n: s += 3\n    return [s for _ in range(2)]\n",
        "f(7)",
    ),
}


def run_traced(
    tmp_path: Path,
    code: str,
    call: str,
    backend: str | None = None,
    max_events: int = 10000,
    max_value_len: int = 200,
) -> tuple[Any, BaseException | None, dict]:
    path = tmp_path / "candidate.py"
    path.write_text(code)
    ns: dict[str, Any] = {"__name__": "__candidate__"}
    exec(compile(code, str(path), "exec"), ns)
    return tracer.trace_thunk(
        lambda: eval(call, ns), str(path), max_events, max_value_len, 3, backend=backend
    )


def test_events_of_a_loop_with_a_helper(tmp_path: Path) -> None:
    code = "def sq(a):\n    b = a * a\n    return b\n\n\ndef f(xs):\n    t = 0\n    for x in xs:\n        t += sq(x)\n    return t\n"
    value, error, trace = run_traced(tmp_path, code, "f([2, 3])")
    assert value == 13 and error is None and trace["test_index"] == 3 and not trace["truncated"]
    events = trace["events"]
    assert [e["order"] for e in events] == list(range(1, len(events) + 1))
    assert events[0] == {
        "order": 1,
        "kind": "call",
        "line": 6,
        "func": "f",
        "depth": 0,
        "changes": [["xs", "[2, 3]"]],
        "value": None,
        "caller_line": None,
    }
    calls = [e for e in events if e["kind"] == "call" and e["func"] == "sq"]
    assert [c["changes"] for c in calls] == [[["a", "2"]], [["a", "3"]]] and {c["depth"] for c in calls} == {
        1
    }
    assert {c["caller_line"] for c in calls} == {9}
    t_changes = [c[1] for e in events if e["kind"] == "line" and e["line"] == 9 for c in e["changes"]]
    assert t_changes == ["4", "13"]  # the line's effect, reported when it completes
    assert events[-1]["kind"] == "return" and events[-1]["value"] == "13" and events[-1]["line"] == 10
    assert trace["line_hits"]["8"] == 3 and trace["line_hits"]["9"] == 2
    assert Trace.from_dict(trace).to_dict() == trace  # JSON round trip through the host-side dataclass


def test_exception_recorded_in_every_frame_it_leaves(tmp_path: Path) -> None:
    code = "def g(d):\n    return d['k']\n\n\ndef f(d):\n    x = 1\n    return g(d) + x\n"
    value, error, trace = run_traced(tmp_path, code, "f({})")
    assert isinstance(error, KeyError) and value is None
    exc = [e for e in trace["events"] if e["kind"] == "exception"]
    assert [(e["func"], e["line"], e["depth"], e["value"]) for e in exc] == [
        ("g", 2, 1, "KeyError: 'k'"),
        ("f", 7, 0, "KeyError: 'k'"),
    ]
    assert not [
        e for e in trace["events"] if e["kind"] == "return"
    ]  # frames left by an exception do not return


def test_values_are_capped_with_a_marker_and_addresses_removed(tmp_path: Path) -> None:
    code = "class P:\n    pass\n\n\ndef f(n):\n    s = 'x' * n\n    p = P()\n    return len(s)\n"
    _, _, trace = run_traced(tmp_path, code, "f(500)", max_value_len=50)
    values = dict(c for e in trace["events"] for c in e["changes"])
    assert values["s"] == "'" + "x" * 49 + "...<+452 chars>"
    assert " at 0x" not in values["p"] and values["p"].startswith("<__candidate__.P object")


def test_growing_big_containers_cost_no_full_repr_per_step(tmp_path: Path) -> None:
    code = (
        "def f(n):\n    out = []\n    seen = {}\n    for i in range(n):\n        out.append(i)\n"
        "        seen[i] = str(i)\n    return len(out)\n"
    )
    import time

    start = time.perf_counter()
    value, _, trace = run_traced(tmp_path, code, "f(3000)", max_events=9000, max_value_len=60)
    assert value == 3000 and time.perf_counter() - start < 5  # a full repr per step would take minutes
    finals = {name: text for e in trace["events"] for name, text in e["changes"]}
    n = int(re.fullmatch(r".*\.\.\.<(\d+) items>", finals["out"]).group(1))  # type: ignore[union-attr]
    assert n > 2500 and finals["out"] == repr(list(range(n)))[:60] + f"...<{n} items>"
    assert finals["seen"] == repr({i: str(i) for i in range(n)})[:60] + f"...<{n} items>"
    small = run_traced(tmp_path, code, "f(3)", max_value_len=60)[2]
    assert {n: t for e in small["events"] for n, t in e["changes"]}["out"] == "[0, 1, 2]"


@pytest.mark.parametrize("backend", ["settrace", "monitoring"])
def test_budget_switches_the_tracer_off(tmp_path: Path, backend: str) -> None:
    if backend == "monitoring" and not hasattr(sys, "monitoring"):
        pytest.skip("sys.monitoring needs Python >= 3.12 (this is %d.%d)" % sys.version_info[:2])
    code = (
        "import sys\n\ndef tracing_active():\n    if hasattr(sys, 'monitoring'):\n"
        "        return any(sys.monitoring.get_tool(t) == 'semtrace' and sys.monitoring.get_events(t)\n"
        "                   for t in range(6))\n    return sys.gettrace() is not None\n\n\n"
        "def f(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s, tracing_active()\n"
    )
    value, _, trace = run_traced(tmp_path, code, "f(1000)", backend=backend, max_events=50)
    assert value == (499500, False)  # the run finished, untraced
    assert trace["truncated"] and trace["truncated_at"] in (12, 13) and len(trace["events"]) == 50


def _golden_cases() -> dict[str, tuple[str, str]]:
    progs = json.loads(GOLDEN_PROGRAMS.read_text())
    cases = {name: (p["code"], f"{p['func']}({p['args']})") for name, p in progs.items()}
    cases.update(EXTRA_PROGRAMS)
    return cases


DRIVER = r"""
import importlib.util, json, os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))  # the tracer's sibling modules, as in the sandbox
spec = importlib.util.spec_from_file_location("tracer", sys.argv[1])
tracer = importlib.util.module_from_spec(spec); spec.loader.exec_module(tracer)
cases = json.loads(open(sys.argv[2]).read())
out = {}
for backend in (["settrace", "monitoring"] if hasattr(sys, "monitoring") else ["settrace"]):
    for name, (code, call, path) in sorted(cases.items()):
        open(path, "w").write(code)
        ns = {"__name__": "__candidate__"}
        exec(compile(code, path, "exec"), ns)
        value, error, trace = tracer.trace_thunk(lambda: eval(call, ns), path, 5000, 100, 0, backend=backend)
        trace.pop("backend")
        out[backend + ":" + name] = [repr(value), repr(error), trace]
print(json.dumps({"version": list(sys.version_info[:2]), "traces": out}))
"""

# Known and explained: Python 3.9 compiles a one-line ``while c: body`` with the test only at the top, so it
# reports
# one more execution of that line (the final, false test) than 3.10+ does. Only 3.9 settrace is affected.
KNOWN_39 = {"one_line_loop"}


def _pythons() -> list[str]:
    found = {}
    patterns = [os.path.expanduser("~/.pyenv/versions/3.*/bin/python")]
    for pattern in patterns:
        for exe in sorted(glob.glob(pattern)):
            found.setdefault(exe, None)
    for name in ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13"):
        exe = shutil.which(name)
        if exe:
            found.setdefault(exe, None)
    for extra in os.environ.get("SEMTRACE_PYTHONS", "").split(os.pathsep):
        if extra:
            found.setdefault(extra, None)
    good = []
    for exe in found:
        try:
            v = subprocess.run(
                [exe, "-c", "import sys; print(sys.version_info >= (3, 9))"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if v == "True":
            good.append(exe)
    return good


def test_monitoring_and_settrace_identical_on_every_python(tmp_path: Path) -> None:
    """Every Python 3.9-3.13 found, both back ends where 3.12+: the same events on the golden programs."""
    pythons = _pythons()
    if not any(
        subprocess.run([p, "-c", "import sys; sys.exit(not hasattr(sys, 'monitoring'))"]).returncode == 0
        for p in pythons
    ):
        pytest.skip(
            "no Python >= 3.12 found (set SEMTRACE_PYTHONS) to compare sys.monitoring with sys.settrace"
        )
    cases = {
        name: (code, call, str(tmp_path / f"{name}.py")) for name, (code, call) in _golden_cases().items()
    }
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "driver.py").write_text(DRIVER)
    results: dict[str, dict[str, Any]] = {}
    for exe in pythons:
        proc = subprocess.run(
            [exe, str(tmp_path / "driver.py"), str(TRACER_FILE), str(tmp_path / "cases.json")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, f"{exe}: {proc.stderr[-2000:]}"
        results[exe] = json.loads(proc.stdout)
    reference_exe = next(exe for exe, res in results.items() if res["version"] >= [3, 12])
    reference = {
        k.split(":", 1)[1]: v
        for k, v in results[reference_exe]["traces"].items()
        if k.startswith("monitoring:")
    }
    compared = 0
    for exe, res in results.items():
        for key, got in res["traces"].items():
            name = key.split(":", 1)[1]
            if res["version"] == [3, 9] and name in KNOWN_39:
                continue
            assert got == reference[name], f"{exe} {key} differs from {reference_exe} sys.monitoring"
            compared += 1
    assert compared >= 2 * len(cases)


# -- fidelity against an independent tracer (pysnooper) on CRUXEval
# ---------------------------------------------
_SNOOP_VAR = re.compile(r"^(?:Starting var|New var|Modified var):\.+ (\w+) = (.*)$")
_SNOOP_RET = re.compile(r"^Return value:\.+ (.*)$")
_ADDR = re.compile(r" at 0x[0-9a-fA-F]+")


def _norm(text: str) -> str:
    return _ADDR.sub("", text.replace("\r", "").replace("\n", ""))


def _pysnooper_final(func: Any, args_src: str, ns: dict) -> tuple[dict[str, str], str | None]:
    import pysnooper

    lines: list[str] = []
    snooped = pysnooper.snoop(output=lines.append, max_variable_length=None, color=False)(func)
    args = eval(f"({args_src},)", ns)
    snooped(*args)
    final: dict[str, str] = {}
    ret = None
    for chunk in lines:
        for line in chunk.splitlines():
            if line[:1].isspace():
                # pysnooper indents the recursive calls of the same function; we compare the outermost
                continue
            m = _SNOOP_VAR.match(line)
            if m:
                final[m.group(1)] = _norm(m.group(2))
            m = _SNOOP_RET.match(line)
            if m:
                ret = _norm(m.group(1))
    return final, ret


def _our_final(trace: dict) -> tuple[dict[str, str], str | None]:
    final: dict[str, str] = {}
    ret = None
    for e in trace["events"]:
        if e["depth"] != 0:
            continue
        for name, value in e["changes"]:
            final[name] = _norm(value)
        if e["kind"] == "return":
            ret = _norm(e["value"])
    return final, ret


def test_fidelity_against_pysnooper_on_cruxeval(tmp_path: Path, data_dir: Path) -> None:
    rows = [json.loads(line) for line in (data_dir / "cruxeval" / "cruxeval.jsonl").read_text().splitlines()]
    agree, disagree, compared = 0, [], 0
    for row in rows:
        path = tmp_path / f"{row['id']}.py"
        path.write_text(row["code"])
        ns: dict[str, Any] = {"__name__": "__candidate__"}
        exec(compile(row["code"], str(path), "exec"), ns)
        try:
            snoop_vars, snoop_ret = _pysnooper_final(ns["f"], row["input"], ns)
        except Exception:  # noqa: BLE001 - a program pysnooper cannot follow is not comparable
            continue
        args = eval(f"({row['input']},)", ns)
        value, error, trace = tracer.trace_thunk(lambda: ns["f"](*args), str(path), 100000, 100000, 0)
        assert error is None, f"{row['id']}: {error!r}"
        ours_vars, ours_ret = _our_final(trace)
        compared += 1
        # Explained, not disagreements: we do not record module objects or dunder names (pysnooper does).
        snoop_vars = {
            k: v for k, v in snoop_vars.items() if not k.startswith("__") and not v.startswith("<module")
        }
        if ours_vars == snoop_vars and ours_ret == snoop_ret:
            agree += 1
        else:
            diff = {
                k: (ours_vars.get(k), snoop_vars.get(k))
                for k in set(ours_vars) | set(snoop_vars)
                if ours_vars.get(k) != snoop_vars.get(k)
            }
            disagree.append((row["id"], diff, (ours_ret, snoop_ret)))
    print(f"pysnooper fidelity: {agree}/{compared} agree; disagreements: {disagree}")
    assert compared >= 500, f"only {compared} CRUXEval programs could be compared"
    assert agree / compared >= 0.99, f"{agree}/{compared} agree; first disagreements: {disagree[:5]}"


# -- the image's Python (sys.monitoring) against the host's (sys.settrace), through the real back ends
# ---------
@pytest.mark.docker
def test_docker_image_and_host_give_the_same_traces(docker_ready: None) -> None:
    """The golden programs traced in the Docker image's Python and by the local back end's: same events."""
    import asyncio

    from semtrace.representations.cli import parse_call
    from semtrace.sandbox.docker import DockerSandbox
    from semtrace.sandbox.local import LocalSandbox
    from semtrace.sandbox.types import ExecRequest, TestCase, TraceSpec

    async def run_all(sandbox: Any) -> dict[str, Any]:
        out = {}
        try:
            for name, (code, call) in sorted(_golden_cases().items()):
                func, args = parse_call(call)
                req = ExecRequest(
                    code=code,
                    entry_point=func,
                    trace=TraceSpec(tests=(0,), max_events=5000),
                    tests=(TestCase(kind="call", func=func, args=args),),
                )
                res = await sandbox.run(req)
                assert res.traces, f"{name}: no trace ({res.status}: {res.message})"
                out[name] = (
                    res.python,
                    res.traces[0].backend,
                    res.tests[0].status,
                    res.traces[0].events,
                    res.traces[0].truncated,
                    res.traces[0].line_hits,
                )
        finally:
            await sandbox.close()
        return out

    host = asyncio.run(run_all(LocalSandbox(concurrency=1)))
    image = asyncio.run(run_all(DockerSandbox(concurrency=1)))
    for name in host:
        if name == "one_line_loop" and host[name][0].startswith("3.9."):
            continue  # see KNOWN_39
        assert image[name][2:] == host[name][2:], (
            f"{name}: Python {image[name][0]} ({image[name][1]}) differs from {host[name][0]} "
            f"({host[name][1]})"
        )
