"""The in-sandbox execution tracer. Standard library only; runs on Python 3.9-3.13.

The runner's child process calls :func:`trace_thunk` around one test. Only frames whose code comes from the
candidate's file are recorded. Two back ends give the same events:

- ``sys.monitoring`` (Python >= 3.12): PY_START/PY_RESUME, LINE, backward same-line JUMP, PY_RETURN/PY_YIELD,
  RAISE, PY_UNWIND; every location outside the candidate is disabled on first sight, so library code runs
  fast.
- ``sys.settrace`` (below 3.12, or when asked): the classic global + local trace functions.

Event semantics (both back ends, documented in ``representations/README.md``):

- ``call``: a candidate function starts (or a generator resumes); ``line`` is the ``def`` line, ``changes`` the
  arguments, ``caller_line`` the line of the candidate frame that called it (None when called from outside).
  ``depth`` counts the recorded candidate frames below it.
- ``line``: one executed line, emitted when the line completes (the frame moves to another line, returns or
  raises), with the local variables it created or changed. A line re-executed by a backward jump (a one-line
  loop) counts again. Comprehension, generator-expression and lambda bodies are not frames of their own (3.12
  inlines comprehensions; we present every version that way), so their iterations are not separate line events.
- ``return``: the value returned (or yielded). A frame left by an exception has no ``return``.
- ``exception``: an exception raised in, or propagating through, a candidate frame: ``"Type: message"``.

Past ``max_events`` the tracer switches itself off (no more callbacks at all) and records where it stopped.
"""

from __future__ import annotations

import _thread
import sys
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

try:  # imported as semtrace.sandbox.tracer on the host, as a script inside the sandbox
    from .tracer_values import comprehension_lines, format_exception, format_value  # type: ignore[no-redef]
except ImportError:
    from tracer_values import comprehension_lines, format_exception, format_value  # type: ignore[no-redef]

IGNORED_CODE_NAMES = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>"})
_SKIP_TYPES = (types.ModuleType,)


class _Frame:
    __slots__ = ("depth", "pending", "snapshot")

    def __init__(self, depth: int, snapshot: Dict[str, str]) -> None:
        self.depth = depth
        self.snapshot = snapshot
        self.pending: Optional[int] = None  # the line being executed, reported when it completes


class Recorder:
    """Builds the trace from back-end-neutral callbacks. One instance per traced test."""

    def __init__(self, filename: str, max_events: int, max_value_len: int, test_index: int) -> None:
        self.filename = filename
        self.max_events = max_events
        self.max_value_len = max_value_len
        self.test_index = test_index
        self.events: List[Dict[str, Any]] = []
        self.line_hits: Dict[int, int] = {}
        self.frames: Dict[Any, _Frame] = {}
        self.depth = 0
        self.truncated = False
        self.truncated_at: Optional[int] = None
        self.busy = False
        self.thread = _thread.get_ident()
        self.stop: Callable[[], None] = lambda: None
        self.comp_lines, self.comp_inner = comprehension_lines(filename)

    # -- helpers
    # -----------------------------------------------------------------------------------------------
    def wants(self, code: types.CodeType) -> bool:
        return code.co_filename == self.filename and code.co_name not in IGNORED_CODE_NAMES

    def _locals(self, frame: types.FrameType) -> Dict[str, str]:
        cap = self.max_value_len
        out = {}
        for name, value in list(frame.f_locals.items()):
            if name.startswith("__") or isinstance(value, _SKIP_TYPES):
                continue
            out[name] = format_value(value, cap)
        return out

    def _emit(self, kind: str, line: int, func: str, depth: int, changes: List[List[str]],
              value: Optional[str] = None, caller_line: Optional[int] = None) -> None:
        if self.truncated:
            return
        if len(self.events) >= self.max_events:
            self.truncated = True
            self.truncated_at = line
            self.stop()
            return
        self.events.append({"order": len(self.events) + 1, "kind": kind, "line": line, "func": func,
                            "depth": depth, "changes": changes, "value": value, "caller_line": caller_line})
        if kind == "line":
            self.line_hits[line] = self.line_hits.get(line, 0) + 1

    def _flush(self, frame: types.FrameType, state: _Frame) -> None:
        line = state.pending
        if line is None:
            return
        state.pending = None
        current = self._locals(frame)
        previous = state.snapshot
        changes = [[name, text] for name, text in current.items() if previous.get(name) != text]
        state.snapshot = current
        self._emit("line", line, frame.f_code.co_name, state.depth, changes)

    # -- back-end-neutral callbacks --------------------------------------------------------------------------
    def on_call(self, frame: types.FrameType) -> None:
        if self.busy or self.truncated or _thread.get_ident() != self.thread:
            return  # sys.monitoring sees every thread; like settrace, we follow the test's thread only
        self.busy = True
        try:
            code = frame.f_code
            snapshot = self._locals(frame)
            state = _Frame(self.depth, snapshot)
            self.frames[frame] = state
            self.depth += 1
            nargs = code.co_argcount + code.co_kwonlyargcount
            nargs += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
            args = [[name, snapshot[name]] for name in code.co_varnames[:nargs] if name in snapshot]
            parent = frame.f_back
            caller_line = parent.f_lineno if parent is not None and parent in self.frames else None
            self._emit("call", code.co_firstlineno, code.co_name, state.depth, args, None, caller_line)
        finally:
            self.busy = False

    def on_line(self, frame: types.FrameType, line: int, same_line_jump: bool = False) -> None:
        if self.busy or self.truncated:
            return
        state = self.frames.get(frame)
        if state is None:
            return
        comp = self.comp_lines
        if comp and (line in self.comp_inner or (line == state.pending and line in comp)):
            return  # inside an inlined comprehension: not a line of its own (as on <= 3.11)
        self.busy = True
        try:
            self._flush(frame, state)
            state.pending = line
        finally:
            self.busy = False

    def on_return(self, frame: types.FrameType, value: Any, unwinding: bool = False) -> None:
        if self.busy or self.truncated:
            return
        state = self.frames.get(frame)
        if state is None:
            return
        self.busy = True
        try:
            self._flush(frame, state)
            del self.frames[frame]
            self.depth -= 1
            if unwinding:
                return  # left by an exception: no return event
            self._emit("return", frame.f_lineno, frame.f_code.co_name, state.depth, [],
                       format_value(value, self.max_value_len))
        finally:
            self.busy = False

    def on_unwind(self, frame: types.FrameType) -> None:
        self.on_return(frame, None, unwinding=True)

    def on_exception(self, frame: types.FrameType, exc: BaseException) -> None:
        if self.busy or self.truncated:
            return
        state = self.frames.get(frame)
        if state is None:
            return
        self.busy = True
        try:
            self._flush(frame, state)
            self._emit("exception", frame.f_lineno, frame.f_code.co_name, state.depth, [],
                       format_exception(exc, self.max_value_len))
        finally:
            self.busy = False

    def result(self, backend: str) -> Dict[str, Any]:
        hits = {str(k): v for k, v in self.line_hits.items()}
        return {"test_index": self.test_index, "events": self.events, "truncated": self.truncated,
                "truncated_at": self.truncated_at, "line_hits": hits, "backend": backend}


