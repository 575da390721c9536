"""The agent's section of a run config (``agent:``): the search strategy and its shape, the loop's switches and
the selector. ``AgentSettings`` carries this section as it is; nodes read ``settings.agent``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Strategy = Literal["greedy", "sequential", "parallel", "hybrid", "debug"]

# strategy -> default width and depth, and which of them the strategy fixes
STRATEGY_PRESETS: dict[str, dict[str, Any]] = {
    "greedy": {"width": 1, "depth": 0, "fixed": ("width", "depth")},
    "sequential": {"width": 1, "depth": 2, "fixed": ()},
    "parallel": {"width": 4, "depth": 0, "fixed": ("depth",)},
    "hybrid": {"width": 4, "depth": 3, "fixed": ()},
    # sequential's shape; each round is a tool loop in which the model pulls runs and traces (agents/debug.py)
    "debug": {"width": 1, "depth": 2, "fixed": ()},
}


class AgentSection(BaseModel):
    """Width and depth not given are filled from the strategy's preset (and must match what it fixes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Strategy = "sequential"
    width: int | None = Field(None, ge=1)
    depth: int | None = Field(None, ge=0)
    stop_on_pass: bool = True
    stop_on_timeout: bool = True  # a visible run stops at its first timeout (false: run every visible test)
    critique: bool = False
    history: Literal["all", "last"] = "all"
    selector: str = "visible_rate"
    selector_inputs: int = Field(5, ge=1)
    tool_calls: int = Field(8, ge=1)  # strategy debug: tool calls per round (submit not counted)

    @model_validator(mode="after")
    def _apply_strategy(self) -> AgentSection:
        preset = STRATEGY_PRESETS[self.strategy]
        for key in ("width", "depth"):
            given = getattr(self, key)
            if given is None:
                object.__setattr__(self, key, preset[key])
            elif key in preset["fixed"] and given != preset[key]:
                raise ValueError(
                    f"strategy '{self.strategy}' fixes {key}={preset[key]} (got {given}); "
                    f"use strategy 'hybrid' (or 'sequential'/'parallel') for other widths and depths"
                )
        return self

    @property
    def resolved_width(self) -> int:
        return int(self.width or 1)

    @property
    def resolved_depth(self) -> int:
        return int(self.depth or 0)
