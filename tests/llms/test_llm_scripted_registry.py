"""The scripted back end's rules, spec parsing, the registry, plugging a user's back end, missing SDKs."""

from __future__ import annotations

import importlib.util
import json
import textwrap
import time
from pathlib import Path

import pytest
from semtrace.llms import LLM, Message, make_llm, parse_spec
from semtrace.llms.registry import LLMS, MissingSDK
from semtrace.llms.scripted import ScriptError, ScriptMismatch
from semtrace.registry import RegistryError


def _rules(tmp_path: Path, *rules: dict) -> str:
    path = tmp_path / "rules.jsonl"
    path.write_text("# a comment\n\n" + "\n".join(json.dumps(r) for r in rules) + "\n")
    return f"scripted:{path}"


async def test_scripted_first_match_wins_and_lists_are_consumed_then_repeat(tmp_path):
    spec = _rules(tmp_path, {"when": r"def \w+\(", "reply": ["one", "two", "three"]},
                  {"when": "reverse", "reply": "never: the rule above matches first"},
                  {"when": "^hello", "reply": "hi!"})
    llm = make_llm(spec)
    assert isinstance(llm, LLM)
    code = [Message("system", "hello (not the last user message)"), Message("user", "fix def reverse(s):")]
    out = [c.text for c in await llm.generate(code, n=2)]
    out += [c.text for c in await llm.generate(code)]
    out += [c.text for c in await llm.generate(code, n=2)]
    assert out == ["one", "two", "three", "three", "three"]
    [hi] = await llm.generate([Message("user", "hello there")])
    assert hi.text == "hi!" and hi.usage.completion_tokens > 0 and not hi.cached
    assert llm.cache is None  # scripted replies are stateful: never cached
    assert llm.accounting.total().requests == 4 and llm.accounting.total().cost == 0.0


async def test_scripted_matches_the_last_user_message_only(tmp_path):
    llm = make_llm(_rules(tmp_path, {"when": "alpha", "reply": "A"}))
    with pytest.raises(ScriptMismatch, match=r"starting 'beta line one'"):
        await llm.generate([Message("user", "alpha"), Message("assistant", "A"),
                            Message("user", "beta line one\nsecond line")])
    assert llm.accounting.total().errors == 1


@pytest.mark.parametrize("content, message", [
    ('{"when": "x"}', "bad rule"),
    ('{"when": "(", "reply": "x"}', "bad rule"),
    ('{"when": "x", "reply": []}', "non-empty list"),
    ("not json", "bad rule"),
    ("", "has no rules"),
])
def test_scripted_bad_rule_files(tmp_path, content, message):
    path = tmp_path / "r.jsonl"
    path.write_text(content)
    with pytest.raises(ScriptError, match=message):
        make_llm(f"scripted:{path}")


def test_scripted_missing_file(tmp_path):
    with pytest.raises(ScriptError, match="not found"):
        make_llm(f"scripted:{tmp_path / 'nope.jsonl'}")


@pytest.mark.parametrize("spec, expected", [
    ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini", {})),
    ("vllm:Qwen/Qwen2.5-Coder-7B-Instruct?top_k=20&repetition_penalty=1.05&base_url=http://h:1/v1",
     ("vllm", "Qwen/Qwen2.5-Coder-7B-Instruct", {"top_k": 20, "repetition_penalty": 1.05,
                                                  "base_url": "http://h:1/v1"})),
    ("llamacpp:/models/x.gguf?n_ctx=2048&cache=false", ("llamacpp", "/models/x.gguf", {"n_ctx": 2048,
                                                                                        "cache": False})),
    ("ollama-ish:model:7b", ("ollama-ish", "model:7b", {})),
    ("mypkg.llms:MyLLM:my-model", ("mypkg.llms:MyLLM", "my-model", {})),
    ("mypkg.llms.MyLLM:my-model", ("mypkg.llms.MyLLM", "my-model", {})),
])
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["gpt-4o", ":model", ""])
def test_bad_spec_is_one_clear_line(spec):
    with pytest.raises(ValueError, match="provider:model") as info:
        make_llm(spec)
    assert "\n" not in str(info.value)


