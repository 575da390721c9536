"""The candidate's side of the executor (stdlib only, Python 3.9+; shipped beside ``runner.py``): what a forked
child does with the job it read itself. ``child_main`` takes a new session, stdin from /dev/null, the pipes the
supervisor sent (the report and control pipes moved to random descriptors, closed in any process the candidate
forks), stages stdio inputs, sets rlimits, then loads the program as module ``__candidate__`` and runs the tests
in order, reporting each on the report pipe with the job's nonce: a *value* (``judge.encode``) for call and stdio
tests, which the supervisor judges; for an assert test it only answers the assert judge's calls (``calls.py``)
and then says they are over. A traced test's trace follows its
report: a small one at once (the supervisor drops it unless its verdict ships it), a large one only when the
verdict, read from the control pipe, asks for it; the verdict also says when to stop tracing.
"""

from __future__ import annotations

import io
import os
import random
import resource
import select
import signal
import sys
from typing import Any, Callable, Dict, List, Optional

try:  # imported as semtrace.sandbox.child on the host, as a script inside the sandbox
    from . import calls, judge, protocol, tracer  # type: ignore[no-redef]
except ImportError:
    import calls  # type: ignore[no-redef]
    import judge  # type: ignore[no-redef]
    import protocol  # type: ignore[no-redef]
    import tracer  # type: ignore[no-redef]

ANNOTATIONS = __import__("__future__").annotations.compiler_flag
MB = 1024 * 1024
# a trace of at most this many events is sent before its verdict (encoding it costs less than the wait for the
# verdict); a larger one waits, and is encoded only if the verdict ships it
AHEAD_EVENTS = 400


def set_limits(limits: Dict[str, Any], cpu_seconds: float) -> None:
    def setl(which: int, value: int) -> None:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass
    setl(resource.RLIMIT_CPU, int(cpu_seconds) + 1)
    if limits.get("memory_mb"):
        setl(resource.RLIMIT_AS, int(limits["memory_mb"]) * MB)
    if limits.get("file_size_mb"):
        setl(resource.RLIMIT_FSIZE, int(limits["file_size_mb"]) * MB)
    if limits.get("processes") and os.getuid() != 0:
        setl(resource.RLIMIT_NPROC, int(limits["processes"]))
    setl(resource.RLIMIT_CORE, 0)


def describe(exc: BaseException) -> str:
    text = str(exc)[:1000] if str(exc) else ""
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


_DUMPS = protocol.report_encoder()
_WRITE = os.write
_MEMORYVIEW = memoryview


def _reporter(fd: int, nonce: str, value_bytes: int) -> Callable[..., None]:
    """The child's only way to talk to the supervisor; the descriptor and nonce live in this closure. What it
    calls to encode and write was bound at import (``_DUMPS``, ``_WRITE``), so a plain patch of ``json`` or ``os``
    does not reach a report on its way out (``patch_the_reporters_helpers``); introspection still can (README)."""
    dumps, write, view_of = _DUMPS, _WRITE, _MEMORYVIEW

    def send(ev: str, **fields: Any) -> None:
        data = (dumps({"n": nonce, "ev": ev, **fields}) + "\n").encode()  # the nonce first: checked unparsed
        if len(data) > value_bytes and ev == "answer":
            data = (dumps({"n": nonce, "ev": ev, "s": fields.get("s"), "error": "the value is too large to judge: "
                           "%d bytes (limit %d)" % (len(data), value_bytes)}) + "\n").encode()
        elif len(data) > value_bytes and ev == "done":
            data = (dumps({"n": nonce, "ev": ev, "i": fields.get("i"), "kind": "raised", "status": "error",
                           "message": "the output is too large to judge or record: %d bytes (limit %d)"
                           % (len(data), value_bytes)}) + "\n").encode()
        view = view_of(data)
        while view:
            view = view[write(fd, view):]

    return send


class _Remote:
    """What an assert test needs here: the judge's call pipe, the answer sender and the objects it holds."""

    def __init__(self, fd: int, answer: Callable[..., None]) -> None:
        self.calls, self.answer, self.table = calls.CallReader(fd), answer, calls.Handles()


def _run_one(test: Dict[str, Any], ns: Dict[str, Any], code_obj: Any, entry: Optional[str],
             prelude: Any = None, remote: Optional[_Remote] = None) -> Any:
    """Perform one test; return what the supervisor judges (the value, or the stdout of a stdio test). An assert
    test (``remote``) is the judge's: this side only answers its calls (``calls.serve``)."""
    kind = test["kind"]
    if kind == "call":
        if test.get("expr"):
            return eval(compile(test["expr"], "<test>", "eval"), ns)
        fn = ns[test.get("func") or entry or "candidate"]
        args, kwargs = eval(compile("__semtrace_collect__(%s)" % test.get("args", ""), "<test>", "eval"), ns)
        return fn(*args, **kwargs)
    if kind == "remote":
        if remote is None:
            raise RuntimeError("an assert test without the judge's call pipe")
        calls.serve(remote.calls, remote.answer, ns, remote.table, _flush)
        return None
    old_in, old_out = sys.stdin, sys.stdout
    sys.stdin = _stdin_for(test)
    sink = _Sink()
    sys.stdout = io.TextIOWrapper(sink, encoding="utf-8", errors="replace", write_through=True)
    main: Dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        if prelude is not None:
            exec(prelude, main)
        exec(code_obj, main)
    except SystemExit as exc:
        if exc.code not in (None, 0) and not test.get("any_exit"):
            raise
    finally:
        out, sys.stdin, sys.stdout = sys.stdout, old_in, old_out
        try:
            out.flush()
        except (ValueError, OSError):
            pass
    return sink.getvalue().decode("utf-8", "replace")


