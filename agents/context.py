"""What nodes get through LangGraph's run context: the task, the LLM, the sandbox, the renderer, the selector and
the settings. Never globals; one context per task invocation (the shared pieces are shared objects). The settings
are ``settings.py``'s, the scheduling gates ``gates.py``'s, the exec cache ``exec_cache.py``'s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from semtrace.agents.exec_cache import ExecCache
from semtrace.agents.gates import GatedLLM, GatedSandbox, PriorityGate
from semtrace.agents.profile import Profile
from semtrace.agents.settings import AgentSettings
from semtrace.benchmarks.task import Task
from semtrace.llms.accounting import ledgered
from semtrace.llms.base import LLM
from semtrace.representations.base import Renderer
from semtrace.sandbox.base import Sandbox


@dataclass
class RunStats:
    """Live counters for the display (not part of any record)."""

    llm_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    sandbox_runs: int = 0
    exec_cache_hits: int = 0
    llm_errors: int = 0
    profile: Profile | None = None  # where the time goes (agents/profile.py); off unless asked for
    code_stop_off: bool = False  # a reply carried reasoning: no stop sequence for the rest of the run (replies.ask)
    stop_cut: int = 0  # replies the code stop cut inside their reasoning (asked again without it)

    def add_completions(self, completions: list[Any]) -> None:
        self.llm_calls += 1
        for c in completions:
            self.cache_hits += int(bool(getattr(c, "cached", False)))
            self.prompt_tokens += c.usage.prompt_tokens
            self.completion_tokens += c.usage.completion_tokens


ExtractFn = Callable[[str, str], "str | None"]


@dataclass
class AgentContext:
    task: Task  # the public view (Task.public()): hidden tests are scored outside the graph (scoring.py)
    llm: LLM
    sandbox: Sandbox
    renderer: Renderer
    selector: Any
    settings: AgentSettings
    extract: ExtractFn
    exec_cache: ExecCache = field(default_factory=ExecCache)
    stats: RunStats = field(default_factory=RunStats)
    gate: PriorityGate | None = None
    ordinal: int = 0  # the task's position in the run (earlier tasks first among equal rounds)
    sandbox_gate: PriorityGate | None = None  # shared by the run's tasks and its scorer (GatedSandbox)

    def __post_init__(self) -> None:
        self.llm = ledgered(self.llm)  # every call's usage is read from a ledger (llms.accounting.measure)

    def llm_for(self, round_: int) -> GatedLLM:
        return GatedLLM(self.llm, self.gate, (round_, self.ordinal), self.stats.profile)

    def sandbox_for(self, round_: int) -> GatedSandbox:
        return GatedSandbox(self.sandbox, self.sandbox_gate, (round_, 0, self.ordinal), self.stats.profile)
