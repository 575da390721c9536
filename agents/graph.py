"""The LangGraph state machine for one task.

```
START -> generate --Send--> execute --(route)--> trace -> render --(route)--> critique? -> refine --Send--> execute
                                 \\--> finish --(all chains stopped)--> select -> END
```
Strategy ``debug`` writes the next program in ``debug`` instead of ``refine``: a tool loop, one graph step per LLM
call or tool observation (``Send("debug")`` to itself), then ``Send("execute")`` (agents/debug.py).
Each chain travels as a ``Send`` payload, so ``width`` chains run side by side and each stops on its own; the
``finish`` join runs ``select`` once every chain has stopped.
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from semtrace.agents import debug, feedback, nodes, routes
from semtrace.agents.context import AgentContext
from semtrace.agents.state import AgentState


def build_graph() -> StateGraph:
    g = StateGraph(AgentState, context_schema=AgentContext)
    g.add_node("generate", nodes.generate, destinations=("execute",))
    g.add_node("execute", nodes.execute, destinations=("trace", "render", "refine", "finish"))
    g.add_node("trace", nodes.trace, destinations=("render",))
    g.add_node("render", feedback.render, destinations=("critique", "refine", "debug"))
    g.add_node("critique", nodes.critique, destinations=("refine", "debug"))
    g.add_node("refine", nodes.refine, destinations=("execute", "finish"))
    g.add_node("debug", debug.debug, destinations=("debug", "execute"))
    g.add_node("finish", nodes.finish)
    g.add_node("select", nodes.select)
    g.add_edge(START, "generate")
    g.add_conditional_edges("finish", routes.after_finish, {"select": "select", "__end__": END})
    g.add_edge("select", END)
    return g


def compile_graph(checkpointer: Any = None) -> Any:
    return build_graph().compile(checkpointer=checkpointer)
