"""``vllm:MODEL`` — a vLLM OpenAI-compatible server (``vllm serve MODEL``), through the ``openai`` SDK.

Default ``base_url`` ``http://localhost:8000/v1`` (or ``$VLLM_BASE_URL``), key ``EMPTY`` (or ``$VLLM_API_KEY``).
Several servers of the model (one per GPU node, say): ``base_url`` a list, or comma-separated (also in
``$VLLM_BASE_URL``); requests are balanced by outstanding requests and a failing server is out until it answers
(``OpenAIChat``, ``_http.Endpoints``).
vLLM's own sampling extras are sent in the request body: ``top_k``, ``min_p``, ``repetition_penalty``,
``length_penalty``, ``min_tokens``, ``skip_special_tokens``... (any option not known to the OpenAI API goes to
``extra_body``). ``n`` is native; with a seed, each sample is its own request seeded ``seed + i``, so every
sample is reproducible on its own and cached per index.
Reasoning models: started with ``--reasoning-parser`` (``deepseek_r1``, ``qwen3``, ...) vLLM returns the reasoning in
``reasoning_content`` (older) or ``reasoning`` (newer); without one the ``<think>`` tags arrive inline in the content.
Both are split off the answer (``openai_wire``). ``reasoning_effort`` (gpt-oss) and ``enable_thinking`` (Qwen3's
chat template switch, as ``chat_template_kwargs``) are the ``openai`` back end's options; tools need a server
started with ``--enable-auto-tool-choice --tool-call-parser NAME`` (else ``native_tools=false``).
"""

from __future__ import annotations

import os
from typing import Any

from semtrace.llms.openai import OpenAIChat

_VLLM_EXTRAS = {"top_k", "min_p", "repetition_penalty", "length_penalty", "min_tokens", "skip_special_tokens",
                "ignore_eos", "use_beam_search", "best_of", "top_p", "presence_penalty", "frequency_penalty",
                "stop_token_ids", "include_stop_str_in_output", "spaces_between_special_tokens"}


class VLLMServer(OpenAIChat):
    provider = "vllm"
    default_base_url = "http://localhost:8000/v1"
    seed_per_sample = True

    def __init__(self, model: str, *, base_url: str | list[str] | None = None, api_key: str | None = None,
                 **options: Any) -> None:
        base = base_url or os.environ.get("VLLM_BASE_URL") or self.default_base_url
        key = api_key or os.environ.get("VLLM_API_KEY") or "EMPTY"
        super().__init__(model, base_url=base, api_key=key, **options)

    def _sampling_keys(self) -> set[str]:
        return set(_VLLM_EXTRAS)