_OPS: Dict[str, Any] = {}  # settrace only, filled on first use (sys.monitoring needs no opcode table)


def _ops() -> Dict[str, Any]:
    if not _OPS:
        import opcode

        names = ("RETURN_VALUE", "RETURN_CONST", "YIELD_VALUE", "YIELD_FROM")
        _OPS["exit"] = frozenset(opcode.opmap[n] for n in names if n in opcode.opmap)
        _OPS["resume"] = opcode.opmap.get("RESUME", -1)
        _OPS["for_iter"] = opcode.opmap["FOR_ITER"]
    return _OPS


def _loop_exhaustion(frame: types.FrameType, exc: BaseException) -> bool:
    """Python 3.9 reports a generator's exhaustion at ``for`` as a StopIteration; later versions do not."""
    if not isinstance(exc, StopIteration) or sys.version_info >= (3, 10):
        return False
    code, lasti = frame.f_code.co_code, frame.f_lasti
    return 0 <= lasti < len(code) and code[lasti] == _ops()["for_iter"]


def _unwinding(frame: types.FrameType) -> bool:
    """settrace reports a frame left by an exception as a 'return' of None; its last instruction tells."""
    ops = _ops()
    code = frame.f_code.co_code
    lasti = frame.f_lasti
    if 0 <= lasti < len(code) and code[lasti] in ops["exit"]:
        return False
    # 3.13 reports a yield with the RESUME after it as the last instruction
    return not (2 <= lasti < len(code) and code[lasti] == ops["resume"] and code[lasti - 2] in ops["exit"])


# -- sys.settrace back end
# --------------------------------------------------------------------------------------
def _run_settrace(rec: Recorder, thunk: Callable[[], Any]) -> Any:
    def local(frame: types.FrameType, event: str, arg: Any) -> Optional[Callable[..., Any]]:
        if rec.truncated:
            return None
        if event == "line":
            rec.on_line(frame, frame.f_lineno)
        elif event == "return":
            rec.on_return(frame, arg, unwinding=_unwinding(frame))
        elif event == "exception":
            if not _loop_exhaustion(frame, arg[1]):
                rec.on_exception(frame, arg[1])
        return local

    def global_(frame: types.FrameType, event: str, arg: Any) -> Optional[Callable[..., Any]]:
        if event != "call" or rec.truncated or not rec.wants(frame.f_code):
            return None
        rec.on_call(frame)
        return local

    def stop() -> None:
        sys.settrace(None)
        frame: Optional[types.FrameType] = sys._getframe()
        while frame is not None:
            frame.f_trace = None
            frame = frame.f_back

    rec.stop = stop
    _ops()  # import the opcode table before tracing starts
    sys.settrace(global_)
    try:
        return thunk()
    finally:
        sys.settrace(None)


