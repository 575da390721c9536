"""An endpoint that is not there, or that never answers, through the real SDKs: a closed port fails at once and
names the URL; a server that accepts and never answers times out, is retried once, and the error names the URL;
retries stop after ``max_total`` seconds; a run through the command line ends with one line and exit 2.

Every await is bounded by a generous ``asyncio.wait_for`` so that a regression to minutes of retries fails
instead of hanging; the assertions count attempts (connections the loopback servers saw), never seconds."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("openai")
pytest.importorskip("anthropic")

from semtrace.llms import LLMConfigError, Message, RetryPolicy, ServerError, Timeout, Unreachable, make_llm

MSGS = [Message("user", "reverse a string")]
BOUND = 60.0  # seconds: far above what these tests need, far below the old 12 minutes of retries


def _closed_port() -> int:
    """A loopback port nobody listens on: bound (so the OS picked a free one), then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _url(provider: str, port: int) -> str:
    return f"http://127.0.0.1:{port}" + ("" if provider == "anthropic" else "/v1")


class SilentServer:
    """Accepts connections, reads nothing, answers nothing; counts the connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed by stop()
                return
            self.accepted.append(conn)

    def stop(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close() alone does not)
        except OSError:
            pass
        self.sock.close()
        for conn in self.accepted:
            conn.close()
        self._thread.join(timeout=5)


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.stop()


def _bounded(coro):  # type: ignore[no-untyped-def]
    return asyncio.wait_for(coro, BOUND)


@pytest.mark.parametrize("provider", ["openai", "vllm", "anthropic"])
async def test_a_closed_port_fails_at_once_naming_the_url(provider):
    """The default retry policy (six attempts for transient errors) does not apply: nothing listens there."""
    port = _closed_port()
    llm = make_llm(f"{provider}:test-model", base_url=_url(provider, port), api_key="sk-test", cache=False)
    with pytest.raises(Unreachable) as info:
        await _bounded(llm.generate(MSGS))
    text = str(info.value)
    assert text.startswith(f"{provider}:test-model at {_url(provider, port)}: cannot connect (")
    assert "ConnectionRefusedError" in text and "is the server running" in text and "base_url" in text
    assert "\n" not in text
    assert info.value.fatal and not info.value.transient and info.value.original is not None
    total = llm.accounting.total()
    assert (total.requests, total.retries, total.errors) == (1, 0, 1)
    await llm.close()


async def test_every_replica_refusing_is_unreachable_naming_them_all():
    ports = [_closed_port(), _closed_port()]
    urls = [_url("vllm", p) for p in ports]
    llm = make_llm("vllm:m", base_url=urls, cache=False)
    with pytest.raises(Unreachable) as info:
        await _bounded(llm.generate(MSGS))
    assert str(info.value).startswith(f"vllm:m at {urls[0]}, {urls[1]}: cannot connect to any of its servers")
    assert llm.accounting.total().requests == 1 and info.value.fatal
    await llm.close()


async def test_a_refusing_replica_is_skipped_while_another_answers(fake_server):
    """One replica down is the balancer's business: the request goes to the other at once, no error."""
    dead = _url("vllm", _closed_port())
    llm = make_llm("vllm:m", base_url=[dead, fake_server.openai_url], cache=False)
    for i in range(3):
        [c] = await _bounded(llm.generate([Message("user", f"q{i}")]))
        assert c.text.endswith(f"echo: q{i} [0]")
    assert fake_server.count() == 3
    assert not llm.backend.endpoints.all[0].healthy
    await llm.close()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_a_server_that_never_answers_times_out_and_is_retried_once(provider, silent):
    """The read timeout (here 0.5 s) ends each attempt; a timeout is retried once (``timeout_attempts``), not
    ``max_attempts`` times; nothing was answered meanwhile, so the error is fatal and says so."""
    retry = RetryPolicy(initial=0.01, max_wait=0.01, jitter=0.0)  # the default attempts, short waits
    assert (retry.max_attempts, retry.timeout_attempts) == (6, 2)
    url = _url(provider, silent.port)
    llm = make_llm(f"{provider}:test-model", base_url=url, api_key="sk-test", cache=False, retry=retry,
                   timeout=0.5)
    with pytest.raises(Timeout) as info:
        await _bounded(llm.generate(MSGS))
    text = str(info.value)
    assert text.startswith(f"{provider}:test-model at {url}: no answer within 0.5s")
    assert "timeout option" in text and "no request to it was answered meanwhile" in text
    assert info.value.fatal
    assert len(silent.accepted) == 2  # one connection per attempt
    total = llm.accounting.total()
    assert (total.requests, total.retries, total.errors) == (2, 1, 1)
    await llm.close()


async def test_a_timeout_while_other_requests_are_answered_is_not_fatal(fake_server):
    """Only this request is slow (the server answers others meanwhile): its Timeout is that task's error, not a
    reason to stop a run."""
    fake_server.slow_when = "very long question"
    fake_server.slow_seconds = 5.0
    llm = make_llm("openai:m", base_url=fake_server.openai_url, api_key="k", cache=False, timeout=1.0,
                   retry=RetryPolicy(initial=0.01, max_wait=0.01, jitter=0.0))
    slow = asyncio.ensure_future(llm.generate([Message("user", "a very long question")]))

    async def arrived() -> None:  # the slow request has reached the server ...
        while fake_server.count() < 1:
            await asyncio.sleep(0.01)

    await _bounded(arrived())
    [c] = await _bounded(llm.generate([Message("user", "a short one")]))  # ... and another is answered
    assert c.text.endswith("echo: a short one [0]")
    with pytest.raises(Timeout) as info:
        await _bounded(slow)
    assert not info.value.fatal and "answered meanwhile" not in str(info.value)
    assert fake_server.count() == 3  # the slow one twice, the short one once
    await llm.close()


