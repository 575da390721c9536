"""The model's section of a run config (``llm:``): which back end and model, its options, and how to sample."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LLMSection(BaseModel):
    """``model`` is a ``make_llm`` spec (``provider:model?k=v``); ``options`` are the back end's keyword options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "llamacpp:default"
    options: dict[str, Any] = Field(default_factory=dict)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(256, ge=16)
    code_stop: bool = True  # stop code replies at the closing fence (saves the chatter after the program)