# -- sys.monitoring back end (3.12+)
# ----------------------------------------------------------------------------
def _line_table(code: types.CodeType, cache: Dict[types.CodeType, Dict[int, int]]) -> Dict[int, int]:
    table = cache.get(code)
    if table is None:
        table = {}
        for start, end, line in code.co_lines():
            if line is not None:
                for offset in range(start, end, 2):
                    table[offset] = line
        cache[code] = table
    return table


def _run_monitoring(rec: Recorder, thunk: Callable[[], Any]) -> Any:
    mon = sys.monitoring  # type: ignore[attr-defined]
    ev = mon.events
    tool = next((t for t in (mon.DEBUGGER_ID, 2, 3, 4) if mon.get_tool(t) is None), None)
    if tool is None:
        return _run_settrace(rec, thunk)
    disable = mon.DISABLE
    getframe = sys._getframe
    wants = rec.wants
    lines: Dict[types.CodeType, Dict[int, int]] = {}

    def start(code: types.CodeType, offset: int) -> Any:
        if not wants(code):
            return disable
        rec.on_call(getframe(1))
        return None

    def line(code: types.CodeType, lineno: int) -> Any:
        if not wants(code):
            return disable
        rec.on_line(getframe(1), lineno)
        return None

    def jump(code: types.CodeType, src: int, dest: int) -> Any:
        if dest > src or not wants(code):
            return disable
        table = _line_table(code, lines)
        target = table.get(dest)
        if target is None or target != table.get(src):
            return disable  # a LINE event covers jumps to another line
        rec.on_line(getframe(1), target)
        return None

    def ret(code: types.CodeType, offset: int, value: Any) -> Any:
        if not wants(code):
            return disable
        rec.on_return(getframe(1), value)
        return None

    def raise_(code: types.CodeType, offset: int, exc: BaseException) -> Any:
        if wants(code):
            rec.on_exception(getframe(1), exc)
        return None

    def unwind(code: types.CodeType, offset: int, exc: BaseException) -> Any:
        if wants(code):
            rec.on_unwind(getframe(1))
        return None

    def stop() -> None:
        mon.set_events(tool, 0)

    mon.use_tool_id(tool, "semtrace")
    try:
        for event, callback in ((ev.PY_START, start), (ev.PY_RESUME, start), (ev.LINE, line), (ev.JUMP, jump),
                                (ev.PY_RETURN, ret), (ev.PY_YIELD, ret), (ev.RAISE, raise_),
                                (ev.PY_UNWIND, unwind)):
            mon.register_callback(tool, event, callback)
        rec.stop = stop
        mon.set_events(tool, ev.PY_START | ev.PY_RESUME | ev.LINE | ev.JUMP | ev.PY_RETURN | ev.PY_YIELD
                       | ev.RAISE | ev.PY_UNWIND)
        try:
            return thunk()
        finally:
            mon.set_events(tool, 0)
    finally:
        for event in (ev.PY_START, ev.PY_RESUME, ev.LINE, ev.JUMP, ev.PY_RETURN, ev.PY_YIELD, ev.RAISE,
                      ev.PY_UNWIND):
            mon.register_callback(tool, event, None)
        mon.free_tool_id(tool)
        mon.restart_events()


def default_backend() -> str:
    return "monitoring" if hasattr(sys, "monitoring") else "settrace"


def trace_thunk(thunk: Callable[[], Any], filename: str, max_events: int = 10000, max_value_len: int = 200,
                test_index: int = 0, backend: Optional[str] = None
                ) -> Tuple[Any, Optional[BaseException], Dict[str, Any]]:
    """Run ``thunk()`` under the tracer. Returns ``(value, exception_or_None, trace_dict)``.

    ``trace_dict`` has the shape of ``semtrace.sandbox.trace.Trace.to_dict()``. ``backend`` forces
    ``"settrace"`` or ``"monitoring"`` (tests use it); by default the fastest available is used.
    """
    backend = backend or default_backend()
    if backend == "monitoring" and not hasattr(sys, "monitoring"):
        raise ValueError("sys.monitoring needs Python >= 3.12; use backend='settrace'")
    rec = Recorder(filename, max_events, max_value_len, test_index)
    value: Any = None
    error: Optional[BaseException] = None
    runner = _run_monitoring if backend == "monitoring" else _run_settrace
    try:
        value = runner(rec, thunk)
    except BaseException as exc:  # the candidate's failure is data, not ours
        error = exc
    return value, error, rec.result(backend)
