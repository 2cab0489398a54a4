"""Which layers of a model keep a vocabulary (TextVectorization, StringLookup,
IntegerLookup), the model input whose data adapts each, and which still have none.

A vocabulary is saved as the layer's ``vocabulary`` parameter (the tokens without the
mask and OOV tokens Keras adds), so the project file, the app's run and the exported code
all build the layer with the same words. A layer without one is adapted on the training
data of the input that feeds it, in the app's run (``training.data``), in ``layerforge
train`` and in the exported code alike; the inspector's "Adapt vocabulary" saves it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..catalog.hints import VOCABULARY_LAYERS
from ..document.document import Document
from ..schema.records import CallNode, InputNode, LayerSpec
from ..schema.settings import DataSource
from .python import literal

# The project meta key of what each saved vocabulary was adapted with (layer id -> record), and
# the parameters that change which vocabulary adapting gives: a record only where one was
# adapted in the app, so other project files stay byte-identical.
ADAPT_RECORDS = "vocabularies"
ADAPT_SETTINGS = ("max_tokens", "standardize", "split", "ngrams")


@dataclass(frozen=True)
class VocabularyUse:
    """A vocabulary layer of the main graph and the model input that feeds it directly
    (None when other layers stand between, so its data cannot be read from a source)."""

    layer: LayerSpec
    input_name: str | None

    @property
    def has_vocabulary(self) -> bool:
        return self.layer.params.get("vocabulary") is not None


def is_vocabulary_layer(class_name: str) -> bool:
    return class_name in VOCABULARY_LAYERS


def vocabulary_uses(doc: Document) -> list[VocabularyUse]:
    """Every vocabulary layer of the main graph, in layer order."""
    graph = doc.graph
    uses = []
    for layer in graph.layers.values():
        if not is_vocabulary_layer(layer.class_name):
            continue
        uses.append(VocabularyUse(layer, _feeding_input(doc, layer)))
    return uses


def missing_vocabularies(doc: Document) -> list[VocabularyUse]:
    """The vocabulary layers fed by a model input that have no saved vocabulary yet."""
    return [use for use in vocabulary_uses(doc)
            if not use.has_vocabulary and use.input_name is not None]


def _feeding_input(doc: Document, layer: LayerSpec) -> str | None:
    graph = doc.graph
    for call in graph.calls_of(layer.id):
        for edge in graph.in_edges(call.id):
            src = graph.nodes[edge.src]
            if isinstance(src, InputNode):
                return src.name
            if isinstance(src, CallNode):
                return None
    return None


def adapt_statements(doc: Document, data: dict[str, str]) -> list[str]:
    """The exported code's lines that adapt each layer without a saved vocabulary, as the
    app's run does (``training.data.adapt_missing``); ``data``: input name -> the expression
    of its training data in the generated ``main``."""
    return [f"model.get_layer({literal(use.layer.name)}).adapt({data[use.input_name]})"
            for use in missing_vocabularies(doc) if use.input_name in data]


def embedding_problem(doc: Document, layer: LayerSpec, ids: int) -> str | None:
    """Why an Embedding that ``layer`` feeds cannot look up its ``ids`` token ids (the
    vocabulary with the padding and OOV ids), or None."""
    graph = doc.graph
    for call in graph.calls_of(layer.id):
        for edge in graph.out_edges(call.id):
            dst = graph.nodes[edge.dst]
            if not isinstance(dst, CallNode):
                continue
            embedding = graph.layer(dst.layer_id)
            dim = embedding.params.get("input_dim")
            if embedding.class_name == "Embedding" and isinstance(dim, int) and dim < ids:
                return (f"layer '{layer.name}' gives token ids 0-{ids - 1}: expected Embedding "
                        f"'{embedding.name}' to have an input_dim of at least {ids}; received "
                        f"{dim} (raise input_dim, or lower max_tokens)")
    return None


def adapt_record(layer: LayerSpec, source: DataSource) -> dict[str, Any]:
    """What a vocabulary is adapted with: the layer's settings (None: Keras' default) and the
    data source bound to its input, as plain JSON values."""
    record = {name: layer.params.get(name) for name in ADAPT_SETTINGS}
    record["data"] = {"kind": source.kind, **source.params}
    return dict(json.loads(json.dumps(record)))


def stale_setting(doc: Document, use: VocabularyUse) -> str | None:
    """The first setting changed since ``use``'s saved vocabulary was adapted in the app
    (``"data"``: the binding of its input), or None (none changed, or no record of it)."""
    saved = doc.meta.extra.get(ADAPT_RECORDS, {}).get(use.layer.id)
    if saved is None or not use.has_vocabulary or use.input_name is None:
        return None
    now = adapt_record(use.layer, doc.training.source_of(use.input_name))
    return next((name for name in now if saved.get(name) != now[name]), None)
