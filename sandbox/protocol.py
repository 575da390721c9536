"""The runner's wire formats (stdlib only, Python 3.9+; shipped into the sandbox beside ``runner.py``).

Three channels, each with its own small vocabulary:

- supervisor -> executor (a socketpair): a ``Job`` — code, test *inputs*, limits and a nonce, never an expected
  value — sent as a fixed-size header carrying the child's pipe ends (``SCM_RIGHTS``), then the JSON body.
- executor -> supervisor (the same socketpair): ``ready``, ``pid N`` after a fork, ``exit N STATUS`` after the
  child is reaped.
- child -> supervisor (a private pipe at a random descriptor, closed in any process the candidate forks): one
  ``Report`` per JSON line, each carrying the job's nonce. ``Report.parse`` rejects anything else.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any, Callable, Dict, List, Optional, Tuple

HEADER = 24  # bytes: "J" + decimal body length, space padded, newline
REPORT_EVENTS = ("loaded", "load_error", "stage_error", "done", "trace", "finished")
# what a child may say about one test: never a verdict ("served": the assert judge's calls are over)
DONE_KINDS = ("value", "raised", "served")
RAISED = ("error", "oom")


class ProtocolError(RuntimeError):
    """The other side of a runner channel is gone or spoke out of turn."""


class Report:
    """One line from a candidate's child process, validated. Anything malformed parses to None."""

    __slots__ = ("ev", "i", "kind", "value", "repr", "message", "traced", "trace", "status")

    def __init__(self, ev: str, **fields: Any) -> None:
        self.ev = ev
        self.i: Optional[int] = fields.get("i")
        self.kind: str = fields.get("kind", "")
        self.value: Any = fields.get("value")
        self.repr: str = fields.get("repr", "")
        self.message: str = fields.get("message", "")
        self.traced: bool = bool(fields.get("traced", False))
        self.trace: Optional[Dict[str, Any]] = fields.get("trace")
        self.status: str = fields.get("status", "")

    @classmethod
    def parse(cls, line: bytes, nonce: str) -> Optional["Report"]:
        if not line.startswith(b'{"n": "%s", ' % nonce.encode()):
            return None  # not ours: a line without the nonce up front is never parsed (deep nesting, huge numbers)
        try:
            data = json.loads(line)
        except (ValueError, RecursionError, MemoryError):
            return None
        if not isinstance(data, dict) or data.get("n") != nonce or data.get("ev") not in REPORT_EVENTS:
            return None
        ev = data["ev"]
        if ev in ("done", "trace"):
            if type(data.get("i")) is not int:
                return None
            if ev == "done" and data.get("kind") not in DONE_KINDS:
                return None
            if ev == "trace" and not isinstance(data.get("trace"), dict):
                return None
        if ev == "done" and data["kind"] == "raised" and data.get("status") not in RAISED:
            return None
        if not isinstance(data.get("message", ""), str) or not isinstance(data.get("repr", ""), str):
            return None
        return cls(ev, **{k: v for k, v in data.items() if k in cls.__slots__ and k != "ev"})


def report_encoder() -> Callable[[Any], str]:
    """``json.dumps`` for reports, bound now, before any candidate code runs, so that a candidate replacing
    ``json.dumps``, ``json.JSONEncoder``'s methods or ``json.encoder.c_make_encoder`` later does not reach it
    (a plain monkeypatch; see sandbox/README.md for what introspection still can)."""
    from json import encoder as json_encoder

    make = json_encoder.c_make_encoder
    if make is None:  # no C accelerator (CPython has it): json.dumps, looked up through json's module as usual
        return json.JSONEncoder().encode
    markers: Dict[int, Any] = {}  # json.dumps's circular-reference check; emptied after a failed encoding too
    encode = make(markers, _unencodable, json_encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True)
    join = "".join

    def dumps(obj: Any) -> str:
        try:
            return join(encode(obj, 0))
        finally:
            markers.clear()

    return dumps


def _unencodable(obj: Any) -> Any:
    raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)


# ------------------------------------------------------------------------------ supervisor <-> executor socket

def send_job(sock: socket.socket, job: Dict[str, Any], fds: List[int]) -> None:
    body = json.dumps(job).encode()
    header = ("J%d" % len(body)).ljust(HEADER - 1).encode() + b"\n"
    socket.send_fds(sock, [header], fds)
    sock.sendall(body)


def _read_exact(sock: socket.socket, n: int, first: bytes = b"") -> bytes:
    parts, got = [first], len(first)
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            raise ProtocolError("the supervisor closed the executor's socket")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def recv_job(sock: socket.socket) -> Optional[Tuple[Dict[str, Any], List[int]]]:
    """The next job and its descriptors; None when the supervisor has gone (EOF)."""
    data, fds, _flags, _addr = socket.recv_fds(sock, HEADER, 8)
    if not data:
        for fd in fds:
            os.close(fd)
        return None
    header = _read_exact(sock, HEADER, data)
    if not header.startswith(b"J"):
        raise ProtocolError("bad job header %r" % header[:HEADER])
    body = _read_exact(sock, int(header[1:].strip()))
    return json.loads(body), list(fds)


class LineReader:
    """Newline-delimited messages from a socket or pipe, buffered without quadratic copying (a line may be MBs)."""

    def __init__(self, fd: int, max_line: int = 0) -> None:
        self.fd = fd
        self.parts: List[bytes] = []
        self.size = 0
        self.eof = False
        self.max_line = max_line  # 0: unbounded (trusted peers); past it the partial line is dropped
        self.overflowed = False

    def feed(self) -> List[bytes]:
        """Read what is available (call when select says readable); return the complete lines."""
        data = os.read(self.fd, 1 << 20)
        if not data:
            self.eof = True
            return []
        if b"\n" not in data:
            self.parts.append(data)
            self.size += len(data)
            if self.max_line and self.size > self.max_line:
                self.parts, self.size, self.overflowed = [], 0, True
            return []
        self.parts.append(data)
        *lines, rest = b"".join(self.parts).split(b"\n")
        self.parts, self.size = ([rest], len(rest)) if rest else ([], 0)
        if self.max_line and any(len(x) > self.max_line for x in lines):
            self.overflowed = True
            lines = [x for x in lines if len(x) <= self.max_line]
        return lines
