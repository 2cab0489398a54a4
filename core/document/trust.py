"""A document's code and whether it may run (the rules are in ``schema.trust``).

What runs is read from the content (the Lambda layers), never from a marker in the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog.keras_objects import CODE_CLASSES
from ..schema.diagnostics import Diagnostic
from ..schema.records import LayerSpec
from ..schema.trust import may_run, trust_code, trusted_keys, untrusted_diagnostic
from .document import MAIN, Document


@dataclass(frozen=True)
class CodeLayer:
    """A layer that runs Python code when the model is built."""

    graph_key: str
    name: str  # ``block/layer`` inside a block
    layer: LayerSpec

    @property
    def expression(self) -> str:
        return str(self.layer.params.get("expression", "x"))

    def describe(self) -> str:
        return f"{self.name}: {self.expression}"


def code_in(doc: Document) -> list[CodeLayer]:
    found = []
    for key, graph in doc.graphs():
        prefix = "" if key == MAIN else f"{doc.block(key).name}/"
        found += [CodeLayer(key, prefix + layer.name, layer) for layer in graph.layers.values()
                  if layer.class_name in CODE_CLASSES]
    return found


def untrusted_code(doc: Document) -> list[CodeLayer]:
    """The code layers that may not run now."""
    return [c for c in code_in(doc) if not may_run(c.expression)]


def trust_document(doc: Document) -> None:
    """The user trusts this document's code as it is now."""
    trust_code(c.expression for c in code_in(doc))


def trusted_code_keys(doc: Document) -> list[str]:
    """What a worker process may run of this document (the parent's verdict)."""
    return trusted_keys(c.expression for c in code_in(doc))


def untrusted_diagnostics(doc: Document) -> list[Diagnostic]:
    """A warning on each call of a layer whose code was not run."""
    found = []
    for code in untrusted_code(doc):
        graph = doc.graph_of(code.graph_key)
        found += [untrusted_diagnostic(call.id, code.graph_key)
                  for call in graph.calls_of(code.layer.id)]
    return found
