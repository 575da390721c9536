"""The sandbox's sections of a run config: ``sandbox:`` (which back end, and its typed options) and ``limits:``
(every field of ``sandbox.types.Limits``, handed to each request as the ``Limits`` object itself)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from semtrace.sandbox.types import Limits


class LimitsConfig(BaseModel):
    """Every field of ``sandbox.types.Limits`` (same names, same defaults), validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    wall_time: float = Field(Limits.wall_time, gt=0)
    memory_mb: int = Field(Limits.memory_mb, gt=0)
    output_bytes: int = Field(Limits.output_bytes, gt=0)
    file_size_mb: int = Field(Limits.file_size_mb, gt=0)
    processes: int = Field(Limits.processes, gt=0)
    load_time: float = Field(Limits.load_time, gt=0)
    value_bytes: int = Field(Limits.value_bytes, gt=0)

    def to_limits(self) -> Limits:
        return Limits(**self.model_dump())


class SandboxSection(BaseModel):
    """``backend``: ``auto`` (docker when a daemon answers, else local), ``docker``, ``local``, ``ray``, ``fake`` or
    a dotted path. ``options`` are checked against the built-in back end's own options model (its class's
    ``options_model``: ``DockerOptions``, ``LocalOptions``, ``RayOptions``) when the config is read, so a typo fails
    before anything starts; a plugin's options are checked by its constructor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = "auto"
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _typed_options(self) -> SandboxSection:
        model = options_model(self.backend)
        if model is not None:
            try:
                model.model_validate(self.options)
            except ValidationError as exc:
                err = exc.errors()[0]
                key = ".".join(str(x) for x in err["loc"])
                if err["type"] == "extra_forbidden":
                    raise ValueError(f"the {self.backend} sandbox has no option '{key}'; valid: "
                                     f"{', '.join(sorted(model.model_fields))}") from None
                raise ValueError(f"sandbox option '{key}': {err['msg']}") from None
        return self


def options_model(backend: str) -> type[BaseModel] | None:
    """The options model of a built-in back end (``auto`` takes docker's); None for plugins (never imported here:
    reading a run's config must not need the plugin)."""
    from semtrace.sandbox.base import SANDBOXES

    name = "docker" if backend == "auto" else backend
    if name not in SANDBOXES.entries:
        return None
    model = getattr(SANDBOXES.resolve_class(name), "options_model", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None
