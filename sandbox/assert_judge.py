"""The assert judge: where an ``assert`` test runs (stdlib only, Python 3.9+; shipped beside ``runner.py``).

A test's source is trusted (it comes from the benchmark), so it runs here, in a process the supervisor forks for
a batch of tests (``JudgeProcess``), never in the candidate's: its expected values and its source never reach the
child. The candidate's names the test uses are ``Remote`` stand-ins; using one is a call on the channel of
``calls.py``, answered with a value (decoded into exact builtins), the exception the program raised (re-raised
here as the builtin class it derives from), or a handle to an object the child keeps. Comparisons, ``abs``,
``sorted``, the benchmark's helpers and the final truth test all run here on those values; a handle equals only
itself, has no order, and takes part in no operator with a test value, so no candidate method ever decides a
comparison and no test value is ever handed to one (arguments of the calls the test makes are the program's inputs).

The namespace: the prelude, then the program's objects the test sources name (``names``; a module the program
imported is this process's own import of the standard-library module of that name), then ``test_setup`` run
here, except its top-level classes, which are the child's (its objects are the program's inputs: QuixBugs'
``Node``). This process has its own memory limit and is killed with the test at its deadline, so a value crafted
to make the test code slow or huge is a timeout or an error, never a hang, a crash of the supervisor, or a pass.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import os
import resource
import signal
import sys
from typing import Any, Dict, List, Optional, Tuple

try:  # imported as semtrace.sandbox.assert_judge on the host, as a script inside the sandbox
    from . import judge, protocol  # type: ignore[no-redef]
except ImportError:
    import judge  # type: ignore[no-redef]
    import protocol  # type: ignore[no-redef]

LIMIT = "the judge cannot"  # how every message about a test the assert judge could not judge begins
JUDGE_MEMORY_MB = 1024  # the judge's own address space beyond what it inherits from the supervisor
STDLIB = frozenset(getattr(sys, "stdlib_module_names", ()))


class ProgramGone(BaseException):
    """The child stopped answering (it exited or was killed): the supervisor explains the test's end."""


class Unjudgeable(BaseException):
    """This test cannot be judged as written (an answer out of turn, a value too large, ...): an ``error``."""


class ProgramExited(BaseException):
    """The program raised ``SystemExit``/``KeyboardInterrupt`` in a call: an ``error`` no test code can catch."""


_RAISED: Dict[type, type] = {}
_REMOTE_TYPES: Dict[str, type] = {}


def program_exception(info: Any) -> BaseException:
    """The program's exception as the builtin class it derives from (test code may catch it); the candidate's
    own class name is only part of the message."""
    info = info if isinstance(info, dict) else {}
    base_name, type_name, message = (str(info.get(k, ""))[:1000] for k in ("base", "type", "message"))
    text = message if type_name == base_name else ("%s: %s" % (type_name, message) if message else type_name)
    base = getattr(builtins, base_name, None)
    if not (isinstance(base, type) and issubclass(base, BaseException)) or not issubclass(base, Exception):
        return ProgramExited("%s: %s" % (type_name, message) if message else type_name)
    for cls in base.__mro__:  # some builtin exceptions need more arguments (UnicodeDecodeError): the nearest base
        if cls not in _RAISED:
            _RAISED[cls] = type(cls.__name__, (cls,), {"from_program": True, "__module__": "builtins"})
        try:
            return _RAISED[cls](text)
        except TypeError:
            continue
    return ProgramExited(text)


