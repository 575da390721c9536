"""The LangGraph state machine for one task.

```
START -> generate --Send per chain--> observe --(route)--> critique? -> refine --Send--> observe
                                         \\--> finish --(all chains stopped)--> select -> END
```
``observe`` (observe.py) runs the candidate on the visible tests, traces the failing one and renders the feedback
in one step. Strategy ``debug`` writes the next program in ``debug`` instead of ``refine``: a tool loop, one graph
step per LLM call or tool observation (``Send("debug")`` to itself), then ``Send("observe")`` (agents/debug.py).
Each chain travels as a ``Send`` payload (a ``state.Chain``), so ``width`` chains run side by side and each stops
on its own; the ``finish`` join runs ``select`` once every chain has stopped.

``execute``, ``trace`` and ``render`` are the nodes of checkpoints written before format 3
(``checkpoints.FORMAT``): a run killed then resumes, its pending payloads going through ``observe``.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from semtrace.agents import debug, nodes, observe, routes
from semtrace.agents.context import AgentContext
from semtrace.agents.state import AgentState

LEGACY_NODES = ("execute", "trace", "render")  # format 1 and 2 checkpoints' names for observe's stages
_AFTER_OBSERVE = ("critique", "refine", "debug", "finish")


async def _after_finish(state: AgentState) -> routes.AfterFinish:
    """``routes.after_finish`` as LangGraph runs it in an async graph without a thread hop."""
    return routes.after_finish(state)


def build_graph() -> StateGraph:
    g = StateGraph(AgentState, context_schema=AgentContext)
    g.add_node("generate", nodes.generate, destinations=("observe",))
    g.add_node("observe", observe.observe, destinations=_AFTER_OBSERVE)
    for name in LEGACY_NODES:
        g.add_node(name, observe.observe, destinations=_AFTER_OBSERVE)
    g.add_node("critique", nodes.critique, destinations=("refine", "debug"))
    g.add_node("refine", nodes.refine, destinations=("observe", "finish"))
    g.add_node("debug", debug.debug, destinations=("debug", "observe"))
    g.add_node("finish", nodes.finish)
    g.add_node("select", nodes.select)
    g.add_edge(START, "generate")
    g.add_conditional_edges("finish", _after_finish, {"select": "select", "__end__": END})
    g.add_edge("select", END)
    return g


def compile_graph(checkpointer: Any = None) -> Any:
    return build_graph().compile(checkpointer=checkpointer)