class _Sink(io.BytesIO):
    """A stdio test's stdout: text and ``sys.stdout.buffer`` writes in order; closing it keeps what was written."""

    def close(self) -> None:
        pass


_STDIN_FDS: Dict[int, int] = {}  # stdio test index -> an unlinked file holding its input (written before limits)


def _stage_stdin(tests: List[Dict[str, Any]]) -> None:
    """Write each stdio test's input to an unlinked file now, before the file-size limit is set, so that the
    test's fd 0 is a real file: ``input()``, ``sys.stdin``, ``sys.stdin.buffer`` and ``open(0)`` all read it."""
    for test in tests:  # (no tempfile import here: a child importing a module costs more than its tests)
        if test["kind"] != "stdio":
            continue
        fd = _unlinked_file()
        view = memoryview(test.get("stdin", "").encode("utf-8", "surrogateescape"))
        while view:
            view = view[os.write(fd, view):]
        _STDIN_FDS[test["i"]] = fd


def _unlinked_file() -> int:
    """A read-write file in the working directory with no name (O_TMPFILE, else created and unlinked at once)."""
    try:
        return os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
    except (AttributeError, OSError):
        while True:
            name = "stdin-%s" % os.urandom(8).hex()
            try:
                fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            os.unlink(name)
            return fd


def _stdin_for(test: Dict[str, Any]) -> Any:
    fd = _STDIN_FDS.pop(test["i"], None)
    if fd is None:  # (not staged: an empty input)
        return io.StringIO(test.get("stdin", ""))
    os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(fd, 0)
    os.close(fd)
    return open(0, "r", encoding="utf-8", errors="surrogateescape", closefd=False)


def _value_form(test: Dict[str, Any], value: Any, record: bool) -> Any:
    """What the child reports for a value: stdout as text, the encoded value, or its digest (a digest test, or
    a recorded value too large to encode)."""
    if test["kind"] == "stdio":
        return value
    if test.get("form") == "digest":
        return judge.digest_form(value)
    try:
        return judge.encode(value)
    except OverflowError:
        if record:
            return judge.digest_form(value)
        raise


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def _child_tests(job: Dict[str, Any], send: Callable[..., None], ctl: int, remote: Optional[_Remote]) -> None:
    """Load the program, run the job's tests in order, report each; then ``finished``."""
    path = job["path"]
    try:
        # deferred annotations, stated rather than inherited from this module's __future__ import: a program may
        # annotate with names it never imports (``List[int]``), as it may under Python 3.14
        code_obj = compile(job["code"], path, "exec", flags=ANNOTATIONS, dont_inherit=True)
    except BaseException as exc:
        send("load_error", status="error", message=describe(exc))
        return
    tests: List[Dict[str, Any]] = job["tests"]
    ns: Dict[str, Any] = {"__name__": "__candidate__", "__file__": path, "__builtins__": __builtins__}
    entry = job.get("entry_point")
    prelude = None
    try:
        if job.get("prelude"):
            prelude = compile(job["prelude"], "<prelude>", "exec")
        if any(t["kind"] != "stdio" for t in tests):
            if prelude is not None:
                exec(prelude, ns)
            exec(code_obj, ns)
        ns = dict(ns)
        if entry and entry in ns:
            ns["candidate"] = ns[entry]
        ns["__semtrace_collect__"] = lambda *a, **k: (a, k)
        if job.get("test_setup"):
            exec(compile(job["test_setup"], "<test_setup>", "exec"), ns)
    except BaseException as exc:
        send("load_error", status="oom" if isinstance(exc, MemoryError) else "error", message=describe(exc))
        return
    _flush()
    send("loaded")
    spec = job.get("trace")
    tracing: Optional[List[int]] = None if spec is None else list(spec.get("tests") or [])
    verdicts = _Verdicts(ctl)
    for test in tests:  # in order: the supervisor knows the test in flight is the one after the last "done"
        i = test["i"]
        trace = None
        verdicts.poll()
        if verdicts.stop:
            tracing = None
        try:
            if tracing is not None and (not tracing or i in tracing):
                value, error, trace = tracer.trace_thunk(
                    lambda: _run_one(test, ns, code_obj, entry, prelude, remote), path,
                    int(spec.get("max_events", 10000)), int(spec.get("max_value_len", 200)), i)
                if error is not None:
                    raise error
            else:
                value = _run_one(test, ns, code_obj, entry, prelude, remote)
            if test["kind"] == "remote":  # the verdict is the judge's; this only says the calls are over
                msg: Dict[str, Any] = {"kind": "served"}
            else:
                msg = {"kind": "value", "value": _value_form(test, value, bool(job.get("record"))),
                       "repr": judge.safe_repr(value)}
        except BaseException as exc:
            if isinstance(exc, MemoryError):
                status = "oom"
            else:
                status = "error"
            text = describe(exc)
            msg = {"kind": "raised", "status": status, "message": text}
        _flush()
        try:
            send("done", i=i, traced=trace is not None, **msg)
        except BaseException as exc:  # e.g. an unencodable value; report it rather than hang
            send("done", i=i, traced=trace is not None, kind="raised", status="error",
                 message="cannot report the output: %s" % type(exc).__name__)
        if trace is not None and len(trace.get("events") or ()) <= AHEAD_EVENTS:
            # a small trace goes now, with no wait for the verdict (the supervisor keeps it only if the verdict
            # ships it); the verdicts, which may also stop tracing, are taken as they arrive
            send("trace", i=i, trace=trace)
            verdicts.owed += 1
        elif trace is not None:
            if verdicts.wait() in (b"t", b"T"):
                send("trace", i=i, trace=trace)
            if verdicts.stop:
                tracing = None
    _flush()
    send("finished")
    _flush()