async def test_retries_stop_after_max_total_seconds(fake_server):
    """``max_total`` bounds the time a request spends retrying, whatever ``max_attempts`` allows."""
    fake_server.faults = ["500"] * 1000
    none = RetryPolicy(max_attempts=1000, initial=0.5, max_wait=0.5, jitter=0.0, max_total=0.0)
    llm = make_llm("openai:m", base_url=fake_server.openai_url, api_key="k", cache=False, retry=none)
    with pytest.raises(ServerError) as info:
        await _bounded(llm.generate(MSGS))
    assert fake_server.count() == 1  # a zero budget: no retry at all
    assert not info.value.fatal  # one quick 5xx is not evidence enough that the server is down
    some = none.model_copy(update={"max_total": 2.0})  # waits of 0.5 s: at most 4 attempts fit in 2 s
    llm = make_llm("openai:m", base_url=fake_server.openai_url, api_key="k", cache=False, retry=some)
    with pytest.raises(ServerError) as info:
        await _bounded(llm.generate(MSGS))
    assert 2 <= fake_server.count() - 1 <= 4
    assert llm.accounting.total().requests == fake_server.count() - 1
    assert str(info.value).startswith(f"openai:m at {fake_server.openai_url}: HTTP 500")
    assert info.value.fatal  # several attempts, nothing answered meanwhile: the server is broken
    await llm.close()


@pytest.mark.parametrize("options, needle", [
    ({"timeout": "soon"}, "timeout and connect_timeout must be > 0"),
    ({"connect_timeout": 0}, "timeout and connect_timeout must be > 0"),
    ({"max_attempts": 0}, "bad retry option"),
    ({"retry_max_total": -1}, "bad retry option"),
])
def test_bad_timeout_and_retry_options_are_config_errors(options, needle):
    with pytest.raises(LLMConfigError, match=needle):
        make_llm("openai:m", base_url="http://127.0.0.1:9/v1", cache=False, **options)


# ---------------------------------------------------------------- through the command line


def _semtrace() -> list[str]:
    exe = Path(sys.executable).with_name("semtrace")
    if not exe.exists():
        pytest.skip("the semtrace entry point is not installed in this environment")
    return [str(exe)]


def test_a_run_against_a_closed_port_is_one_line_exit_2(tmp_path):
    """The whole of stderr is one line naming the URL and the fix; no retry warnings, no traceback."""
    port = _closed_port()
    url = _url("openai", port)
    out = tmp_path / "run"
    env = {**os.environ, "SEMTRACE_LLM_CACHE": str(tmp_path / "cache.sqlite")}
    proc = subprocess.run([*_semtrace(), "run", "--benchmark", "demo", "--limit", "2", "--model", "openai:gpt-x",
                           "-o", f"llm.options.base_url={url}", "--sandbox", "local", "--out", str(out),
                           "--no-display"], capture_output=True, text=True, check=False, timeout=BOUND * 3, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: openai:gpt-x at {url}: cannot connect (ConnectionRefusedError")
    assert "llm.options.base_url" in lines[0] and f"--resume {out}" in lines[0]


def test_a_run_against_a_silent_server_is_one_line_exit_2(tmp_path, silent):
    from semtrace.cli import _mount, app
    from typer.testing import CliRunner

    _mount()
    url = _url("openai", silent.port)
    res = CliRunner().invoke(app, ["run", "--benchmark", "demo", "--limit", "2", "--model", "openai:gpt-x",
                                   "-o", f"llm.options.base_url={url}", "-o", "llm.options.timeout=0.5",
                                   "-o", "llm.options.retry_initial=0.01", "-o", "llm.options.retry_jitter=0",
                                   "--sandbox", "local", "--out", str(tmp_path / "run"), "--no-display"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: openai:gpt-x at {url}: no answer within 0.5s"), res.stderr
    assert "no request to it was answered meanwhile" in lines[0] and "--resume" in lines[0]
    assert len(silent.accepted) <= 2 * 2  # at most two attempts for each of the two tasks


async def test_a_back_end_without_a_url_is_named_by_its_spec(tmp_path):
    """An error raised by a back end that names no endpoint itself (here the scripted one's mismatch) gets the
    LLM's name from ``ManagedLLM``."""
    from semtrace.llms.scripted import ScriptMismatch

    rules = tmp_path / "rules.jsonl"
    rules.write_text('{"when": "alpha", "reply": "a"}\n')
    llm = make_llm(f"scripted:{rules}")
    with pytest.raises(ScriptMismatch) as info:
        await _bounded(llm.generate([Message("user", "beta")]))
    assert info.value.endpoint == f"scripted:{rules}" and str(info.value).startswith(f"scripted:{rules}: ")
    assert not info.value.fatal
