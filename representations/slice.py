"""``slice`` (ours): a dynamic backward slice of the failing run.

Only the executed steps whose values flow, through data or control dependence, into the wrong return value (or
the exception) are shown, in execution order, as ``[Lk] <source line>  =>  var = value``; every run of other
steps is one ``... N steps not in the slice (lines a-b) ...`` line. The paper names the lack of slicing as a
limitation.

Dependences (computed from the trace and the program's AST, so no extra tracing is needed):
- data: a step reading ``v`` (a name loaded on its line) depends on the latest step of the same call that wrote
  ``v``; a line that called a candidate function depends on that call's ``return``; a call's parameters depend on
  the caller's line;
- control: a step depends on the latest execution of its innermost enclosing ``if``/``elif``/``for``/``while``
  header in the same call.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from semtrace.representations.base import RendererBase, TokenCounter, TraceView
from semtrace.representations.budget import Item, fit_items
from semtrace.representations.common import code_lines, input_lines, truncation_note
from semtrace.sandbox.trace import TraceEvent


@dataclass
class _Lines:
    reads: dict[int, set[str]] = field(default_factory=dict)
    header: dict[int, int] = field(default_factory=dict)  # line -> innermost enclosing control header line


def _names(nodes: list[ast.AST]) -> set[str]:
    out = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                out.add(sub.id)
    return out


def analyze(code: str) -> _Lines:
    """Names read by each line's statement and each line's control header."""
    info = _Lines()
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return info

    def visit(body: list[ast.stmt], header: int | None) -> None:
        for stmt in body:
            if isinstance(stmt, (ast.If, ast.While)):
                info.reads.setdefault(stmt.lineno, set()).update(_names([stmt.test]))
                inner: list[tuple[list[ast.stmt], int | None]] = [
                    (stmt.body, stmt.lineno),
                    (stmt.orelse, stmt.lineno),
                ]
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                info.reads.setdefault(stmt.lineno, set()).update(_names([stmt.iter]))
                inner = [(stmt.body, stmt.lineno), (stmt.orelse, header)]
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = [(stmt.body, None)]
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                info.reads.setdefault(stmt.lineno, set()).update(_names([i.context_expr for i in stmt.items]))
                inner = [(stmt.body, header)]
            elif isinstance(stmt, ast.Try):
                inner = [(stmt.body, header), (stmt.orelse, header), (stmt.finalbody, header)]
                inner += [(h.body, header) for h in stmt.handlers]
            else:
                names = _names([stmt])
                if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
                    names.add(stmt.target.id)
                end = getattr(stmt, "end_lineno", None) or stmt.lineno
                for line in range(stmt.lineno, end + 1):
                    info.reads.setdefault(line, set()).update(names)
                inner = []
            if header is not None:
                end = stmt.lineno if inner else (getattr(stmt, "end_lineno", None) or stmt.lineno)
                for line in range(stmt.lineno, end + 1):
                    info.header.setdefault(line, header)
            for sub_body, sub_header in inner:
                visit(sub_body, sub_header)

    visit(tree.body, None)
    return info


def backward_slice(events: tuple[TraceEvent, ...], code: str) -> tuple[set[int], int | None]:
    """Indices of the events in the slice, and the index of the slicing criterion (None: nothing to slice)."""
    info = analyze(code)
    deps: list[set[int]] = [set() for _ in events]
    stack: list[int] = []  # instance ids by depth
    inst_of: list[int] = []
    last_def: dict[tuple[int, str], int] = {}
    last_line: dict[tuple[int, int], int] = {}
    pending_calls: dict[int, list[int]] = {}  # caller instance -> callee call/return events awaiting its line
    criterion = None
    last_exc: int | None = None
    for i, ev in enumerate(events):
        if ev.kind == "call":
            del stack[ev.depth :]
            parent = stack[-1] if stack else None
            stack.append(i)
            inst = i
            for name, _ in ev.changes:
                last_def[(inst, name)] = i
            if parent is not None:
                pending_calls.setdefault(parent, []).append(i)
        else:
            inst = stack[ev.depth] if ev.depth < len(stack) else -1
        inst_of.append(inst)
        if ev.kind in ("line", "return", "exception"):
            for name in info.reads.get(ev.line, ()):
                if (inst, name) in last_def:
                    deps[i].add(last_def[(inst, name)])
            header = info.header.get(ev.line)
            if header is not None and (inst, header) in last_line:
                deps[i].add(last_line[(inst, header)])
        if ev.kind == "line":
            for callee in pending_calls.pop(inst, []):
                deps[i].update(
                    j
                    for j in range(callee, i)
                    if events[j].kind == "return" and events[j].depth == ev.depth + 1
                )
                deps[callee].add(i)  # the callee's arguments come from this line
            for name, _ in ev.changes:
                last_def[(inst, name)] = i
            last_line[(inst, ev.line)] = i
        if ev.kind == "exception":
            if last_exc is not None and events[last_exc].depth == ev.depth + 1:
                deps[i].add(last_exc)  # propagated from the callee
            last_exc = i
        if (ev.kind == "return" and ev.depth == 0) or ev.kind == "exception":
            criterion = i
    if criterion is None:  # the trace was cut before the result: slice from the last recorded state
        criterion = next((i for i in range(len(events) - 1, -1, -1) if events[i].changes), None)
        if criterion is None:
            return set(), None
    seeds = {criterion}
    if events[criterion].kind == "return" and events[criterion].func == "<module>":
        # a whole program (stdin/stdout test): its result is what it printed, so slice from every output line
        src = code.split("\n")
        seeds = {
            i
            for i, ev in enumerate(events)
            if ev.kind == "line"
            and ev.depth == 0
            and 0 < ev.line <= len(src)
            and ("print(" in src[ev.line - 1] or ".write(" in src[ev.line - 1])
        }
        seeds = seeds or {criterion}
    seen = set(seeds)
    todo = list(seeds)
    while todo:
        for d in deps[todo.pop()]:
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen, criterion


class SliceRenderer(RendererBase):
    name = "slice"

    def text(self, view: TraceView, budget: int, count_tokens: TokenCounter) -> str:
        trace = view.trace
        head = input_lines(view)
        if trace is None or not trace.events:
            return "\n".join(head + ["(no trace: the program did not reach the traced function)"])
        src = code_lines(view.code)
        chosen, criterion = backward_slice(trace.events, view.code)
        if criterion is None:
            return "\n".join(head + ["(no return value, exception or state to slice from)"])
        crit = trace.events[criterion]
        what = {"exception": "the exception", "return": "the return value"}.get(
            crit.kind, "the last recorded state"
        )
        if crit.kind == "return" and crit.func == "<module>":
            what = "the program's output"
        head.append(
            f"Backward slice from {what} at line {crit.line}: {len(chosen)} of {len(trace.events)} "
            "steps shown, the others elided."
        )
        items: list[Item] = []
        skipped: list[TraceEvent] = []

        def flush() -> None:
            if skipped:
                lines = sorted({e.line for e in skipped})
                where = f"line {lines[0]}" if len(lines) == 1 else f"lines {lines[0]}-{lines[-1]}"
                items.append(Item(f"... {len(skipped)} steps not in the slice ({where}) ..."))
                skipped.clear()

        for i, ev in enumerate(trace.events):
            if i not in chosen:
                skipped.append(ev)
                continue
            flush()
            pad = "  " * ev.depth
            source = src[ev.line - 1].strip() if 0 < ev.line <= len(src) else ""
            if ev.kind == "call":
                args = ", ".join(f"{n} = {v}" for n, v in ev.changes)
                items.append(Item(f"{pad}[L{ev.line}] call {ev.func}({args})"))
            elif ev.kind == "line":
                state = ", ".join(f"{n} = {v}" for n, v in ev.changes)
                items.append(
                    Item(f"{pad}[L{ev.line}] {source}" + (f"  =>  {state}" if state else ""), ev.line)
                )
            elif ev.kind == "return":
                items.append(Item(f"{pad}[L{ev.line}] return {ev.value}"))
            else:
                items.append(Item(f"{pad}[L{ev.line}] raised {ev.value}"))
        flush()
        note = truncation_note(trace)
        return fit_items(head, items, [note] if note else [], budget, count_tokens)
