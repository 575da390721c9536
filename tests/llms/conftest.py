"""Fixtures for the LLM back-end tests: a loopback fake provider, an isolated cache, fast retries."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import FakeLLMServer
from semtrace.llms.managed import RetryPolicy

FAST_RETRY = RetryPolicy(max_attempts=4, initial=0.01, max_wait=0.05, jitter=0.01, retry_after_cap=5.0)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the user's cache; drop provider env vars that would change the back ends' defaults."""
    path = tmp_path / "llm-cache.sqlite"
    monkeypatch.setenv("SEMTRACE_LLM_CACHE", str(path))
    for var in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY",
                "VLLM_BASE_URL", "VLLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture
def fake_server() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer().start()
    yield server
    server.stop()


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return FAST_RETRY
