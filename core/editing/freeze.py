"""Freezing layers: a frozen layer (``trainable=False``) keeps its weights in training.

Freezing a block call freezes every layer of that block (and of the blocks it calls), so
the block's weights stay as they are wherever the block is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..document.document import MAIN, Document
from ..schema.errors import EditError
from ..schema.records import CallNode, LayerSpec
from .commands import Command

LayerRef = tuple[str, str]  # (graph key, layer id)


@dataclass
class SetTrainable(Command):
    """Set ``trainable`` on some layers, each in its graph (the main graph or a block's)."""

    layers: list[LayerRef]
    trainable: bool
    text: str = "Freeze layer"
    _old: dict[LayerRef, bool] = field(default_factory=dict, repr=False)

    def redo(self, doc: Document) -> None:
        self._old = {}
        for key, layer_id in self.layers:
            graph = doc.graph_of(key)
            layer = graph.layer(layer_id)
            self._old[(key, layer_id)] = layer.trainable
            graph.replace_layer(replace(layer, trainable=self.trainable), "trainable")

    def undo(self, doc: Document) -> None:
        for (key, layer_id), trainable in self._old.items():
            graph = doc.graph_of(key)
            graph.replace_layer(replace(graph.layer(layer_id), trainable=trainable), "trainable")


def set_trainable(doc: Document, node_id: str, trainable: bool,
                  graph_key: str = MAIN) -> SetTrainable:
    """Freeze (``trainable=False``) or unfreeze the layer a call node calls; for a block call,
    every layer of the block."""
    graph = doc.graph_of(graph_key)
    node = graph.node(node_id)
    if not isinstance(node, CallNode):
        raise EditError(f"expected a layer node to freeze; received {graph.describe(node_id)}")
    layers = _layers_of(doc, graph_key, node.layer_id, set())
    verb = "Unfreeze" if trainable else "Freeze"
    return SetTrainable(layers, trainable, text=f"{verb} {graph.layer(node.layer_id).name}")


def is_frozen(doc: Document, layer: LayerSpec) -> bool:
    """True when the layer is frozen; a block call when all its block's layers are."""
    if layer.block_id is None:
        return not layer.trainable
    refs = _block_layers(doc, layer.block_id, set())
    return bool(refs) and not any(doc.graph_of(k).layer(lid).trainable for k, lid in refs)


def _layers_of(doc: Document, graph_key: str, layer_id: str, seen: set[str]) -> list[LayerRef]:
    """The layer; for a block call, the call's own record too (so views of the calling graph
    hear of the change) and every layer of the block."""
    layer = doc.graph_of(graph_key).layer(layer_id)
    if layer.block_id is None:
        return [(graph_key, layer_id)]
    return [(graph_key, layer_id), *_block_layers(doc, layer.block_id, seen)]


def _block_layers(doc: Document, block_id: str, seen: set[str]) -> list[LayerRef]:
    if block_id in seen:
        return []
    seen.add(block_id)
    refs: list[LayerRef] = []
    for inner in doc.block(block_id).graph.layers.values():
        refs += _layers_of(doc, block_id, inner.id, seen)
    return refs
