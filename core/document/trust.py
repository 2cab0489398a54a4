"""A document's code and whether it may run (the rules are in ``schema.trust``).

What runs is read from the content (the Lambda layers, the layers of custom modules, the
SavedModels TFSMLayers load), never from a marker in the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..catalog.custom import SHIPPED_SOURCE, source_of
from ..catalog.keras_objects import CODE_CLASSES
from ..catalog.saved_models import SAVED_MODEL_CLASS, saved_model_path
from ..schema.diagnostics import Diagnostic
from ..schema.records import LayerSpec
from ..schema.trust import (
    may_run,
    module_key,
    module_may_run,
    saved_model_key,
    saved_model_may_run,
    trust_code,
    trust_new_module,
    trust_saved_models,
    trusted_keys,
    untrusted_diagnostic,
)
from .document import MAIN, Document


@dataclass(frozen=True)
class CodeLayer:
    """A layer that runs Python code when the model is built: a Lambda's expression, or
    the class of a custom module (``module``: its file)."""

    graph_key: str
    name: str  # ``block/layer`` inside a block
    layer: LayerSpec
    module: str = ""

    @property
    def expression(self) -> str:
        return str(self.layer.params.get("expression", "x"))

    @property
    def saved_model(self) -> str | None:
        """The folder a TFSMLayer loads, or None."""
        if self.layer.class_name != SAVED_MODEL_CLASS:
            return None
        return saved_model_path(self.layer.params)

    def describe(self) -> str:
        if self.module:
            return f"{self.name}: {self.layer.class_name} from {Path(self.module).name}"
        if self.saved_model is not None:
            return f"{self.name}: SavedModel {self.saved_model}"
        return f"{self.name}: {self.expression}"

    def may_run(self) -> bool:
        if self.saved_model is not None:
            return saved_model_may_run(self.saved_model)
        return module_may_run(self.module) if self.module else may_run(self.expression)

    @property
    def is_expression(self) -> bool:
        return not self.module and self.saved_model is None


def code_in(doc: Document) -> list[CodeLayer]:
    found = []
    for key, graph in doc.graphs():
        prefix = "" if key == MAIN else f"{doc.block(key).name}/"
        for layer in graph.layers.values():
            module = custom_module_of(doc, layer)
            if layer.class_name in CODE_CLASSES or module:
                found.append(CodeLayer(key, prefix + layer.name, layer, module))
    return found


def custom_module_of(doc: Document, layer: LayerSpec) -> str:
    """The user's module file a layer's class comes from, or ''."""
    if layer.block_id is not None:
        return ""
    source = source_of(doc.catalog, layer.class_name)
    return source if source and source != SHIPPED_SOURCE else ""


def module_files(doc: Document) -> list[str]:
    """The custom module files the document's layers use, each once."""
    return sorted({c.module for c in code_in(doc) if c.module})


def untrusted_code(doc: Document) -> list[CodeLayer]:
    """The code layers that may not run now."""
    return [c for c in code_in(doc) if not c.may_run()]


def trust_document(doc: Document) -> None:
    """The user trusts this document's code as it is now: its Lambdas, and its modules'
    files unless trusted before with other content (``schema.trust.trust_module`` trusts a
    file the user was asked about)."""
    code = code_in(doc)
    trust_code(c.expression for c in code if c.is_expression)
    trust_saved_models(c.saved_model for c in code if c.saved_model is not None)
    for path in {c.module for c in code if c.module}:
        trust_new_module(path)  # a module changed since it was trusted is asked about again


def trusted_code_keys(doc: Document) -> list[str]:
    """What a worker process may run of this document (the parent's verdict)."""
    code = code_in(doc)
    keys = trusted_keys(c.expression for c in code if c.is_expression)
    keys += sorted({saved_model_key(c.saved_model) for c in code
                    if c.saved_model is not None and c.may_run()})
    return keys + sorted({module_key(c.module) for c in code if c.module and c.may_run()})


def untrusted_diagnostics(doc: Document) -> list[Diagnostic]:
    """A warning on each call of a layer whose code was not run."""
    found = []
    for code in untrusted_code(doc):
        graph = doc.graph_of(code.graph_key)
        found += [untrusted_diagnostic(call.id, code.graph_key)
                  for call in graph.calls_of(code.layer.id)]
    return found
