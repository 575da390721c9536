"""``semtrace llm chat`` and ``semtrace llm providers``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from semtrace.llms.cli import app
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture
def rules(tmp_path: Path) -> str:
    path = tmp_path / "rules.jsonl"
    path.write_text(json.dumps({"when": "reverse", "reply": ["```python\ndef r(s):\n    return s[::-1]\n```",
                                                             "second"]}) + "\n")
    return f"scripted:{path}"


def test_chat_prints_completions_and_usage(rules):
    result = runner.invoke(app, ["chat", "--model", rules, "Write a function to reverse a string.", "--n", "2"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "--- completion 1/2 ---" in lines and "second" in lines and "def r(s):" in lines
    assert lines[-1].startswith("usage: prompt_tokens=") and "requests=1" in lines[-1]


def test_chat_json(rules):
    result = runner.invoke(app, ["chat", "-m", rules, "reverse", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == rules and data["completions"][0]["text"].startswith("```python")
    assert data["usage"]["completions"] == 1 and data["usage"]["requests"] == 1


@pytest.mark.parametrize("spec, needle", [
    ("nosuch:model", "unknown LLM provider 'nosuch'"),
    ("justamodel", "provider:model"),
    ("scripted:/no/such/file.jsonl", "not found"),
])
def test_bad_model_spec_is_one_line_and_exit_2(spec, needle):
    result = runner.invoke(app, ["chat", "--model", spec, "hi"])
    assert result.exit_code == 2
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_llm_error_is_one_line_and_exit_1(rules):
    result = runner.invoke(app, ["chat", "--model", rules, "no rule matches this"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ScriptMismatch") and len(result.stderr.strip().splitlines()) == 1


def test_an_unreachable_endpoint_is_one_line_naming_it_and_exit_2():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    result = runner.invoke(app, ["chat", "--model", f"openai:gpt-x?base_url={url}", "hi", "--no-cache"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: Unreachable: openai:gpt-x at {url}: cannot connect")
    assert "base_url" in lines[0]


def test_mounted_on_the_semtrace_command(rules, tmp_path):
    exe = Path(sys.executable).with_name("semtrace")
    if not exe.exists():
        pytest.skip("the semtrace entry point is not installed in this environment")
    proc = subprocess.run([str(exe), "llm", "providers"], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert {line.split()[0] for line in proc.stdout.splitlines()} >= {"openai", "anthropic", "vllm",
                                                                      "vllm-offline", "llamacpp", "scripted"}
    proc = subprocess.run([str(exe), "llm", "chat", "--model", rules, "reverse", "--no-cache"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0 and "def r(s):" in proc.stdout