def test_unknown_provider_lists_the_valid_ones():
    with pytest.raises(RegistryError) as info:
        make_llm("openia:gpt-4o")
    msg = str(info.value)
    assert "\n" not in msg
    for name in ("anthropic", "llamacpp", "openai", "scripted", "vllm", "vllm-offline"):
        assert name in msg


def test_missing_sdk_names_the_extra(tmp_path, monkeypatch):
    pkg = tmp_path / "ghostplug"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "backend.py").write_text("import ghost_sdk_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(LLMS.entries, "ghost", "ghostplug.backend:Ghost")
    from semtrace.llms import registry
    monkeypatch.setitem(registry.EXTRAS, "ghost", "ghost")
    with pytest.raises(MissingSDK) as info:
        make_llm("ghost:model")
    assert str(info.value) == ("the 'ghost' back end needs the 'ghost_sdk_that_is_not_installed' package; "
                               "install it with: pip install 'semtrace[ghost]'")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_offline_without_vllm_names_the_extra():
    with pytest.raises(MissingSDK, match=r"pip install 'semtrace\[vllm\]'"):
        make_llm("vllm-offline:Qwen/Qwen2.5-Coder-0.5B-Instruct")


async def test_user_backend_by_dotted_path_gets_cache_and_accounting(tmp_path, monkeypatch):
    pkg = tmp_path / "myllmplug"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "backend.py").write_text(textwrap.dedent('''
        from semtrace.llms.base import Completion, Usage

        class EchoLLM:
            def __init__(self, model, prefix=">"):
                self.model, self.prefix, self.name, self.calls = model, prefix, f"echo:{model}", 0

            async def generate(self, messages, *, n=1, temperature=0.0, max_tokens=1024, seed=None, stop=None):
                self.calls += 1
                text = f"{self.prefix} {messages[-1].content} seed={seed}"
                return [Completion(text=f"{text} #{i}", usage=Usage(3, 4), model=self.model) for i in range(n)]
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    llm = make_llm("myllmplug.backend:EchoLLM:echo-1?prefix=%3E%3E", cache_path=tmp_path / "c.sqlite")
    out = await llm.generate([Message("user", "hi")], n=2, seed=5)
    assert [c.text for c in out] == [">> hi seed=5 #0", ">> hi seed=5 #1"]
    again = await llm.generate([Message("user", "hi")], n=2, seed=5)
    assert all(c.cached for c in again) and llm.backend.calls == 1
    assert llm.name == "myllmplug.backend:EchoLLM:echo-1"
    with pytest.raises(ValueError, match="bad options"):
        make_llm("myllmplug.backend:EchoLLM:echo-1?colour=red")


def test_importing_the_llm_layer_imports_no_sdk():
    import subprocess
    import sys

    code = ("import sys, semtrace.llms.registry, semtrace.llms.cli, semtrace.llms.extract; "
            "print(sorted(m for m in ('openai', 'anthropic', 'llama_cpp', 'vllm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_wrapper_options_in_the_spec_query(tmp_path):
    pytest.importorskip("openai")
    llm = make_llm("openai:m?base_url=http://127.0.0.1:9/v1&cache=false&concurrency=3&max_attempts=2"
                   "&retry_initial=0.5&timeout=7")
    assert (llm.cache, llm.concurrency, llm.retry.max_attempts, llm.retry.initial) == (None, 3, 2, 0.5)
    assert (llm.backend.base_url, llm.backend.timeout, llm.backend.api_key) == ("http://127.0.0.1:9/v1", 7.0, "EMPTY")
    with pytest.raises(ValueError, match="no API key"):
        make_llm("openai:gpt-4o-mini")  # no key, no base_url: say so before any request


def test_retry_after_headers_and_context_errors():
    from email.utils import formatdate

    from semtrace.llms._http import is_context_error, retry_after, split_evenly

    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "7"}) == 0.25
    assert 25 <= retry_after({"retry-after": formatdate(time.time() + 30, usegmt=True)}) <= 30
    assert retry_after({"retry-after": "soon"}) is None and retry_after({}) is None
    assert is_context_error("", "context_length_exceeded")
    assert is_context_error("Requested tokens (3000) exceed context window of 2048")
    assert is_context_error("prompt is too long: 213000 tokens > 200000 maximum")
    assert not is_context_error("Rate limit reached for requests")
    assert split_evenly(10, 3) == [4, 3, 3] and sum(split_evenly(7, 7)) == 7
