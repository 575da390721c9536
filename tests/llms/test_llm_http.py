"""The HTTP back ends against a loopback server speaking the real wire formats, through the real SDKs."""

from __future__ import annotations

import asyncio
import logging

import pytest

pytest.importorskip("openai")
pytest.importorskip("anthropic")

import anthropic
import openai
from fakeserver import FakeLLMServer
from semtrace.llms import (
    AuthFailed,
    BadResponse,
    ContextTooLong,
    Message,
    QuotaExceeded,
    RateLimited,
    RetryPolicy,
    ServerError,
    Timeout,
    make_llm,
)

MSGS = [Message("system", "You write Python."), Message("user", "reverse a string")]
TRANSIENT = {"429": RateLimited, "500": ServerError, "503": ServerError, "reset": ServerError, "slow": Timeout}
FINAL = {"401": AuthFailed, "context": ContextTooLong, "malformed": BadResponse}
SDK_ERRORS = {"openai": {"401": openai.AuthenticationError, "context": openai.BadRequestError},
              "anthropic": {"401": anthropic.AuthenticationError, "context": anthropic.BadRequestError}}


def _llm(provider: str, server: FakeLLMServer, retry: RetryPolicy, **options):
    """A short client timeout only when a slow answer is queued, so a loaded CI machine cannot trip it."""
    url = server.anthropic_url if provider == "anthropic" else server.openai_url
    timeout = 0.5 if "slow" in server.faults else 10.0
    return make_llm(f"{provider}:test-model", base_url=url, api_key="sk-test", timeout=timeout, cache=False,
                    retry=retry, **options)


@pytest.fixture
def server(fake_server: FakeLLMServer) -> FakeLLMServer:
    fake_server.retry_after = "0"
    fake_server.slow_seconds = 1.5
    return fake_server


@pytest.mark.parametrize("provider, fault", [(p, f) for p in ("openai", "anthropic") for f in sorted(TRANSIENT)]
                         + [("anthropic", "529")])  # 529 "overloaded" is Anthropic's own status
async def test_transient_fault_is_retried_and_succeeds(provider, fault, server, fast_retry):
    server.faults = [fault]
    llm = _llm(provider, server, fast_retry)
    [c] = await llm.generate(MSGS)
    assert c.text == "#2 echo: reverse a string" + (" [0]" if provider == "openai" else "")
    assert server.count() == 2
    total = llm.accounting.total()
    assert (total.requests, total.retries, total.errors, total.completions) == (2, 1, 0, 1)
    await llm.close()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("fault", sorted(TRANSIENT))
async def test_persistent_transient_fault_gives_up_after_max_attempts(provider, fault, server, fast_retry):
    """Bounded attempts: ``max_attempts`` (4 here), or ``timeout_attempts`` (2) when they time out, since each one
    already waited the whole timeout. The final error names the endpoint and, as nothing was answered during
    the whole window, is fatal (the server is down or hung)."""
    server.faults = [fault] * 10
    llm = _llm(provider, server, fast_retry)
    with pytest.raises(TRANSIENT[fault]) as info:
        await llm.generate(MSGS)
    assert info.value.provider == provider
    assert info.value.original is not None
    attempts = fast_retry.timeout_attempts if fault == "slow" else fast_retry.max_attempts
    assert (fast_retry.max_attempts, fast_retry.timeout_attempts) == (4, 2)
    assert server.count() == attempts
    total = llm.accounting.total()
    assert (total.requests, total.retries, total.errors, total.completions) == (attempts, attempts - 1, 1, 0)
    url = server.anthropic_url if provider == "anthropic" else server.openai_url
    assert str(info.value).startswith(f"{provider}:test-model at {url}: ")
    if fault == "429":  # a throttling server works: its rate limits never stop a run
        assert not info.value.fatal
    else:
        assert info.value.fatal and "no request to it was answered meanwhile" in str(info.value)
    await llm.close()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("fault", sorted(FINAL))
async def test_final_errors_fail_fast_with_the_right_class(provider, fault, server, fast_retry):
    server.faults = [fault, "ok"]
    llm = _llm(provider, server, fast_retry)
    with pytest.raises(FINAL[fault]) as info:
        await llm.generate(MSGS)
    assert server.count() == 1
    assert info.value.provider == provider
    url = server.anthropic_url if provider == "anthropic" else server.openai_url
    assert str(info.value).startswith(f"{provider}:test-model at {url}: ")
    assert info.value.fatal == (fault == "401")  # a refused key fails every request; a bad reply only this one
    if fault in SDK_ERRORS[provider]:
        assert isinstance(info.value.original, SDK_ERRORS[provider][fault])
    assert llm.accounting.total().retries == 0
    await llm.close()


