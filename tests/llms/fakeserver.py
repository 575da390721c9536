"""A loopback HTTP server speaking the OpenAI chat-completions and Anthropic Messages wire formats.

Faults are queued per request (``server.faults = ["429", "500", "ok"]``; an empty queue means ``ok``):
``429`` (with ``Retry-After: server.retry_after``), ``500``, ``503``, ``529`` (Anthropic overloaded),
``reset`` (TCP RST, no response), ``slow`` (answers after ``server.slow_seconds``), ``malformed`` (200 with
truncated JSON), ``401``, ``context`` (the provider's context-length error), ``quota`` (OpenAI 429
insufficient_quota), ``few`` (OpenAI: one choice whatever ``n`` asks). A request whose last user message
contains ``server.slow_when`` is slow whatever its fault. Every request is recorded.
Replies are ``#<request number> echo: <last user message>`` so a cached reply is recognisable.

A fault may also be ``{"status": 400, "body": {...}}``: that status and JSON body (a provider's own error).
``server.replies`` queues what the next answered requests say, one dict each, in the provider's wire format:
OpenAI ``{"message": {...}, "finish_reason": ..., "usage": {...}}`` merged into the default choice (every choice
when ``n`` > 1) and usage, e.g. ``{"message": {"content": "x", "reasoning_content": "...", "tool_calls": [...]}}``;
Anthropic ``{"content": [blocks], "stop_reason": ..., "usage": {...}}`` (``thinking``, ``redacted_thinking``,
``tool_use`` blocks as the API sends them).
"""

from __future__ import annotations

import io
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops SYNs when many clients connect at once (1 s retransmit)


class FakeLLMServer:
    def __init__(self) -> None:
        self.faults: list[str | dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.retry_after = "1"
        self.slow_seconds = 2.0
        self.slow_when: str | None = None
        self.delay = 0.0  # every ok response waits this long (for concurrency tests)
        self.inflight = 0
        self.max_inflight = 0
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def count(self, path_suffix: str = "") -> int:
        with self._lock:
            return sum(1 for r in self.requests if r["path"].endswith(path_suffix))

    def next_fault(self, body: dict[str, Any], path: str, headers: dict[str, str]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append({"path": path, "body": body, "headers": headers})
            number = len(self.requests)
            fault = self.faults.pop(0) if self.faults else "ok"
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)
        return number, fault

    def next_reply(self) -> dict[str, Any]:
        with self._lock:
            return self.replies.pop(0) if self.replies else {}

    def done(self) -> None:
        with self._lock:
            self.inflight -= 1

    def start(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _openai_error(status: int, message: str, type_: str, code: str | None) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _anthropic_error(status: int, type_: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"type": "error", "error": {"type": type_, "message": message}}


def _last_user(body: dict[str, Any]) -> str:
    for m in reversed(body.get("messages", [])):
        if m.get("role") == "user":
            content = m.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


def _make_handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the 40 ms delayed ACK

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any, extra: dict[str, str] | None = None) -> None:
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            try:
                self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.wfile = io.BytesIO()  # type: ignore[assignment] - swallow the handler's final flush
            self.close_connection = True

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                body = {"_raw": raw.decode(errors="replace")}
            anthropic = self.path.rstrip("/").endswith("/messages")
            number, fault = server.next_fault(body, self.path, {k.lower(): v for k, v in self.headers.items()})
            try:
                self._respond(number, fault, body, anthropic)
            finally:
                server.done()

        def _respond(self, number: int, fault: Any, body: dict[str, Any], anthropic: bool) -> None:
            if isinstance(fault, dict):
                self._send(int(fault["status"]), fault["body"])
                return
            if fault == "reset":
                self._reset()
                return
            if fault == "slow" or (server.slow_when and server.slow_when in _last_user(body)):
                time.sleep(server.slow_seconds)
            if fault == "malformed":
                self._send(200, b'{"id": "x", "object": "chat.completion", "choices": [{"index": 0, "mess')
                return
            errors = {
                "429": (_anthropic_error(429, "rate_limit_error", "Number of request tokens has exceeded your "
                                         "per-minute rate limit") if anthropic else
                        _openai_error(429, "Rate limit reached for requests", "requests", "rate_limit_exceeded")),
                "quota": _openai_error(429, "You exceeded your current quota, please check your plan and billing "
                                       "details.", "insufficient_quota", "insufficient_quota"),
                "500": (_anthropic_error(500, "api_error", "Internal server error") if anthropic else
                        _openai_error(500, "The server had an error while processing your request.", "server_error",
                                      None)),
                "503": (_anthropic_error(503, "api_error", "Service unavailable") if anthropic else
                        _openai_error(503, "The engine is currently overloaded, please try again later",
                                      "server_error", None)),
                "529": _anthropic_error(529, "overloaded_error", "Overloaded"),
                "401": (_anthropic_error(401, "authentication_error", "invalid x-api-key") if anthropic else
                        _openai_error(401, "Incorrect API key provided: sk-bad. You can find your API key at "
                                      "https://platform.openai.com/account/api-keys.", "invalid_request_error",
                                      "invalid_api_key")),
                "context": (_anthropic_error(400, "invalid_request_error",
                                             "prompt is too long: 213000 tokens > 200000 maximum") if anthropic else
                            _openai_error(400, "This model's maximum context length is 8192 tokens. However, your "
                                          "messages resulted in 9001 tokens. Please reduce the length of the "
                                          "messages.", "invalid_request_error", "context_length_exceeded")),
            }
            if fault in errors:
                status, payload = errors[fault]
                extra = {"Retry-After": server.retry_after} if fault in ("429", "503") else {}
                self._send(status, payload, extra)
                return
            if server.delay:
                time.sleep(server.delay)
            text = f"#{number} echo: {_last_user(body)}"
            reply = server.next_reply()
            if anthropic:
                self._send(200, {
                    "id": f"msg_{number:04d}", "type": "message", "role": "assistant", "model": body.get("model"),
                    "content": reply.get("content", [{"type": "text", "text": text}]),
                    "stop_reason": reply.get("stop_reason", "end_turn"), "stop_sequence": None,
                    "usage": {"input_tokens": 11, "output_tokens": 7, **reply.get("usage", {})}})
                return
            n = 1 if fault == "few" else int(body.get("n") or 1)
            self._send(200, {
                "id": f"chatcmpl-{number}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model"), "system_fingerprint": "fp_fake",
                "choices": [{"index": i, "message": {"role": "assistant", "content": f"{text} [{i}]",
                                                     **reply.get("message", {})},
                             "logprobs": None, "finish_reason": reply.get("finish_reason", "stop")}
                            for i in range(n)],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5 * n, "total_tokens": 10 + 5 * n,
                          **reply.get("usage", {})}})

    return Handler
