"""Diagnostics are data: which node or edge, how bad, what is wrong, and a fix if known."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# "info": a hint (the chapter's advice); it never blocks validating, exporting or training.
Severity = Literal["error", "warning", "info"]
INSERT = "insert"  # the Fix action every fix had before hints: a layer put on ``edge_id``


@dataclass(frozen=True)
class Fix:
    """A suggested edit: insert a layer on an edge (e.g. Flatten, or a 1x1 projection); a
    hint's fix names another ``action`` on ``node_id`` (core/editing/advice_fixes.py)."""

    description: str
    class_name: str
    params: dict[str, Any] = field(default_factory=dict)
    edge_id: str | None = None
    action: str = INSERT
    node_id: str | None = None


@dataclass(frozen=True)
class Diagnostic:
    target: str
    severity: Severity
    message: str
    code: str
    graph_key: str = "main"
    fix: Fix | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if self.fix is not None and self.fix.action == INSERT:
            # Records of insert fixes stay as they were before hints had other actions.
            del data["fix"]["action"], data["fix"]["node_id"]
        return data

    def format(self, describe: str = "") -> str:
        where = f"{describe}: " if describe else ""
        hint = f" (suggested fix: {self.fix.description})" if self.fix else ""
        return f"{self.severity}: {where}{self.message}{hint}"


def is_hint(diagnostic: Diagnostic) -> bool:
    return diagnostic.severity == "info"


def errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]
