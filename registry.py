"""Registries by name with lazy imports.

A registry maps a short name to a dotted import path ("package.module:attr" or "package.module.attr").
Nothing is imported until a name is resolved, so `import semtrace` needs none of the optional SDKs.
Users plug their own implementation by passing a dotted path instead of a name, or by declaring an
entry point in the registry's group (e.g. ``[project.entry-points."semtrace.llms"]``).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)


class RegistryError(LookupError):
    """An unknown name, or a path that does not import."""


def import_object(path: str) -> Any:
    """Import ``pkg.mod:attr`` or ``pkg.mod.attr``."""
    if ":" in path:
        module_name, _, attr = path.partition(":")
    else:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise RegistryError(f"'{path}' is not a dotted path; write it as package.module:Name")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise RegistryError(f"module '{module_name}' has no attribute '{attr}'") from exc


@dataclass
class Registry:
    """Name -> dotted path, resolved lazily; falls back to entry points, then to dotted paths."""

    kind: str
    group: str
    entries: dict[str, str] = field(default_factory=dict)

    def register(self, name: str, path: str) -> None:
        self.entries[name] = path

    def names(self) -> list[str]:
        extra = [ep.name for ep in entry_points(group=self.group)]
        return sorted(set(self.entries) | set(extra))

    def resolve(self, name: str) -> Any:
        if name in self.entries:
            return import_object(self.entries[name])
        for ep in entry_points(group=self.group):
            if ep.name == name:
                return ep.load()
        if "." in name or ":" in name:
            try:
                return import_object(name)
            except ImportError as exc:
                raise RegistryError(f"cannot import {self.kind} '{name}': {exc}") from exc
        raise RegistryError(
            f"unknown {self.kind} '{name}'; valid: {', '.join(self.names())} (or a dotted path package.module:Name)"
        )

    def resolve_class(self, name: str) -> type:
        """``resolve`` for registries of classes: a name or dotted path that gives anything else is an error."""
        obj = self.resolve(name)
        if not isinstance(obj, type):
            raise RegistryError(
                f"'{name}' is a {type(obj).__name__}, not a {self.kind} class; a dotted path must name a class "
                f"(valid names: {', '.join(self.names())})"
            )
        return obj
