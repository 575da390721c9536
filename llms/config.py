"""The LLM part of a run config (pydantic), and ``build()`` to turn it into a managed LLM.

```yaml
llm:
  model: "openai:gpt-4o-mini"          # any make_llm spec
  concurrency: 16
  cache: true
  cache_path: null                      # default ~/.cache/semtrace/llm-cache.sqlite or $SEMTRACE_LLM_CACHE
  retry: {max_attempts: 6, initial: 1.0, max_wait: 60.0}
  options: {timeout: 120}               # back-end options (base_url, api_key, top_k, n_ctx, ...)
  prices: {"my-model": {input: 0.5, output: 1.5}}   # USD per million tokens, added to the defaults
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from semtrace.llms.accounting import DEFAULT_PRICES, Accounting, Price
from semtrace.llms.managed import ManagedLLM, RetryPolicy


class LLMConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = "llamacpp:default"
    concurrency: int = Field(8, ge=1)
    cache: bool = True
    cache_path: Path | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    options: dict[str, Any] = Field(default_factory=dict)
    prices: dict[str, Price] = Field(default_factory=dict)

    def build(self, accounting: Accounting | None = None) -> ManagedLLM:
        """The managed LLM; pass one ``Accounting`` to several builds to total them together."""
        from semtrace.llms.registry import make_llm

        if accounting is None:
            accounting = Accounting({**DEFAULT_PRICES, **self.prices})
        return make_llm(self.model, concurrency=self.concurrency, cache=self.cache, cache_path=self.cache_path,
                        retry=self.retry, accounting=accounting, **self.options)
