"""The call channel of a judged assert: the candidate's side (stdlib only, Python 3.9+; shipped beside runner.py).

An ``assert`` test is evaluated by the supervisor's assert judge (``assert_judge.py``), never in the candidate's
process: its source and expected values stay there. Each use of a candidate name in it is a *call* sent to the
child on a private pipe; the child performs it and answers on another with a value only:

    judge -> child   {"s": SEQ, "op": OP, ...}            one JSON line per call; {"op": "end"} ends the test
    child -> judge   {"n": NONCE, "ev": "answer", "s": SEQ, "ok": VALUE}
                     {"n": NONCE, "ev": "answer", "s": SEQ, "raised": {"base": B, "type": T, "message": M}}
                     {"n": NONCE, "ev": "answer", "s": SEQ, "error": TEXT}     (a value that cannot be sent)

VALUE is ``judge.encode``'s form; an object that is not an exact builtin becomes ``{"handle": ID, "type": NAME,
"repr": TEXT}`` (kept here in ``Handles``; a later call passes it back as ``{"ref": ID}``), so no candidate method
ever runs in the judge. Ops: ``names`` (the test namespace's objects by name), ``call``, ``getattr``, ``setattr``,
``delattr``, ``getitem``, ``setitem``, ``delitem``, and ``unary`` (``len``, ``bool``, ``str``, ``list``, ``neg``,
``pos``, ``abs``, ``int``, ``float``, ``index``, ``invert``): the operations that take no value of the test's
own, so an expected value never reaches the child through an operator either.
"""

from __future__ import annotations

import builtins
import json
import os
import types
from typing import Any, Callable, Dict, List

try:  # imported as semtrace.sandbox.calls on the host, as a script inside the sandbox
    from . import judge  # type: ignore[no-redef]
except ImportError:
    import judge  # type: ignore[no-redef]

_READ = os.read
_LOADS = json.loads
UNARY: Dict[str, Callable[[Any], Any]] = {
    "len": len, "bool": bool, "str": str, "list": list, "neg": lambda x: -x, "pos": lambda x: +x, "abs": abs,
    "int": int, "float": float, "index": lambda x: x.__index__(), "invert": lambda x: ~x}


class Handles:
    """The child's objects the judge holds a reference to (kept alive, so an id is never reused)."""

    def __init__(self) -> None:
        self.objects: Dict[int, Any] = {}
        self.ids: Dict[int, int] = {}

    def put(self, obj: Any) -> Dict[str, Any]:
        key = id(obj)
        n = self.ids.get(key)
        if n is None:
            n = self.ids[key] = len(self.objects) + 1
            self.objects[n] = obj
        out = {"handle": n, "type": type(obj).__name__, "repr": judge.safe_repr(obj, 200)}
        if isinstance(obj, types.ModuleType):
            out["module"] = str(getattr(obj, "__name__", ""))
        return out

    def get(self, data: Dict[str, Any]) -> Any:
        n = data.get("ref")
        if type(n) is not int or n not in self.objects:
            raise ValueError("no object %r" % (n,))
        return self.objects[n]


def _base_exception(exc: BaseException) -> str:
    """The nearest builtin exception class of ``exc`` (a candidate's own class name is only text)."""
    for cls in type(exc).__mro__:
        if getattr(builtins, cls.__name__, None) is cls:
            return cls.__name__
    return "Exception"


def raised(exc: BaseException) -> Dict[str, Any]:
    try:
        message = str(exc)[:1000]
    except BaseException:
        message = "<unprintable>"
    return {"base": _base_exception(exc), "type": type(exc).__name__[:100], "message": message}


class CallReader:
    """The judge's calls, one JSON line each, read as they come. One reader serves every test of the child: a
    read may take the next test's first call together with this test's ``end``, and that call must wait in the
    buffer, not be lost with it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lines: List[bytes] = []
        self.rest = b""

    def next(self) -> Any:
        """The next call, or None when the judge's pipe closed."""
        while not self.lines:
            chunk = _READ(self.fd, 1 << 16)
            if not chunk:
                return None
            *lines, self.rest = (self.rest + chunk).split(b"\n")
            self.lines.extend(lines)
        return _LOADS(self.lines.pop(0))


def _perform(msg: Dict[str, Any], ns: Dict[str, Any], table: Handles) -> Any:
    op = msg.get("op")

    def arg(key: str) -> Any:
        return judge.decode(msg.get(key), table.get)

    if op == "names":
        return {name: ns[name] for name in msg.get("names") or () if name in ns}
    target = table.get(msg.get("target") or {})
    if op == "call":
        return target(*arg("args"), **arg("kwargs"))
    if op == "getattr":
        return getattr(target, str(msg.get("name")))
    if op == "setattr":
        return setattr(target, str(msg.get("name")), arg("value"))
    if op == "delattr":
        return delattr(target, str(msg.get("name")))
    if op == "getitem":
        return target[arg("key")]
    if op == "setitem":
        target[arg("key")] = arg("value")
        return None
    if op == "delitem":
        del target[arg("key")]
        return None
    if op == "unary" and msg.get("name") in UNARY:
        return UNARY[msg["name"]](target)
    raise ValueError("unknown call %r" % (op,))


def serve(calls: CallReader, answer: Callable[..., None], ns: Dict[str, Any], table: Handles,
          flush: Callable[[], None]) -> None:
    """Answer the judge's calls for one test until it says ``end`` (or its pipe closes)."""
    while True:
        msg = calls.next()
        if msg is None or msg.get("op") == "end":
            return
        seq = msg.get("s")
        try:
            value = _perform(msg, ns, table)
        except BaseException as exc:  # the candidate's failure is a value the judge weighs, never the loop's end
            flush()
            answer("answer", s=seq, raised=raised(exc))
            continue
        flush()
        try:
            encoded = judge.encode(value, opaque=table.put)
        except BaseException as exc:
            answer("answer", s=seq, error="cannot send the value: %s" % type(exc).__name__)
            continue
        answer("answer", s=seq, ok=encoded)
