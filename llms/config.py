"""The model's section of a run config (``llm:``): which back end and model, its options, and how to sample."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LLMSection(BaseModel):
    """``model`` is a ``make_llm`` spec (``provider:model?k=v``); ``options`` are the back end's keyword options.
    The reasoning options (``reasoning_effort``, ``thinking``, ``enable_thinking``, ``reasoning_tags``,
    ``max_tokens_param``), in ``options`` or the spec's query, are checked when the config is read: a bad value is
    one line naming ``llm.options.NAME``; so is a thinking budget that leaves ``max_tokens`` no room."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "llamacpp:default"
    options: dict[str, Any] = Field(default_factory=dict)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=16)
    code_stop: bool = True  # stop code replies at the closing fence (saves the chatter after the program)

    @model_validator(mode="after")
    def _reasoning_options(self) -> LLMSection:
        from semtrace.llms.base import LLMConfigError
        from semtrace.llms.reasoning import check_options
        from semtrace.llms.registry import parse_spec

        try:
            query = parse_spec(self.model)[2]
        except LLMConfigError:  # a bad spec is reported where the back end is built
            query = {}
        check_options({**query, **self.options}, self.max_tokens)
        return self