class Link:
    """The judge's end of the call channel: one call out, its answer in, in lockstep."""

    def __init__(self, call_fd: int, answer_fd: int, nonce: str, value_bytes: int) -> None:
        self.call_fd, self.nonce, self.seq = call_fd, nonce, 0
        self.reader = protocol.LineReader(answer_fd, max_line=value_bytes + (1 << 20))
        self.pending: List[bytes] = []
        self.remotes: Dict[int, Remote] = {}

    def send(self, msg: Dict[str, Any]) -> None:
        view = memoryview(json.dumps(msg).encode() + b"\n")
        try:
            while view:
                view = view[os.write(self.call_fd, view):]
        except OSError:
            raise ProgramGone() from None

    def ask(self, op: str, **fields: Any) -> Any:
        self.seq += 1
        self.send(dict(fields, s=self.seq, op=op))
        line = self._next_line()
        if not line.startswith(b'{"n": "%s", ' % self.nonce.encode()):
            raise Unjudgeable("a malformed answer on the call channel")
        try:
            data = json.loads(line)
        except (ValueError, RecursionError, MemoryError):
            raise Unjudgeable("a malformed answer on the call channel") from None
        if not isinstance(data, dict) or data.get("ev") != "answer" or data.get("s") != self.seq:
            raise Unjudgeable("the program answered a call it was not asked")
        if "raised" in data:
            raise program_exception(data["raised"])
        if "error" in data:
            raise Unjudgeable(str(data["error"])[:300])
        try:
            return judge.decode(data.get("ok"), self._remote)
        except judge.BadValue as exc:
            raise Unjudgeable("a malformed answer: %s" % exc) from None

    def _next_line(self) -> bytes:
        while not self.pending:
            lines = self.reader.feed()
            if self.reader.overflowed:
                raise Unjudgeable("an answer larger than the value limit")
            if self.reader.eof and not lines:
                raise ProgramGone()
            self.pending.extend(lines)
        return self.pending.pop(0)

    def _remote(self, data: Dict[str, Any]) -> Any:
        n = data.get("handle")
        if type(n) is not int or "ref" in data:
            raise judge.BadValue("a malformed object reference")
        if n not in self.remotes:
            type_name = str(data.get("type", "object"))[:100]
            cls = _REMOTE_TYPES.get(type_name)
            if cls is None:  # named as the program's type, so a test's TypeError reads as it would have
                cls = _REMOTE_TYPES[type_name] = type(type_name if type_name.isidentifier() else "object", (Remote,),
                                                      {"__slots__": ()})
            module = data.get("module")
            self.remotes[n] = cls(self, n, type_name, str(data.get("repr", ""))[:300],
                                  module if isinstance(module, str) else None)
        return self.remotes[n]

    def arg(self, value: Any) -> Any:
        """A test value as a call's argument: builtins by value, the child's own objects by reference."""
        def ref(obj: Any) -> Any:
            if isinstance(obj, Remote) and object.__getattribute__(obj, "_st_link") is self:
                return {"ref": object.__getattribute__(obj, "_st_id")}
            raise Unjudgeable("the judge cannot pass a %s from the test to the program" % type(obj).__name__)
        return judge.encode(value, opaque=ref)


def _typed(value: Any, kinds: Tuple[type, ...], what: str) -> Any:
    if type(value) not in kinds:
        raise TypeError("%s returned %s" % (what, type(value).__name__))
    return value


