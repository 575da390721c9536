"""The local model's threads: tokens/s of ``llamacpp:default`` at 1..all cores, with the sandbox busy.

llama-cpp-python's own default is ``n_threads = cores // 2`` for generation and ``n_threads_batch = cores`` for the
prompt. This measures, in one run and alternating the settings round by round (the machine may be shared):

- ``old default``: (cores // 2, cores), what llama-cpp-python picks;
- ``k threads`` for k = 1..cores: (k, k).

Each measurement is one completion of the same prompt (greedy, ``reset()`` first, as ``llms/llamacpp.py`` does)
while a ``local`` sandbox with one worker per core runs a stream of programs on their tests (the load of a run).
Prints completion tokens/s (median over rounds) and its ratio to the old default, the sandbox's programs/s in
the same windows, and whether every setting produced the same text as the old default.

    .venv/bin/python perf/llama_threads.py [--rounds 5] [--max-tokens 128] [--no-sandbox]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

PROMPT = [
    {"role": "system", "content": "You are a helpful Python programmer."},
    {"role": "user", "content": "Write a Python function that returns the n-th Fibonacci number, with a docstring."},
]


@dataclass
class Setting:
    label: str
    n_threads: int
    n_threads_batch: int
    rates: list[float] = field(default_factory=list)
    sandbox_rates: list[float] = field(default_factory=list)
    texts: set[str] = field(default_factory=set)


class SandboxLoad:
    """One ``local`` sandbox worker per core, each running the demo tasks' reference programs on their tests
    back to back; ``done`` counts finished requests."""

    def __init__(self, workers: int) -> None:
        from semtrace.benchmarks.demo import load
        from semtrace.sandbox.local import LocalSandbox
        from semtrace.sandbox.types import ExecRequest

        self.sandbox = LocalSandbox(concurrency=workers)
        self.requests = [
            ExecRequest(code=t.reference or "", tests=t.hidden_tests, entry_point=t.entry_point,
                        test_setup=t.test_setup)
            for t in load() if t.reference
        ]
        self.workers, self.done, self._tasks = workers, 0, []  # type: ignore[var-annotated]

    async def _loop(self, offset: int) -> None:
        i = offset
        while True:
            await self.sandbox.run(self.requests[i % len(self.requests)])
            self.done += 1
            i += 1

    async def start(self) -> None:
        await self.sandbox.run(self.requests[0])  # the first worker is warm before anything is timed
        self._tasks = [asyncio.ensure_future(self._loop(k)) for k in range(self.workers)]
        await asyncio.sleep(1.0)

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.sandbox.close()


def complete(llm: Any, max_tokens: int) -> tuple[str, int, float]:
    llm.reset()
    start = time.perf_counter()
    resp = llm.create_chat_completion(messages=PROMPT, temperature=0.0, max_tokens=max_tokens, seed=0)
    elapsed = time.perf_counter() - start
    return resp["choices"][0]["message"]["content"] or "", int(resp["usage"]["completion_tokens"]), elapsed


async def measure(args: argparse.Namespace) -> list[Setting]:
    import llama_cpp
    from semtrace.llms.llamacpp import default_model_path

    cores = os.cpu_count() or 1
    settings = [Setting("old default", max(cores // 2, 1), cores)]
    settings += [Setting(f"{k} thread{'s' if k > 1 else ''}", k, k) for k in range(1, cores + 1)]
    path = str(default_model_path())
    models = {
        (s.n_threads, s.n_threads_batch): llama_cpp.Llama(
            model_path=path, n_ctx=2048, n_threads=s.n_threads, n_threads_batch=s.n_threads_batch, verbose=False
        )
        for s in settings
    }
    for llm in models.values():  # warm-up: first-touch page faults are not the setting's cost
        await asyncio.to_thread(complete, llm, 8)
    load = None if args.no_sandbox else SandboxLoad(cores)
    if load is not None:
        await load.start()
    try:
        for r in range(args.rounds):
            order = settings if r % 2 == 0 else list(reversed(settings))
            for s in order:
                done0 = load.done if load else 0
                text, tokens, elapsed = await asyncio.to_thread(
                    complete, models[(s.n_threads, s.n_threads_batch)], args.max_tokens
                )
                s.rates.append(tokens / elapsed)
                s.texts.add(text)
                if load is not None:
                    s.sandbox_rates.append((load.done - done0) / elapsed)
    finally:
        if load is not None:
            await load.stop()
    return settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--no-sandbox", action="store_true", help="measure on an otherwise idle sandbox")
    args = parser.parse_args()
    try:
        import llama_cpp  # noqa: F401
    except ModuleNotFoundError:
        print("error: llama-cpp-python is not installed: pip install 'semtrace[local]'", file=sys.stderr)
        return 2
    settings = asyncio.run(measure(args))
    base = statistics.median(settings[0].rates)
    reference = next(iter(settings[0].texts)) if len(settings[0].texts) == 1 else None
    busy = "with the sandbox busy (one local worker per core)" if not args.no_sandbox else "sandbox idle"
    print(f"llama threads: llamacpp:default, {args.max_tokens} tokens greedy, {args.rounds} rounds, "
          f"{os.cpu_count()} cores, {busy}; load average {os.getloadavg()[0]:.1f}")
    for s in settings:
        rate = statistics.median(s.rates)
        sandbox = f", sandbox {statistics.median(s.sandbox_rates):6.1f} programs/s" if s.sandbox_rates else ""
        same = "same text" if reference is not None and s.texts == {reference} else "TEXT DIFFERS"
        print(f"  {s.label:<12} n_threads={s.n_threads} n_threads_batch={s.n_threads_batch}: "
              f"{rate:6.1f} tokens/s (min {min(s.rates):.1f}, max {max(s.rates):.1f}) = {rate / base:.2f}x the old "
              f"default{sandbox}; {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