async def test_openai_quota_exhausted_is_not_retried(server, fast_retry):
    server.faults = ["quota", "ok"]
    llm = _llm("openai", server, fast_retry)
    with pytest.raises(QuotaExceeded):
        await llm.generate(MSGS)
    assert server.count() == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_retry_after_is_honoured_and_each_retry_logged(provider, server, fast_retry, caplog):
    server.retry_after = "1"
    server.faults = ["429"]
    llm = _llm(provider, server, fast_retry)  # backoff alone would wait at most 0.05 s
    with caplog.at_level(logging.WARNING, logger="semtrace.llms.managed"):
        await llm.generate(MSGS)
    assert llm.accounting.total().retry_wait == pytest.approx(1.0)
    lines = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert len(lines) == 1 and "RateLimited" in lines[0] and "retry 1/3 in 1.0s" in lines[0]


async def test_retry_after_is_capped(server):
    server.retry_after = "3600"
    server.faults = ["429"]
    llm = _llm("openai", server, RetryPolicy(max_attempts=2, initial=0.01, max_wait=0.01, retry_after_cap=0.1))
    await llm.generate(MSGS)
    assert llm.accounting.total().retry_wait == pytest.approx(0.1)


async def test_openai_request_body_and_native_n(server, fast_retry):
    llm = _llm("openai", server, fast_retry, top_p=0.9)
    out = await llm.generate(MSGS, n=3, temperature=0.7, max_tokens=64, seed=11, stop=["\nclass"])
    assert [c.text for c in out] == [f"#1 echo: reverse a string [{i}]" for i in range(3)]
    body = server.requests[0]["body"]
    assert body["messages"][0] == {"role": "system", "content": "You write Python."}
    assert (body["n"], body["temperature"], body["max_tokens"], body["seed"], body["stop"], body["top_p"]) == \
        (3, 0.7, 64, 11, ["\nclass"], 0.9)
    # usage is split across the choices so that the sums stay exact
    assert sum(c.usage.prompt_tokens for c in out) == 10 and sum(c.usage.completion_tokens for c in out) == 15
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-test"


async def test_openai_tops_up_when_the_server_ignores_n(server, fast_retry):
    server.faults = ["few"]
    llm = _llm("openai", server, fast_retry)
    out = await llm.generate(MSGS, n=3, seed=4)
    assert len(out) == 3 and server.count() == 3
    assert sorted(r["body"].get("seed") for r in server.requests) == [4, 5, 6]
    assert llm.backend.native_n is False and llm.accounting.total().requests == 3
    assert out[0].text.startswith("#1 ")


async def test_vllm_extras_pass_through_and_seed_per_sample(server, fast_retry):
    llm = make_llm("vllm:Qwen/Qwen2.5-Coder-0.5B-Instruct?top_k=20&repetition_penalty=1.05",
                   base_url=server.openai_url, cache=False, retry=fast_retry)
    out = await llm.generate(MSGS, n=3, temperature=0.8, seed=100)
    assert len(out) == 3 and server.count() == 3
    bodies = sorted((r["body"] for r in server.requests), key=lambda b: b["seed"])
    assert [b["seed"] for b in bodies] == [100, 101, 102]
    assert all(b["top_k"] == 20 and b["repetition_penalty"] == 1.05 and "n" not in b for b in bodies)
    assert bodies[0]["model"] == "Qwen/Qwen2.5-Coder-0.5B-Instruct"
    assert server.requests[0]["headers"]["authorization"] == "Bearer EMPTY"
    server.requests.clear()
    await llm.generate(MSGS, n=4, temperature=0.8)  # no seed: one request with n
    assert server.count() == 1 and server.requests[0]["body"]["n"] == 4


async def test_anthropic_system_prompt_and_n_by_concurrent_calls(server, fast_retry):
    llm = _llm("anthropic", server, fast_retry)
    msgs = [Message("system", "Be brief."), Message("system", "Use Python."), Message("user", "a"),
            Message("user", "b")]
    out = await llm.generate(msgs, n=3, temperature=0.5, max_tokens=77, stop=["```\n"])
    assert len(out) == 3 and server.count("/v1/messages") == 3
    body = server.requests[0]["body"]
    assert body["system"] == "Be brief.\n\nUse Python."
    assert body["messages"] == [{"role": "user", "content": "a\n\nb"}]
    assert (body["max_tokens"], body["temperature"], body["stop_sequences"]) == (77, 0.5, ["```\n"])
    headers = server.requests[0]["headers"]  # older SDKs send x-api-key, newer ones a bearer token
    assert headers.get("x-api-key") == "sk-test" or headers.get("authorization") == "Bearer sk-test"
    assert out[0].usage.prompt_tokens == 11 and out[0].usage.completion_tokens == 7
    assert llm.accounting.total().requests == 3


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_concurrency_bound_is_shared_by_all_callers(provider, server, fast_retry):
    server.delay = 0.15
    llm = _llm(provider, server, fast_retry, concurrency=2)
    await asyncio.gather(*(llm.generate([Message("user", f"task {i}")]) for i in range(6)))
    assert server.count() == 6
    assert server.max_inflight == 2


async def test_anthropic_n_samples_are_retried_independently(server, fast_retry):
    server.faults = ["ok", "429"]  # the second of three concurrent samples is rate limited once
    llm = _llm("anthropic", server, fast_retry, concurrency=1)
    out = await llm.generate(MSGS, n=3)
    assert len(out) == 3 and server.count() == 4
    assert llm.accounting.total().retries == 1