class Remote:
    """An object of the program's, held by the child. Equal only to itself, never ordered; its attributes, items,
    calls and one-operand operations are calls into the child that answer with values."""

    __slots__ = ("_st_link", "_st_id", "_st_type", "_st_repr", "_st_module")

    def __init__(self, link: Link, n: int, type_name: str, text: str, module: Optional[str]) -> None:
        for name, value in (("_st_link", link), ("_st_id", n), ("_st_type", type_name), ("_st_repr", text),
                            ("_st_module", module)):
            object.__setattr__(self, name, value)

    def _st_ask(self, op: str, **fields: Any) -> Any:
        link = object.__getattribute__(self, "_st_link")
        return link.ask(op, target={"ref": object.__getattribute__(self, "_st_id")}, **fields)

    def _st_arg(self, value: Any) -> Any:
        return object.__getattribute__(self, "_st_link").arg(value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):  # protocols the test's own code probes (copy, pickle)
            raise AttributeError(name)
        return self._st_ask("getattr", name=name)

    def __setattr__(self, name: str, value: Any) -> None:
        self._st_ask("setattr", name=name, value=self._st_arg(value))

    def __delattr__(self, name: str) -> None:
        self._st_ask("delattr", name=name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._st_ask("call", args=self._st_arg(list(args)), kwargs=self._st_arg(dict(kwargs)))

    def __getitem__(self, key: Any) -> Any:
        return self._st_ask("getitem", key=self._st_arg(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        self._st_ask("setitem", key=self._st_arg(key), value=self._st_arg(value))

    def __delitem__(self, key: Any) -> None:
        self._st_ask("delitem", key=self._st_arg(key))

    def _st_unary(self, name: str, kinds: Tuple[type, ...]) -> Any:
        return _typed(self._st_ask("unary", name=name), kinds, "%s() of a %s" % (name, object.__getattribute__(
            self, "_st_type")))

    def __len__(self) -> int:
        return self._st_unary("len", (int,))

    def __bool__(self) -> bool:
        return self._st_unary("bool", (bool,))

    def __str__(self) -> str:
        return self._st_unary("str", (str,))

    def __iter__(self) -> Any:
        return iter(self._st_unary("list", (list,)))

    def __int__(self) -> int:
        return self._st_unary("int", (int,))

    def __index__(self) -> int:
        return self._st_unary("index", (int,))

    def __float__(self) -> float:
        return self._st_unary("float", (float,))

    def __neg__(self) -> Any:
        return self._st_ask("unary", name="neg")

    def __pos__(self) -> Any:
        return self._st_ask("unary", name="pos")

    def __abs__(self) -> Any:
        return self._st_ask("unary", name="abs")

    def __invert__(self) -> Any:
        return self._st_ask("unary", name="invert")

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def __hash__(self) -> int:
        return hash(("remote", object.__getattribute__(self, "_st_id")))

    def __repr__(self) -> str:
        return object.__getattribute__(self, "_st_repr")


# ------------------------------------------------------------------------------------------------ the namespace

def _names(sources: List[str]) -> Tuple[set, set]:
    """(every name the sources read, the top-level class names of the first source)."""
    used, classes = set(), set()
    for n, source in enumerate(sources):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        used.update(node.id for node in ast.walk(tree) if isinstance(node, ast.Name))
        if n == 0:
            classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    return used, classes


def _module(remote: Remote) -> Any:
    """This process's own import of a standard-library module the program imported; else the child's object."""
    name = object.__getattribute__(remote, "_st_module")
    if name and (name in STDLIB or name in sys.modules):
        try:
            return importlib.import_module(name)
        except Exception:
            pass
    return remote


def namespace(req: Dict[str, Any], sources: List[str], link: Link) -> Dict[str, Any]:
    setup = req.get("test_setup") or ""
    used, classes = _names([setup] + sources)
    entry = req.get("entry_point") or ""
    own = {"candidate", entry} - {""}
    wanted = sorted(n for n in (used | own) if n in own or not (hasattr(builtins, n) or n.startswith("__")))
    ns: Dict[str, Any] = {"__name__": "__test__", "__builtins__": builtins}
    answered = link.ask("names", names=wanted) if wanted else {}
    if not isinstance(answered, dict):
        raise Unjudgeable("the program answered the names call with a %s" % type(answered).__name__)
    # only the names asked for: an answer that adds ``sorted`` or ``__builtins__`` must not shadow the judge's own
    program = {k: (_module(v) if isinstance(v, Remote) and object.__getattribute__(v, "_st_module") else v)
               for k, v in answered.items() if k in wanted}
    ns.update(program)
    if req.get("prelude"):
        exec(compile(req["prelude"], "<prelude>", "exec"), ns)
        ns.update({k: program[k] for k in own if k in program})
    if setup:
        tree = ast.parse(setup)
        tree.body = [node for node in tree.body if not (isinstance(node, ast.ClassDef) and node.name in program)]
        exec(compile(tree, "<test_setup>", "exec"), ns)
    return ns


# ------------------------------------------------------------------------------------------------ the verdicts

def describe(exc: BaseException) -> str:
    text = str(exc)[:1000] if str(exc) else ""
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def evaluate(source: str, ns: Dict[str, Any]) -> Tuple[str, str]:
    """(status, message) of one assert test; ``ProgramGone`` propagates."""
    try:
        exec(compile(source, "<test>", "exec"), ns)
    except ProgramGone:
        raise
    except (Unjudgeable, ProgramExited) as exc:
        return "error", str(exc) if isinstance(exc, ProgramExited) else "%s judge this test: %s" % (LIMIT, exc)
    except AssertionError as exc:
        return "failed", describe(exc) if str(exc) else "AssertionError: %s" % source.strip()[:500]
    except MemoryError as exc:
        if getattr(exc, "from_program", False):
            return "oom", describe(exc)
        return "error", "%s judge this test within its own memory limit" % LIMIT
    except RecursionError as exc:
        return "error", describe(exc)
    except BaseException as exc:
        return "error", describe(exc)
    return "passed", ""


def serve(req: Dict[str, Any], tests: List[Dict[str, Any]], order: List[int], link: Link, verdict_fd: int) -> None:
    """The judge process's loop: the batch's assert tests in ``order``, each verdict out to the supervisor, then
    ``end`` to the child. It runs ahead of the child: a test's calls wait in their pipe until the child reaches
    that test (it reads them only then), so no round trip through the supervisor is needed between tests."""
    ns: Optional[Dict[str, Any]] = None
    setup_error = ""
    for i in order:
        source = tests[i].get("source", "")
        try:
            if ns is None and not setup_error:
                sources = [t.get("source", "") for t in tests if t.get("kind") == "assert"]
                try:
                    ns = namespace(req, sources, link)
                except ProgramGone:
                    raise
                except BaseException as exc:
                    setup_error = "%s set up the test's names: %s" % (LIMIT, describe(exc))
            status, message = ("error", setup_error) if setup_error else evaluate(source, ns or {})
            verdict: Dict[str, Any] = {"i": i, "status": status, "message": message}
        except ProgramGone:
            os.write(verdict_fd, json.dumps({"i": i, "gone": True}).encode() + b"\n")
            return  # the child is gone: this batch is over
        os.write(verdict_fd, json.dumps(verdict).encode() + b"\n")
        try:
            link.send({"op": "end"})
        except ProgramGone:
            return


def become_judge(keep: List[int], cpu_seconds: float) -> None:
    """In the forked judge: only its own pipes open (stdout is the runner's result channel), quiet standard
    streams, default signals, killed with the supervisor, and its own CPU and memory limits."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: never outlive the supervisor
    except Exception:
        pass
    try:
        with open("/proc/self/statm") as f:
            inherited = int(f.read().split()[0]) * resource.getpagesize()
        limit = inherited + JUDGE_MEMORY_MB * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_seconds) + 1, int(cpu_seconds) + 1))
    except (OSError, ValueError):
        pass
