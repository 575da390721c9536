"""The supervisor's verdicts (stdlib only; shipped beside ``runner.py``): one child report -> one outcome, and which
traced tests' traces to keep. Everything here runs in the supervisor, never in the candidate's process.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

try:
    from . import judge, protocol  # type: ignore[no-redef]
except ImportError:
    import judge  # type: ignore[no-redef]
    import protocol  # type: ignore[no-redef]


class TraceState:
    """Which tests' traces to keep: decided here, from the supervisor's own verdicts."""

    def __init__(self, spec: Dict[str, Any]) -> None:
        explicit = spec.get("tests")
        self.explicit = set(explicit) if explicit else None
        self.failing_left = int(spec.get("max_failing", 1))
        self.passing_left = 1 if spec.get("include_passing") else 0
        self.spec = spec
        self.traces: List[Dict[str, Any]] = []

    def for_child(self) -> Optional[Dict[str, Any]]:
        if self.explicit is not None:
            return dict(self.spec, tests=sorted(self.explicit)) if self.explicit else None
        if self.failing_left > 0 or self.passing_left > 0:
            return dict(self.spec, tests=[])
        return None

    def verdict(self, index: int, status: str) -> bytes:
        """``t`` ship this trace, ``n`` drop it; upper case: and trace no further tests."""
        if self.explicit is not None:
            ship = index in self.explicit
            self.explicit.discard(index)
            return b"t" if ship and self.explicit else (b"T" if ship else b"n")
        ship = False
        if status == "passed" and self.passing_left > 0:
            self.passing_left -= 1
            ship = True
        elif status not in ("passed", "sandbox_error") and self.failing_left > 0:
            self.failing_left -= 1
            ship = True
        more = self.failing_left > 0 or self.passing_left > 0
        return (b"t" if more else b"T") if ship else (b"n" if more else b"N")


def outcome(index: int, status: str, message: str = "", actual: Optional[str] = None, duration: float = 0.0,
            value: Any = None) -> Dict[str, Any]:
    out = {"index": index, "status": status, "message": message, "actual": actual, "duration": duration}
    if value is not None:
        out["value"] = value
    return out


def normalise_stdout(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def judge_report(test: Dict[str, Any], rep: protocol.Report, duration: float, record: bool) -> Dict[str, Any]:
    """The supervisor's verdict on one test from the child's report."""
    i, kind = test["index"], test["kind"]
    if rep.kind == "raised":
        return outcome(i, rep.status, rep.message, None, duration)
    if rep.kind != "value" or kind == "assert":  # (assert tests are the assert judge's: never a child's report)
        return outcome(i, "error", "malformed report: the program claimed a verdict for a test the judge decides",
                       None, duration)
    kept = rep.value if record else None
    if kind == "stdio":
        if not isinstance(rep.value, str):
            return outcome(i, "error", "malformed report: stdout is not text", None, duration)
        if test.get("expected") is None:
            ok, message = True, ""
        elif test.get("compare") == "lcb":  # LiveCodeBench's rule (judge.lcb_stdout)
            ok, message = judge.lcb_stdout(rep.value, test["expected"])
        else:
            ok = normalise_stdout(rep.value) == normalise_stdout(test["expected"])
            message = "" if ok else "wrong output"
        return outcome(i, "passed" if ok else "failed", message, rep.value, duration, kept)
    try:
        ok, message = judge.judge_call(test, rep.value)
    except judge.BadValue as exc:
        return outcome(i, "error", "malformed report: %s" % exc, rep.repr, duration)
    except Exception as exc:
        return outcome(i, "sandbox_error", "bad test: expected value %r cannot be evaluated: %s"
                       % (str(test.get("expected"))[:200], exc), rep.repr, duration)
    return outcome(i, "passed" if ok else "failed", message, rep.repr, duration, kept)
