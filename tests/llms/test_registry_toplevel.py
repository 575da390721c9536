"""A back end in a top-level module (``--model mymod:MyLLM:name``) is the class ``MyLLM`` of ``mymod``, as the
unknown-provider message suggests; registry names and providers with colons in the model keep their meaning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from semtrace.llms import Message, make_llm, parse_spec
from semtrace.registry import RegistryError

MODULE = '''
from semtrace.llms.base import Completion, Usage


class MyLLM:
    def __init__(self, model: str, greeting: str = "hello") -> None:
        self.model = model
        self.greeting = greeting
        self.name = f"mymod:{model}"

    async def generate(self, messages, *, n=1, temperature=0.0, max_tokens=1024, seed=None, stop=None):
        return [Completion(text=f"{self.greeting} from {self.model}", usage=Usage(3, 4)) for _ in range(n)]
'''


@pytest.fixture
def mymod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "mymod_st14.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_parse_top_level_module_class(mymod):
    assert parse_spec("mymod_st14:MyLLM:name") == ("mymod_st14:MyLLM", "name", {})
    assert parse_spec("mymod_st14:MyLLM:a:b?greeting=hi") == ("mymod_st14:MyLLM", "a:b", {"greeting": "hi"})
    # registry names win even when a module of that name exists; unknown heads keep the old reading
    assert parse_spec("vllm:Qwen:7b") == ("vllm", "Qwen:7b", {})
    assert parse_spec("ollama-ish:model:7b") == ("ollama-ish", "model:7b", {})
    assert parse_spec("nosuchmodule_st14:model:7b") == ("nosuchmodule_st14", "model:7b", {})


async def test_make_llm_from_top_level_module(mymod, tmp_path):
    llm = make_llm("mymod_st14:MyLLM:name?greeting=hi", cache=False)
    out = await llm.generate([Message("user", "x")])
    assert [c.text for c in out] == ["hi from name"]


def test_unknown_module_still_lists_the_providers():
    with pytest.raises(RegistryError, match="unknown LLM provider 'nosuchmodule_st14'.*package.module:Name"):
        make_llm("nosuchmodule_st14:MyLLM:name")


def test_cli_accepts_the_form_the_error_suggests(mymod, tmp_path):
    """The way a new user tries it: ``semtrace llm chat --model mymod:MyLLM:name``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(mymod), os.environ.get("PYTHONPATH", "")]),
               SEMTRACE_LLM_CACHE=str(tmp_path / "cache.sqlite"))
    proc = subprocess.run([sys.executable, "-m", "semtrace.cli", "llm", "chat", "--model",
                           "mymod_st14:MyLLM:name?greeting=hey", "--no-cache", "fix it"],
                          check=False, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "hey from name" in proc.stdout
