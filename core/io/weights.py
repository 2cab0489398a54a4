"""Weights of a document: captured from a Keras model and set onto a rebuilt one (the file
beside the project: ``weights_file``).

``doc.weights`` maps a layer id to the layer's arrays in Keras' ``get_weights``
order. Keras layers are matched to document layers by name, walking into blocks
(a block's layer is a nested Keras model of the same name).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..document.document import Document
from ..document.graph import Graph
from ..schema.errors import WeightsError
from ..schema.records import LayerSpec


def _pairs(graph: Graph, model: Any, doc: Document) -> Iterator[tuple[LayerSpec, Any]]:
    """(document layer, Keras layer or None) for every layer, blocks included. None: the
    model has no layer of that name (e.g. a raw ``keras.ops`` call the importer turned into
    a layer; it holds no weights)."""
    for layer in graph.layers.values():
        keras_layer = _find(model, layer.name)
        if layer.block_id is not None and keras_layer is not None:
            yield from _pairs(doc.block(layer.block_id).graph, keras_layer, doc)
        elif layer.block_id is None:
            yield layer, keras_layer


def _find(model: Any, name: str) -> Any:
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def capture_weights(model: Any, doc: Document) -> dict[str, list[Any]]:
    """Layer id -> arrays, for every layer of ``doc`` that has weights in ``model``."""
    found: dict[str, list[Any]] = {}
    for layer, keras_layer in _pairs(doc.graph, model, doc):
        arrays = keras_layer.get_weights() if keras_layer is not None else []
        if arrays and layer.id not in found:
            found[layer.id] = arrays
    return found


def apply_weights(model: Any, doc: Document) -> int:
    """Set the document's stored weights onto ``model``; returns how many layers were set."""
    count = 0
    stored = [(lay, k) for lay, k in _pairs(doc.graph, model, doc) if lay.id in doc.weights]
    for layer, keras_layer in stored:
        if keras_layer is None:
            raise WeightsError(f"expected a layer named '{layer.name}' in Keras model "
                               f"'{model.name}' to receive its stored weights; received a model "
                               "without it. Build the model from this project's code")
        arrays = doc.weights[layer.id]
        _check_shapes(layer, keras_layer, arrays)
        keras_layer.set_weights(arrays)
        count += 1
    return count


def _check_shapes(layer: LayerSpec, keras_layer: Any, arrays: list[Any]) -> None:
    expected = [tuple(w.shape) for w in keras_layer.weights]
    received = [tuple(a.shape) for a in arrays]
    if expected != received:
        raise WeightsError(f"layer '{layer.name}' ({layer.class_name}): expected weights of "
                           f"shapes {expected}; received stored weights of shapes {received}. "
                           "The layer changed since its weights were stored: clear them or "
                           "change it back")
