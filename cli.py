"""The ``semtrace`` command. Each folder owns its sub-commands in its own ``cli.py``; they are mounted here."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

app = typer.Typer(name="semtrace", help="Test-time scaling of code LLMs with execution-trace semantics.",
                  no_args_is_help=True, add_completion=False)

# (module, attribute, name, help) — sub-apps mounted as groups; single commands mounted by their module.
_GROUPS = [
    ("semtrace.benchmarks.cli", "app", "benchmarks", "List and verify benchmarks."),
    ("semtrace.sandbox.cli", "app", "sandbox", "Build the sandbox image and check its containment."),
    ("semtrace.llms.cli", "app", "llm", "Talk to an LLM back end."),
    ("semtrace.sft.cli", "app", "sft", "Build SFT data from traces."),
]
# Modules that register top-level commands on ``app`` via ``register(app)``.
_COMMANDS = ["semtrace.representations.cli", "semtrace.agents.cli", "semtrace.reports.cli", "semtrace.viewer.cli"]


def _mount() -> None:
    for module_name, attr, name, help_text in _GROUPS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # that part of the system is not built yet
            raise
        app.add_typer(getattr(module, attr), name=name, help=help_text)
    for module_name in _COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.register(app)


def main() -> None:
    logging.basicConfig(level=os.environ.get("SEMTRACE_LOG", "WARNING").upper(),
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    _mount()
    app()


if __name__ == "__main__":
    main()
