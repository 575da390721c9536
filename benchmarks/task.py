"""The one Task type every benchmark loader produces."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from semtrace.jsonable import from_jsonable, to_jsonable
from semtrace.sandbox.types import TestCase

TaskKind = Literal["synthesis", "repair", "reasoning"]


@dataclass(frozen=True)
class Task:
    """One benchmark problem.

    ``prompt`` is what the model reads; ``starting_code`` the buggy program (repair tasks only); ``visible_tests``
    drive feedback and selection; ``hidden_tests`` only score and never reach a prompt; ``test_setup`` is code run
    in the test namespace before the tests (imports, helpers of the dataset's check function); ``reference`` is a
    known-correct program when the dataset has one.
    """

    task_id: str
    kind: TaskKind
    prompt: str
    entry_point: str
    starting_code: str | None = None
    visible_tests: tuple[TestCase, ...] = ()
    hidden_tests: tuple[TestCase, ...] = ()
    reference: str | None = None
    test_setup: str = ""
    prelude: str = ""  # run before the program, in its namespace (LiveCodeBench's implicit imports); never shown
    metadata: dict[str, Any] = field(default_factory=dict)

    def public(self) -> Task:
        """What the agent may see: the prompt, entry point, starting code, visible tests and test setup. The hidden
        tests, the reference solution and the dataset's metadata (which can hold expected outputs) are left out."""
        return replace(self, hidden_tests=(), reference=None, metadata={})

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return from_jsonable(cls, data)
