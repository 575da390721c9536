"""Several endpoints of one model (``base_url`` a list): balanced by outstanding requests against two loopback
servers speaking the OpenAI wire format; one that fails for a while is taken out and comes back when it answers;
usage accounting and the response cache are those of one endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fakeserver import FakeLLMServer
from semtrace.llms import Message, make_llm
from semtrace.llms.base import LLMConfigError


@pytest.fixture
def two_servers() -> Iterator[tuple[FakeLLMServer, FakeLLMServer]]:
    a, b = FakeLLMServer().start(), FakeLLMServer().start()
    yield a, b
    a.stop()
    b.stop()


def _ask(i: int) -> list[Message]:
    return [Message("user", f"question {i}")]


@pytest.mark.parametrize("provider", ["vllm", "openai"])
async def test_balanced_by_outstanding_requests(two_servers, fast_retry, provider):
    a, b = two_servers
    a.delay = b.delay = 0.05
    llm = make_llm(f"{provider}:m", base_url=[a.openai_url, b.openai_url], api_key="k", cache=False,
                   concurrency=8, retry=fast_retry)
    out = await asyncio.gather(*(llm.generate(_ask(i)) for i in range(40)))
    assert len(out) == 40 and all(len(c) == 1 for c in out)
    assert a.count() + b.count() == 40
    assert abs(a.count() - b.count()) <= 4  # equal servers get equal shares
    assert a.max_inflight <= 5 and b.max_inflight <= 5  # 8 in flight, spread over the two


async def test_a_slow_endpoint_gets_fewer_requests(two_servers, fast_retry):
    a, b = two_servers
    a.delay, b.delay = 0.01, 0.2
    llm = make_llm("vllm:m", base_url=f"{a.openai_url},{b.openai_url}", cache=False, concurrency=4,
                   retry=fast_retry)
    await asyncio.gather(*(llm.generate(_ask(i)) for i in range(40)))
    assert a.count() > 3 * b.count() > 0


async def test_a_failing_endpoint_is_out_until_it_answers(two_servers, fast_retry):
    a, b = two_servers
    b.faults = ["500", "reset", "503", "500"]  # b fails for a while, then answers
    llm = make_llm("vllm:m", base_url=[a.openai_url, b.openai_url], cache=False, concurrency=1,
                   retry=fast_retry, endpoint_backoff=0.15, endpoint_max_backoff=0.15)
    backend = llm.backend
    texts = []
    for i in range(6):  # while b is out, every request is answered by a, at once (no retry wait)
        texts += [c.text for c in await llm.generate(_ask(i))]
    ep_b = backend.endpoints.all[1]
    assert b.count() == 1 and not ep_b.healthy and ep_b.failed == 1
    assert a.count() == 6 and all(t.endswith(f"question {i} [0]") for i, t in enumerate(texts))
    for _ in range(20):  # every 0.15 s one request probes b; its failures keep it out, its first answer brings it back
        await asyncio.sleep(0.16)
        await llm.generate(_ask(99))
        if ep_b.healthy:
            break
    assert ep_b.healthy and b.count() == 5 and ep_b.failed == 4 and ep_b.served == 1
    before_a, before_b = a.count(), b.count()
    for i in range(10):
        await llm.generate(_ask(100 + i))
    assert a.count() - before_a == 5 and b.count() - before_b == 5  # back in service: one at a time, alternating
    usage = llm.accounting.total()
    assert usage.calls == a.count() + b.count() - ep_b.failed  # failed requests cost nothing
    assert usage.retries == 0 and usage.requests == usage.calls  # a failover is no retry: nobody waited
    assert (usage.prompt_tokens, usage.completion_tokens) == (10 * usage.calls, 5 * usage.calls)


async def test_every_endpoint_down_is_a_transient_error_the_retries_wait_out(two_servers, fast_retry):
    a, b = two_servers
    a.faults, b.faults = ["500"] * 2, ["500"] * 2
    llm = make_llm("vllm:m", base_url=[a.openai_url, b.openai_url], cache=False,
                   retry=fast_retry.model_copy(update={"max_attempts": 6}), endpoint_backoff=0.05,
                   endpoint_max_backoff=0.05)
    out = await llm.generate(_ask(1))
    assert out[0].text.endswith("question 1 [0]")
    assert a.count() + b.count() == 5  # four failures, then the answer


async def test_the_cache_key_is_the_first_endpoints(two_servers, fast_retry, tmp_path):
    """Replicas of one model share answers: a cached reply from the pair is the reply of the first URL alone."""
    a, b = two_servers
    cache = tmp_path / "c.sqlite"
    pair = make_llm("vllm:m", base_url=[a.openai_url, b.openai_url], cache_path=cache, retry=fast_retry)
    first = await pair.generate(_ask(7), seed=1)
    alone = make_llm("vllm:m", base_url=a.openai_url, cache_path=cache, retry=fast_retry)
    again = await alone.generate(_ask(7), seed=1)
    assert [c.text for c in again] == [c.text for c in first] and again[0].cached
    assert a.count() + b.count() == 1


def test_bad_endpoint_lists_are_one_clear_line(two_servers):
    a, _ = two_servers
    with pytest.raises(LLMConfigError, match="twice") as info:
        make_llm("vllm:m", base_url=[a.openai_url, a.openai_url])
    assert "\n" not in str(info.value)


def test_spec_query_takes_a_json_list(two_servers):
    a, b = two_servers
    llm = make_llm(f'vllm:m?base_url=["{a.openai_url}","{b.openai_url}"]', cache=False)
    assert llm.backend.base_urls == [a.openai_url, b.openai_url]


async def test_probes_in_flight_are_not_due_so_the_retries_back_off(two_servers, fast_retry):
    """Every endpoint out and each one's probe still in flight: the next request does not spend its attempts at
    once (a zero wait) but backs off until a probe answers, then is served."""
    a, b = two_servers
    llm = make_llm("vllm:m", base_url=[a.openai_url, b.openai_url], cache=False, endpoint_backoff=0.01,
                   endpoint_max_backoff=0.01, retry=fast_retry.model_copy(update={"max_attempts": 8}))
    endpoints = llm.backend.endpoints
    for ep in endpoints.all:  # both failed a moment ago ...
        endpoints.done(endpoints._take(ep), ok=False)
    await asyncio.sleep(0.02)
    probes = [endpoints.pick(), endpoints.pick()]  # ... and another caller is probing each of them
    assert set(probes) == set(endpoints.all) and endpoints.pick() is None
    assert endpoints.next_due() is None  # nothing to wait for but the probes' answers

    async def probes_answer() -> None:
        await asyncio.sleep(0.06)
        for ep in probes:
            endpoints.done(ep, ok=True)

    answering = asyncio.ensure_future(probes_answer())
    out = await llm.generate(_ask(3))
    await answering
    assert out[0].text.endswith("question 3 [0]") and a.count() + b.count() == 1
    assert llm.accounting.total().retries >= 1


async def test_a_cancelled_probe_leaves_the_endpoint_out(two_servers, fast_retry):
    """A probe cancelled before its answer is no evidence that the server is back: it stays out."""
    a, b = two_servers
    b.faults = ["500"]
    llm = make_llm("vllm:m", base_url=[a.openai_url, b.openai_url], cache=False, concurrency=1,
                   retry=fast_retry, endpoint_backoff=0.05, endpoint_max_backoff=0.05)
    await llm.generate(_ask(1))  # a answers
    await llm.generate(_ask(2))  # b fails (out), a answers
    ep_b = llm.backend.endpoints.all[1]
    assert not ep_b.healthy and b.count() == 1
    await asyncio.sleep(0.06)
    b.delay = 1.0
    probe = asyncio.ensure_future(llm.generate(_ask(3)))  # the due probe goes to b, which is slow
    for _ in range(100):
        if b.count() == 2:
            break
        await asyncio.sleep(0.01)
    assert b.count() == 2
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert not ep_b.healthy and ep_b.outstanding == 0 and ep_b.served == 0
