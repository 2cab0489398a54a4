"""Hints (the chapter's advice) for ``layerforge summary`` and ``validate``: info lines that
never change an exit status."""

from __future__ import annotations

from typing import Any

from ..analysis.advice import hints
from ..analysis.shapes import ShapeEngine
from ..document.document import Document
from ..io.templates import names_a_template
from ..training.first_epoch import latest_first_epoch_losses
from ..training.runs import runs_folder


def project_hints(doc: Document, project: str) -> list[dict[str, Any]]:
    """The project's hints as records with ``where`` (a template has no runs of its own)."""
    engines: dict[str, ShapeEngine] = {}
    outputs = [o.name for o in doc.graph.outputs() if o.loss]
    losses = {} if names_a_template(project) or len(outputs) < 2 else \
        latest_first_epoch_losses(runs_folder(project), outputs)
    found = hints(doc, lambda key: engines.setdefault(key, ShapeEngine(doc, key)), losses)
    records = []
    for d in found:
        graph = doc.graph_of(d.graph_key)
        records.append({**d.to_json(),
                        "where": graph.describe(d.target) if d.target in graph.nodes
                        else d.target})
    return records


def hint_lines(records: list[dict[str, Any]]) -> list[str]:
    return [f"info: {r['where']}: {r['message']}"
            + (f" (fix in the app: {r['fix']['description']})" if r.get("fix") else "")
            for r in records]