class _Verdicts:
    """The supervisor's verdicts on traced tests, one byte each, in order on the control pipe: ``t`` ship the
    trace, ``n`` drop it; upper case (or the pipe closing): and trace no further tests. Read without waiting
    while traces go ahead of their verdicts (a test or two may be traced in vain, never one waited on)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.owed, self.stop = fd, 0, False
        os.set_blocking(fd, False)

    def _take(self) -> bytes:
        try:
            got = os.read(self.fd, self.owed)
        except BlockingIOError:
            return b""
        if not got:  # the supervisor closed the pipe
            self.owed, self.stop = 0, True
            return b""
        self.owed -= len(got)
        if any(b not in b"tn" for b in got):
            self.stop = True
        return got

    def poll(self) -> None:
        if self.owed:
            self._take()

    def wait(self) -> bytes:
        """The verdict on the test just traced (after any still owed for earlier ones)."""
        self.owed += 1
        last = b""
        waiter = select.poll()  # (not select.select: the descriptor's number may be past FD_SETSIZE)
        waiter.register(self.fd, select.POLLIN)
        while self.owed:
            waiter.poll()
            got = self._take()
            last = got[-1:] or last
        return last


def _private_fds(fds: List[int]) -> List[int]:
    """Move ``fds`` to random descriptor numbers (not inherited across exec); close every other descriptor."""
    targets: List[int] = []
    while len(targets) < len(fds):
        n = random.SystemRandom().randrange(100, 4000)
        if n not in targets and n not in fds:
            targets.append(n)
    for src, dst in zip(fds, targets):
        os.dup2(src, dst, inheritable=False)
    keep = sorted(targets)
    low = 3
    for fd in keep:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)
    return targets


def child_main(job: Dict[str, Any], fds: List[int]) -> None:
    """Runs in the forked child; never returns."""
    try:
        os.setsid()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        res_w, out_w, err_w, ctl_r = fds[:4]
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        private = _private_fds([res_w, ctl_r] + list(fds[4:6]))  # + the judge's call and answer pipes
        res, ctl = private[:2]
        os.register_at_fork(after_in_child=lambda: [_close(fd) for fd in private])
        if hasattr(sys, "set_int_max_str_digits"):
            sys.set_int_max_str_digits(0)
        os.chdir(os.path.dirname(job["path"]))
        try:
            _stage_stdin(job.get("tests") or [])
            staged = ""
        except OSError as exc:  # the sandbox's disk, not the candidate: the supervisor makes it a runner failure
            staged = describe(exc)
        set_limits(job.get("limits") or {}, float(job.get("cpu", 60.0)))
        nonce, value_bytes = job.pop("nonce"), int(job.get("value_bytes") or 256 * MB)
        send = _reporter(res, nonce, value_bytes)
        remote = _Remote(private[2], _reporter(private[3], nonce, value_bytes)) if len(private) == 4 else None
        if staged:
            send("stage_error", message=staged)
        else:
            _child_tests(job, send, ctl, remote)
    except Exception:  # the runner's own code failed (or a candidate broke it): the verdict stays the supervisor's
        _say_internal_error()  # (a test without its report is an error), but the cause is not silent
    finally:
        os._exit(0)


def _say_internal_error() -> None:
    """One line on the child's stderr (the request's ``stderr``) naming the exception and where it was raised."""
    try:
        kind, exc, tb = sys.exc_info()
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = "" if tb is None else " at %s:%d" % (os.path.basename(tb.tb_frame.f_code.co_filename), tb.tb_lineno)
        name = getattr(kind, "__name__", "exception")
        os.write(2, ("\nsemtrace child: internal error%s: %s: %s\n" % (where, name, str(exc)[:300])).encode())
    except BaseException:
        pass


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
