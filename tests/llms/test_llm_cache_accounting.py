"""The response cache and the usage accounting, through managed LLMs talking to the loopback provider."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

pytest.importorskip("openai")

from fakeserver import FakeLLMServer
from semtrace.llms import Accounting, Completion, Message, ServerError, Usage, make_llm, usage_scope
from semtrace.llms.accounting import Price, UsageTotals
from semtrace.llms.cache import ResponseCache, cache_key

MSGS = [Message("user", "reverse a string")]


def _openai(server: FakeLLMServer, cache_path: Path | None, model: str = "gpt-4o-mini", **kw):
    return make_llm(f"openai:{model}", base_url=server.openai_url, api_key="sk-test", timeout=5,
                    cache=cache_path is not None, cache_path=cache_path, **kw)


async def test_second_identical_run_makes_zero_requests(fake_server, tmp_path):
    path = tmp_path / "cache.sqlite"
    first = _openai(fake_server, path)
    out1 = await first.generate(MSGS, n=3, temperature=0.8, seed=1)
    assert fake_server.count() == 1 and not any(c.cached for c in out1)
    second = _openai(fake_server, path)  # a new run: new instance, same cache file
    out2 = await second.generate(MSGS, n=3, temperature=0.8, seed=1)
    assert fake_server.count() == 1
    assert [c.text for c in out2] == [c.text for c in out1] and all(c.cached for c in out2)
    t = second.accounting.total()
    assert (t.requests, t.cache_hits, t.completions, t.billed_prompt_tokens, t.cost) == (0, 3, 3, 0, None)
    assert (t.prompt_tokens, t.completion_tokens) == (10, 15)  # what the experiment consumed, cached or not


async def test_cache_key_covers_every_sampling_input(fake_server, tmp_path):
    llm = _openai(fake_server, tmp_path / "c.sqlite")
    await llm.generate(MSGS, seed=1)
    variants = [{"seed": 2}, {"seed": 1, "temperature": 0.5}, {"seed": 1, "max_tokens": 7}, {"seed": 1, "stop": ["x"]}]
    for i, kw in enumerate(variants, start=2):
        await llm.generate(MSGS, **kw)
        assert fake_server.count() == i, kw
    await llm.generate([Message("system", "s"), *MSGS], seed=1)
    await _openai(fake_server, tmp_path / "c.sqlite", model="gpt-4o").generate(MSGS, seed=1)
    await _openai(fake_server, tmp_path / "c.sqlite", top_p=0.5).generate(MSGS, seed=1)
    assert fake_server.count() == 8
    await llm.generate(MSGS, seed=1, temperature=0.5)  # seen before
    assert fake_server.count() == 8


async def test_cache_is_per_sample_index(fake_server, tmp_path):
    llm = _openai(fake_server, tmp_path / "c.sqlite")
    first = await llm.generate(MSGS, n=2, seed=10)
    more = await llm.generate(MSGS, n=5, seed=10)
    assert [c.text for c in more[:2]] == [c.text for c in first] and all(c.cached for c in more[:2])
    assert fake_server.count() == 2
    # the three new samples were asked for in one request seeded 10 + 2
    assert (fake_server.requests[1]["body"]["n"], fake_server.requests[1]["body"]["seed"]) == (3, 12)


async def test_no_cache_always_asks(fake_server):
    llm = _openai(fake_server, None)
    await llm.generate(MSGS)
    await llm.generate(MSGS)
    assert fake_server.count() == 2 and llm.cache is None


async def test_cache_safe_under_concurrent_use(fake_server, tmp_path):
    path = tmp_path / "c.sqlite"
    llm = _openai(fake_server, path, concurrency=16)
    prompts = [[Message("user", f"task {i}")] for i in range(60)]
    outs = await asyncio.gather(*(llm.generate(p) for p in prompts))

    store = ResponseCache(path)  # a second connection hammered from threads at the same time
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for j in range(50):
                key = cache_key("t", "m", [Message("user", f"{k}-{j}")], {}, None, 0)
                store.put(key, "t", Completion(text=f"{k}-{j}", usage=Usage(1, 1), model="m"))
                assert store.get(key).text == f"{k}-{j}"
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    again = await asyncio.gather(*(llm.generate(p) for p in prompts))
    for t in threads:
        t.join()
    assert not errors
    assert fake_server.count() == 60
    assert [o[0].text for o in again] == [o[0].text for o in outs]
    assert len(store) == 60 + 200


async def test_accounting_per_task_round_and_run(fake_server, tmp_path):
    acc = Accounting()
    gen = _openai(fake_server, tmp_path / "c.sqlite", accounting=acc)
    critic = _openai(fake_server, None, model="my-local-critic", accounting=acc)  # unknown price

    async def task(task_id: str, rounds: int) -> None:
        for r in range(rounds):
            with usage_scope(task_id=task_id, round=r):
                await gen.generate([Message("user", f"{task_id} round {r}")], n=2)
                await critic.generate([Message("user", f"critique {task_id} {r}")])

    await asyncio.gather(task("A", 2), task("B", 3))
    with usage_scope(task_id="A", round=0):
        await gen.generate([Message("user", "A round 0")], n=2)  # cache hit, same scope

    a, b = acc.for_task("A"), acc.for_task("B")
    assert (a.requests, a.completions, a.cache_hits) == (4, 8, 2)
    assert (b.requests, b.completions, b.cache_hits) == (6, 9, 0)
    assert (a.prompt_tokens, a.completion_tokens) == (10 * 2 + 10 * 2 + 10, 10 * 2 + 5 * 2 + 10)
    assert acc.for_round(2).requests == 2 and acc.for_round(0).completions == 2 * 3 + 2
    assert acc.for_scope("B", 1).requests == 2
    total = acc.total()
    assert total.requests == 10 and total.unpriced_calls == 5
    assert total == a + b
    # gpt-4o-mini: 5 fresh calls of 10 prompt + 10 completion tokens; the unknown critic adds tokens only
    assert total.cost == pytest.approx(5 * (10 * 0.15 + 10 * 0.60) / 1e6)
    snap = acc.snapshot()
    assert snap["total"]["requests"] == 10 and set(snap["by_task"]) == {"A", "B"}
    assert {(s["task_id"], s["round"]) for s in snap["by_scope"]} == {("A", 0), ("A", 1), ("B", 0), ("B", 1),
                                                                      ("B", 2)}


def test_prices_prefix_match_and_unknown_model():
    acc = Accounting(prices={"gpt-4o": Price(input=2.5, output=10.0), "gpt-4o-mini": Price(input=0.15, output=0.6)})
    assert acc.cost_of("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert acc.cost_of("gpt-4o-2024-08-06", 0, 1_000_000) == pytest.approx(10.0)
    assert acc.cost_of("Qwen/Qwen2.5-Coder-7B-Instruct", 100, 100) is None
    acc.record_call(model="Qwen/x", prompt_tokens=5, completion_tokens=6, completions=1, requests=1, retries=0,
                    latency=0.1, retry_wait=0.0)
    assert acc.total().cost is None and acc.total().total_tokens == 11
    assert UsageTotals(cost=None) + UsageTotals(cost=0.5) == UsageTotals(cost=0.5)


async def test_failed_calls_are_counted(fake_server, tmp_path, fast_retry):
    fake_server.retry_after = "0"
    fake_server.faults = ["500"] * 4
    llm = _openai(fake_server, tmp_path / "c.sqlite", retry=fast_retry)
    with usage_scope("T", 1), pytest.raises(ServerError):
        await llm.generate(MSGS)
    t = llm.accounting.for_scope("T", 1)
    assert (t.requests, t.retries, t.errors, t.completions, t.cost) == (4, 3, 1, 0, None)
    assert len(llm.cache) == 0
