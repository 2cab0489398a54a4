"""Projects whose Lambda layer runs code when the model is built: the trust tests' payloads.

``x -> Lambda(expression) -> y``; an expression such as
``__import__('pathlib').Path('PWNED').touch() or x`` leaves a file behind if it ever runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.io import project


def touch_payload(sentinel: str | Path, result: str = "x") -> str:
    """An expression that creates ``sentinel`` when it runs, then returns ``result``."""
    return f"__import__('pathlib').Path({str(sentinel)!r}).touch() or {result}"


def lambda_doc(expression: str, loss: str | None = None) -> tuple[Document, str]:
    """The document and the id of its Lambda call."""
    doc = Document()
    x = edits.add_input(doc, [4], name="x")
    x.redo(doc)
    lam = edits.add_layer(doc, "Lambda", {"expression": expression}, name="payload")
    lam.redo(doc)
    edits.connect(doc, x.node.id, lam.node.id).redo(doc)
    out = edits.add_output(doc, name="y", loss=loss)
    out.redo(doc)
    edits.connect(doc, lam.node.id, out.node.id).redo(doc)
    return doc, lam.node.id


def lambda_project(path: Path, expression: str, runs_code: bool | None = None) -> Path:
    """The project saved at ``path``; ``runs_code`` is what a hand-edited file may claim."""
    project.save(lambda_doc(expression)[0], path)
    if runs_code is not None:
        data = json.loads(path.read_text())
        data["runs_code"] = runs_code
        path.write_text(json.dumps(data))
    return path
