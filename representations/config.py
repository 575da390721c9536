"""The trace's section of a run config (``trace:``): the representation and what tracing and rendering may
spend (events recorded per test, characters per value, the rendering's token budget)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from semtrace.sandbox.types import DEFAULT_MAX_EVENTS

# the representation a pulled trace uses when the model names none (the ``debug`` strategy's ``trace`` tool: its
# contract is ``trace(expression, representation="concise", ...)``); defaults naming a renderer live in config modules
PULLED_DEFAULT = "concise"


class TraceSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    representation: str = "next"
    budget: int = Field(1024, ge=64)  # tokens the rendered trace may take in a prompt
    max_events: int = Field(DEFAULT_MAX_EVENTS, ge=10)
    max_value_len: int = Field(120, ge=10)
