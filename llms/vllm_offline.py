"""``vllm-offline:MODEL`` — in-process ``vllm.LLM`` batch generation on a GPU machine (the ``vllm`` extra).

Concurrent ``generate`` calls are gathered into one ``LLM.chat`` batch (calls arriving within
``batch_window`` seconds, at most ``max_batch``), so a run with many tasks keeps the GPU busy. Engine options
(``tensor_parallel_size``, ``gpu_memory_utilization``, ``max_model_len``, ``dtype``, ``quantization``,
``enforce_eager``, ``trust_remote_code``, ...) go to ``vllm.LLM``; sampling extras (``top_p``, ``top_k``,
``min_p``, ``repetition_penalty``) to ``vllm.SamplingParams``. ``n`` is native; a seed seeds the request.
No reasoning parser runs here: inline reasoning tags (``reasoning_tags``, default ``<think>``/``</think>``) are
split off the answer as for llama.cpp (reasoning tokens estimated by the characters' share). No native tools.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

try:
    import vllm
except ModuleNotFoundError as exc:  # pragma: no cover - the extra is GPU-only
    raise ModuleNotFoundError("No module named 'vllm'", name="vllm") from exc

from semtrace.llms.base import BadResponse, Completion, Message, ToolSpec
from semtrace.llms.openai_wire import Choice, completion_of, to_openai_messages
from semtrace.llms.reasoning import DEFAULT_TAGS, check_tags, split_reasoning

log = logging.getLogger(__name__)

_SAMPLING = {"top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty", "frequency_penalty"}


@dataclass
class _Pending:
    conversation: list[dict[str, Any]]
    params: Any
    future: asyncio.Future[list[Completion]] = field(repr=False)


class VLLMOffline:
    provider = "vllm-offline"
    native_n = True
    free = True
    supports_tools = False

    def __init__(self, model: str, *, batch_window: float = 0.02, max_batch: int = 256,
                 reasoning_tags: Any = DEFAULT_TAGS, **options: Any) -> None:
        self.model = model
        self.reasoning_tags = check_tags(reasoning_tags)
        self.name = f"vllm-offline:{model}"
        self.sampling = {k: options.pop(k) for k in list(options) if k in _SAMPLING}
        self.engine_options = options
        self.batch_window = batch_window
        self.max_batch = max_batch
        # Built here, on the caller's (main) thread: engine start-up may install signal handlers.
        self._engine: Any = vllm.LLM(model=model, **options)
        self._engine_lock = threading.Lock()  # vllm.LLM is not thread-safe; one batch at a time
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None

    def cache_identity(self) -> dict[str, Any]:
        return {"engine": {k: repr(v) for k, v in sorted(self.engine_options.items())}, "sampling": self.sampling,
                "reasoning_tags": self.reasoning_tags}

    def _completion(self, output: Any, prompt_tokens: int) -> Completion:
        split = split_reasoning(output.text, self.reasoning_tags)
        finish = output.finish_reason or "stop"
        choice = Choice(split.answer, split.reasoning, (), finish, split.unfinished)
        return completion_of(choice, prompt_tokens, len(output.token_ids), None, self.model)

    def _run_batch(self, batch: list[_Pending]) -> list[list[Completion]]:
        with self._engine_lock:
            outputs = self._engine.chat([p.conversation for p in batch], [p.params for p in batch], use_tqdm=False)
        results = []
        for request in outputs:
            prompt_tokens = len(request.prompt_token_ids or [])
            samples = request.outputs
            shares = [prompt_tokens // len(samples) + (1 if i < prompt_tokens % len(samples) else 0)
                      for i in range(len(samples))] if samples else []
            results.append([self._completion(o, shares[i]) for i, o in enumerate(samples)])
        return results

    async def _flush(self) -> None:
        await asyncio.sleep(self.batch_window)
        batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch:]
        self._flusher = asyncio.get_running_loop().create_task(self._flush()) if self._pending else None
        try:
            results = await asyncio.to_thread(self._run_batch, batch)
        except Exception as exc:  # noqa: BLE001 - handed to every waiter of the batch
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(BadResponse(f"vLLM batch failed: {exc}", provider=self.provider,
                                                       original=exc))
            return
        for p, res in zip(batch, results):
            if not p.future.done():
                p.future.set_result(res)

    async def generate(self, messages: list[Message], *, n: int = 1, temperature: float = 0.0,
                       max_tokens: int = 1024, seed: int | None = None, stop: list[str] | None = None,
                       tools: list[ToolSpec] | None = None) -> list[Completion]:
        params = vllm.SamplingParams(n=n, temperature=temperature, max_tokens=max_tokens, seed=seed,
                                     stop=stop or None, **self.sampling)
        loop = asyncio.get_running_loop()
        pending = _Pending(to_openai_messages(messages), params, loop.create_future())
        self._pending.append(pending)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await pending.future
