"""The words behind a preview's token ids: the input node previews raw data, and ids mean
nothing to a reader until they are read back through the vocabulary that made them."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..catalog.hints import VOCABULARY_LAYERS
from ..codegen import data_plan
from ..schema.records import CallNode, InputNode
from .preview import Previewer

# Words shown per sample at most (a review of 500 ids would not fit the dock).
MAX_WORDS = 60


def token_words(previewer: Previewer, node_id: str) -> tuple[str, ...] | None:
    """One text per sample: a string input's texts as they are, or token ids decoded with a
    known vocabulary (the vocabulary layer that produced them, or for an id input feeding an
    Embedding, the project's one vocabulary layer); None when there is nothing to decode."""
    graph = previewer.doc.graph
    node = graph.node(node_id)
    array = np.asarray(previewer.preview(node_id).tensors[0])
    if isinstance(node, InputNode) and array.dtype.kind in "SUO":
        return tuple(_text(v) for v in array.reshape(array.shape[0], -1)[:, 0])
    if array.dtype.kind not in "iu" or array.ndim < 2:
        return None
    vocabulary = _vocabulary(previewer, node)
    if vocabulary is None:
        return None
    return tuple(_decode(row, vocabulary) for row in array.reshape(array.shape[0], -1))


def _vocabulary(previewer: Previewer, node: Any) -> list[str] | None:
    graph = previewer.doc.graph
    if isinstance(node, CallNode):
        layer = graph.layer(node.layer_id)
        if layer.class_name not in VOCABULARY_LAYERS or layer.params.get("invert"):
            return None
        return _built_vocabulary(previewer, layer.name)
    if isinstance(node, InputNode) and node.name in data_plan.embedding_vocab(previewer.doc):
        layers = [lay for lay in graph.layers.values() if lay.class_name in VOCABULARY_LAYERS]
        if len(layers) == 1:
            return _built_vocabulary(previewer, layers[0].name)
    return None


def _built_vocabulary(previewer: Previewer, name: str) -> list[str] | None:
    try:
        words = previewer.model.get_layer(name).get_vocabulary()
    except (ValueError, AttributeError):  # not built with one (or not a lookup after all)
        return None
    return [_text(w) for w in words] or None


def _decode(ids: np.ndarray, vocabulary: list[str]) -> str:
    words = [vocabulary[i] if 0 <= i < len(vocabulary) else f"<{i}>" for i in ids.tolist()]
    kept = [w for w in words if w]  # the padding id reads as nothing
    more = " …" if len(kept) > MAX_WORDS else ""
    return " ".join(kept[:MAX_WORDS]) + more


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
