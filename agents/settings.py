"""``AgentSettings``: what the nodes know of the run's config (its sections as they are, the seed, what the renderer
declared, how much detail records keep); ``settings_view``: the experiment's knobs every record repeats."""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from semtrace.agents.config import AgentSection
from semtrace.llms.config import LLMSection
from semtrace.representations.config import TraceSection
from semtrace.sandbox.types import Limits

if TYPE_CHECKING:
    from semtrace.config import RunConfig


@dataclass(frozen=True)
class AgentSettings:
    """What the nodes know of the run's config: its sections as they are (``agent``, ``trace``, ``llm``, the
    ``Limits``), the run's seed, what the renderer declared it needs, and how much detail records keep."""

    agent: AgentSection = field(default_factory=AgentSection)
    trace: TraceSection = field(default_factory=TraceSection)
    llm: LLMSection = field(default_factory=LLMSection)
    limits: Limits = field(default_factory=Limits)
    seed: int = 0
    needs_trace: bool = True
    keep_outcomes: Literal["compact", "all"] = "compact"  # per-test detail kept in records

    @classmethod
    def of(cls, **flat: Any) -> AgentSettings:
        """Settings from flat config names (``depth=2``, ``max_events=50``, ``temperature=0.7``), each routed to
        its section as a run config routes it (``config.FLAT_KEYS``): a shorthand for tests and scripts."""
        from semtrace.config import FLAT_KEYS

        sections: dict[str, dict[str, Any]] = {"agent": {}, "trace": {}, "llm": {}}
        own: dict[str, Any] = {}
        for key, value in flat.items():
            section, _, name = FLAT_KEYS.get(key, "").partition(".")
            if section in sections:
                sections[section][name] = value
            elif key in {f.name for f in dataclasses.fields(cls)}:
                own[key] = value
            else:
                raise TypeError(f"AgentSettings.of: unknown setting '{key}'")
        return cls(agent=AgentSection(**sections["agent"]), trace=TraceSection(**sections["trace"]),
                   llm=LLMSection(**sections["llm"]), **own)

    def seed_for(self, task_id: str, *parts: object) -> int:
        """A stable per-call seed, so that cached and uncached runs ask the same questions."""
        key = "|".join([task_id, *map(str, parts)])
        return (self.seed * 1_000_003 + zlib.crc32(key.encode())) % (2**31 - 1)


def settings_view(cfg: RunConfig) -> dict[str, Any]:
    """The experiment's knobs, repeated in every record so records from several runs can be pooled."""
    return {
        "benchmark": cfg.benchmark,
        "model": cfg.llm.model,
        "representation": cfg.trace.representation,
        "strategy": cfg.agent.strategy,
        "width": cfg.agent.resolved_width,
        "depth": cfg.agent.resolved_depth,
        "selector": cfg.agent.selector,
        "critique": cfg.agent.critique,
        "history": cfg.agent.history,
        "temperature": cfg.llm.temperature,
    }
