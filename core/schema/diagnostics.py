"""Diagnostics are data: which node or edge, how bad, what is wrong, and a fix if known."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Fix:
    """A suggested edit: insert a layer on an edge (e.g. Flatten, or a 1x1 projection)."""

    description: str
    class_name: str
    params: dict[str, Any] = field(default_factory=dict)
    edge_id: str | None = None


@dataclass(frozen=True)
class Diagnostic:
    target: str
    severity: Severity
    message: str
    code: str
    graph_key: str = "main"
    fix: Fix | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def format(self, describe: str = "") -> str:
        where = f"{describe}: " if describe else ""
        hint = f" (suggested fix: {self.fix.description})" if self.fix else ""
        return f"{self.severity}: {where}{self.message}{hint}"


def errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]
