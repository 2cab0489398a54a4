"""One layer class of the catalog (:class:`LayerEntry`): its parameters, ports, the
symbolic input it builds on, and its starting values."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..schema.records import ONE_INPUT, PortSpec
from .params import ParamSpec

APPLICATION_PREFIX = "applications."


@dataclass(frozen=True)
class LayerEntry:
    class_name: str
    category: str
    doc: str
    params: tuple[ParamSpec, ...]
    ports: PortSpec = ONE_INPUT
    example: dict[str, Any] = field(default_factory=dict)
    initial: dict[str, Any] = field(default_factory=dict)
    default_name: str = ""

    def param(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        known = ", ".join(p.name for p in self.params)
        raise KeyError(f"{self.class_name} has no parameter '{name}'; it has {known}")

    def has_param(self, name: str) -> bool:
        return any(spec.name == name for spec in self.params)

    def initial_params(self) -> dict[str, Any]:
        """Parameters a new layer starts with: a value for each required argument (copies:
        a nested layer's value is a dict that the new layer must not share)."""
        values = {p.name: p.default for p in self.params if p.required}
        values.update(self.initial)
        return copy.deepcopy(values)

    def key_params(self) -> list[str]:
        """Names worth showing on a node: required arguments, then activation/padding."""
        keys = [p.name for p in self.params if p.required]
        return keys + [n for n in ("activation", "strides", "padding")
                       if self.has_param(n) and n not in keys]

    @property
    def is_application(self) -> bool:
        return self.class_name.startswith(APPLICATION_PREFIX)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LayerEntry:
        """The entry from its cached JSON (``dataclasses.asdict`` of one)."""
        params = tuple(ParamSpec(**{**p, "choices": tuple(p["choices"])})
                       for p in raw["params"])
        ports = PortSpec(**{k: tuple(v) if isinstance(v, list) else v
                            for k, v in raw["ports"].items()})
        return cls(raw["class_name"], raw["category"], raw["doc"], params, ports,
                   raw["example"], raw["initial"], raw["default_name"])
