"""The program inside an LLM reply.

``extract_code(reply, entry_point=None)`` returns an :class:`Extraction`; a reply with no code gives
``Extraction(code=None, method="none", reason=...)`` — a value the agent can handle, never an exception.
``extract_answer(completion, entry_point=None)`` does the same from a ``Completion``: its answer only, and no
program (reason ``UNFINISHED_REASONING``) when its reasoning never finished.

Order of preference:
1. complete fenced blocks (```python / ```py / ```python3 / untagged ``` / ``[PYTHON]...[/PYTHON]``) that parse:
   the last one defining ``entry_point`` when given, else the last one defining a function or class, else
   the last one (so a trailing block of example asserts does not replace the program). Blocks tagged with another language
   (```text, ```bash, ...) are only used when nothing else is found and they parse as Python.
2. an unterminated fence (a reply cut by ``max_tokens``) whose body parses once trailing lines are trimmed;
3. unfenced: the whole reply if it parses as Python with a definition or statement, else the longest run
   from the first ``def``/``class``/``import``/``from`` line that parses once trailing prose is trimmed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from semtrace.llms.base import UNFINISHED_REASONING

Method = Literal["fenced", "fenced_entry_point", "unterminated_fence", "unfenced", "none"]

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.#-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE)
_TAGGED = re.compile(r"\[PYTHON\]\n?(.*?)\[/PYTHON\]", re.DOTALL | re.IGNORECASE)
_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+.#-]*)[^\n]*\n", re.MULTILINE)
_PY_TAGS = {"", "python", "py", "python3", "py3", "pycon", "ipython"}
_CODE_START = re.compile(r"^(def |async def |class |import |from \S+ import |@)", re.MULTILINE)


@dataclass(frozen=True)
class Extraction:
    code: str | None
    method: Method
    reason: str = ""
    blocks: int = 0  # fenced blocks seen in the reply

    @property
    def ok(self) -> bool:
        return self.code is not None


@lru_cache(maxsize=8)
def _tree(code: str) -> ast.Module | None:
    """The parsed block (None: not Python), parsed once however many questions are asked of it (never mutated)."""
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def _parses(code: str) -> bool:
    return _tree(code) is not None


def _defines(code: str, name: str) -> bool:
    tree = _tree(code)
    if tree is None:
        return False
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name
               for node in ast.walk(tree))


def _defines_anything(code: str) -> bool:
    tree = _tree(code)
    if tree is None:
        return False
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for node in tree.body)


def _has_code(code: str) -> bool:
    """Parses and contains something other than a bare name or string (prose often parses as an expression)."""
    tree = _tree(code)
    if tree is None:
        return False
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, (ast.Name, ast.Constant)):
            continue
        return True
    return False


def _trim_to_parse(lines: list[str]) -> str | None:
    """Drop trailing lines until the rest parses; None if nothing with code remains."""
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end]).rstrip()
        if candidate and _has_code(candidate):
            return candidate + "\n"
    return None


def _choose(blocks: list[str], entry_point: str | None) -> tuple[str, Method] | None:
    good = [b for b in blocks if b.strip() and _has_code(b)]
    if not good:
        return None
    if entry_point:
        defining = [b for b in good if _defines(b, entry_point)]
        if defining:
            return defining[-1], "fenced_entry_point"
    programs = [b for b in good if _defines_anything(b)]
    return (programs or good)[-1], "fenced"


@lru_cache(maxsize=512)
def extract_code(reply: str, entry_point: str | None = None) -> Extraction:
    """The program in ``reply`` (a pure function of its arguments, remembered for the last 512: the ``width``
    chains of a task at temperature 0 send the same reply, each extracted once)."""
    text = reply.replace("\r\n", "\n")
    fenced = [(m.group(2).lower(), m.group(3)) for m in _FENCE.finditer(text)]
    tagged = [m.group(1) for m in _TAGGED.finditer(text)]
    python_blocks = [body for tag, body in fenced if tag in _PY_TAGS] + tagged
    n_blocks = len(fenced) + len(tagged)
    chosen = _choose(python_blocks, entry_point) or _choose([b for t, b in fenced if t not in _PY_TAGS],
                                                            entry_point)
    if chosen:
        code, method = chosen
        return Extraction(code.rstrip() + "\n", method, blocks=n_blocks)

    # An opening fence with no closing one: the reply was cut off.
    opens = list(_OPEN.finditer(text))
    if opens and len(opens) % 2 == 1:
        last = opens[-1]
        if last.group(2).lower() in _PY_TAGS:
            code = _trim_to_parse(text[last.end():].split("\n"))
            if code:
                return Extraction(code, "unterminated_fence", "the reply ends inside a code fence",
                                  blocks=n_blocks)

    if not fenced and not tagged:
        if _has_code(text) and _CODE_START.search(text):
            return Extraction(text.strip() + "\n", "unfenced", blocks=0)
        starts = list(_CODE_START.finditer(text))
        for start in starts:
            code = _trim_to_parse(text[start.start():].split("\n"))
            if code and (entry_point is None or _defines(code, entry_point) or start is starts[-1]):
                return Extraction(code, "unfenced", "no code fence; took the code-looking lines", blocks=0)
    reason = ("fenced blocks found but none parses as Python" if n_blocks else "the reply contains no code")
    return Extraction(None, "none", reason, blocks=n_blocks)


def extract_answer(completion: Any, entry_point: str | None = None) -> Extraction:
    """The program in a completion's answer (``Completion.text``, the reasoning split off). A completion whose
    reasoning never finished has no answer: no program, with the reason ``UNFINISHED_REASONING``."""
    if getattr(completion, "reasoning_unfinished", False):
        return Extraction(code=None, method="none", reason=UNFINISHED_REASONING)
    return extract_code(completion.text, entry_point)
