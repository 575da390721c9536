"""LLM layer overhead: the managed wrapper (retries, semaphore, accounting) and the SQLite cache, against the raw
``openai`` back end talking to a loopback OpenAI-compatible server in the same run.

Prints calls/second for: raw back end (baseline), managed without cache, managed with a cold cache (miss + write),
managed with a warm cache (hits only), and concurrency 8 vs 1 against a server that answers after a fixed delay.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


async def _rate(fn: Any, prompts: list[str], concurrency: int) -> float:
    from semtrace.llms.base import Message

    sem = asyncio.Semaphore(concurrency)

    async def one(p: str) -> None:
        async with sem:
            await fn([Message("user", p)])

    start = time.perf_counter()
    await asyncio.gather(*(one(p) for p in prompts))
    return len(prompts) / (time.perf_counter() - start)


class ServerProcess:
    """The loopback fake provider in its own process, so its threads do not share our GIL."""

    def __init__(self, delay: float) -> None:
        code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from fakeserver import FakeLLMServer; "
                "s = FakeLLMServer(); s.delay = float(sys.argv[2]); s.start(); print(s.port, flush=True); "
                "sys.stdin.read()")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(REPO / "tests" / "llms"), str(delay)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.openai_url = f"http://127.0.0.1:{int(self.proc.stdout.readline())}/v1"

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from semtrace.llms.registry import make_backend, make_llm

    server = ServerProcess(0.0)
    slow_server = ServerProcess(args.delay)
    work = Path(tempfile.mkdtemp(prefix="semtrace-perf-llm-"))
    prompts = [f"task {i}" for i in range(args.calls)]
    try:
        raw = make_backend("openai:perf", base_url=server.openai_url, api_key="k")
        managed = make_llm("openai:perf", base_url=server.openai_url, api_key="k", cache=False, concurrency=4)
        cached = make_llm("openai:perf", base_url=server.openai_url, api_key="k", cache_path=work / "c.sqlite",
                          concurrency=4)
        await raw.generate([])  # warm the connection pools
        await managed.generate([])
        res: dict[str, Any] = {"raw_calls_per_s": 0.0, "managed_calls_per_s": 0.0, "cold_cache_calls_per_s": 0.0,
                               "warm_cache_calls_per_s": 0.0}
        for rep in range(args.repeats):  # interleaved, best of N: the machine is shared and noisy
            batch = [f"{p} rep {rep}" for p in prompts]
            for key, fn in (("raw_calls_per_s", raw.generate), ("managed_calls_per_s", managed.generate),
                            ("cold_cache_calls_per_s", cached.generate), ("warm_cache_calls_per_s", cached.generate)):
                res[key] = max(res[key], await _rate(fn, batch, 4))
        slow1 = make_llm("openai:perf", base_url=slow_server.openai_url, api_key="k", cache=False, concurrency=1)
        slow8 = make_llm("openai:perf", base_url=slow_server.openai_url, api_key="k", cache=False, concurrency=8)
        few = prompts[: args.slow_calls]
        res["delay_s"] = args.delay
        await _rate(slow8.generate, few[:8], 64)  # open the connections first
        res["concurrency1_calls_per_s"] = await _rate(slow1.generate, few, 64)
        res["concurrency8_calls_per_s"] = await _rate(slow8.generate, few, 64)
        for llm in (raw, managed, cached, slow1, slow8):
            await llm.close()
    finally:
        server.stop()
        slow_server.stop()
    res["managed_vs_raw"] = res["managed_calls_per_s"] / res["raw_calls_per_s"]
    res["cold_cache_vs_raw"] = res["cold_cache_calls_per_s"] / res["raw_calls_per_s"]
    res["warm_cache_vs_raw"] = res["warm_cache_calls_per_s"] / res["raw_calls_per_s"]
    res["concurrency8_vs_1"] = res["concurrency8_calls_per_s"] / res["concurrency1_calls_per_s"]
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--slow-calls", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.05, help="server answer delay for the concurrency part")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    res = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print(f"raw openai back end       {res['raw_calls_per_s']:8.1f} calls/s (baseline, loopback server)")
    print(f"managed, no cache         {res['managed_calls_per_s']:8.1f} calls/s  ratio {res['managed_vs_raw']:.2f}")
    print(f"managed, cold cache       {res['cold_cache_calls_per_s']:8.1f} calls/s  ratio {res['cold_cache_vs_raw']:.2f}")
    print(f"managed, warm cache       {res['warm_cache_calls_per_s']:8.1f} calls/s  ratio {res['warm_cache_vs_raw']:.2f}")
    print(f"server delay {res['delay_s']}s: concurrency 8 vs 1  ratio {res['concurrency8_vs_1']:.2f} (ideal 8)")


if __name__ == "__main__":
    main()
