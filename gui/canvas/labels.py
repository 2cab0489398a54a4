"""What a node shows: title, text lines and ports, computed from the document (no drawing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from layerforge.core.analysis.shapes import NodeShapes
from layerforge.core.catalog.layer_ports import output_count as layer_output_count
from layerforge.core.catalog.nested import NESTED_KINDS
from layerforge.core.document.document import Document
from layerforge.core.document.graph import Graph
from layerforge.core.editing.freeze import is_frozen
from layerforge.core.schema.records import (
    CallNode,
    InputNode,
    Node,
    OutputNode,
    Slot,
    format_shape,
)
from layerforge.gui.param_editors import nested_text


@dataclass(frozen=True)
class NodeText:
    title: str
    lines: tuple[str, ...]


def format_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "×".join(format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, dict):
        return str(value.get("class_name", "{…}"))
    return str(value)


FROZEN_BADGE = "❄ frozen"  # the title mark of a layer whose weights training keeps
PENDING = -1  # a parameter count not computed yet (Keras loading, or queued)


def format_count(count: int | None) -> str:
    """``…`` while pending, ``?`` when Keras cannot count it (the node shows why)."""
    if count == PENDING:
        return "params: …"
    return "params: ?" if count is None else f"params: {count:,}"


def node_text(doc: Document, graph: Graph, node: Node, params: int | None) -> NodeText:
    if isinstance(node, InputNode):
        return NodeText("Input", (node.name, f"shape {format_shape(node.shape)}",
                                  f"dtype {node.dtype}"))
    if isinstance(node, OutputNode):
        weight = "" if node.loss_weight == 1.0 else f" ×{node.loss_weight:g}"
        return NodeText("Output", (node.name, f"loss: {node.loss or 'none'}{weight}",
                                   ", ".join(node.metrics)))
    layer = graph.layer(node.layer_id)
    # A frozen layer says so in its title, where the eye goes first.
    if layer.block_id is not None:
        block = doc.blocks.get(layer.block_id)
        block_name = block.name if block is not None else "missing block"
        badge = f" {FROZEN_BADGE}" if block is not None and is_frozen(doc, layer) else ""
        return NodeText(f"Block {block_name}{badge}", (layer.name, "double-click to open",
                                                       format_count(params)))
    badge = "" if layer.trainable else f" {FROZEN_BADGE}"
    return NodeText(f"{layer.class_name}{badge}", (layer.name, key_params_text(doc, node, graph),
                                                   format_count(params)))


_SHORT = {"kernel_size": "k", "pool_size": "pool", "strides": "s"}
_BARE = {"activation", "padding"}


def key_params_text(doc: Document, node: CallNode, graph: Graph) -> str:
    """Required parameters and the non-default ones among activation/strides/padding, short."""
    layer = graph.layer(node.layer_id)
    if layer.class_name not in doc.catalog:
        return ""
    entry = doc.catalog.get(layer.class_name)
    parts = []
    for name in dict.fromkeys(entry.key_params()):  # Activation lists 'activation' twice
        spec = entry.param(name)
        value = layer.params.get(name, spec.default)
        if not spec.required and (value == spec.default or _same_tuple(value, spec.default)):
            continue
        if spec.kind in NESTED_KINDS:  # as a person writes it: GRU(16, return_sequences=True)
            text = nested_value_text(value)
            parts.append(text if spec.required else f"{name}={text}")
            continue
        text = format_value(value)
        parts.append(text if name in _BARE else f"{_SHORT.get(name, name)}={text}")
    return ", ".join(parts)


def nested_value_text(value: Any) -> str:
    """A nested layer (or a list of them) as Python writes it."""
    if isinstance(value, list):
        return "[" + ", ".join(nested_value_text(v) for v in value) + "]"
    if isinstance(value, dict) and isinstance(value.get("class_name"), str):
        return nested_text(value)
    return format_value(value)


def _same_tuple(value: Any, default: Any) -> bool:
    """strides=(1, 1) is Conv2D's default strides=1 written out."""
    if isinstance(value, list | tuple) and not isinstance(default, list | tuple):
        return all(v == default for v in value)
    if isinstance(value, list | tuple) and isinstance(default, list | tuple):
        return list(value) == list(default)
    return False


def input_slots(graph: Graph, node_id: str) -> list[tuple[Slot, str]]:
    """The input ports of a node: (slot, label). A list port shows each connected slot
    plus one free slot to extend it, within the layer's arity."""
    spec = graph.port_spec(node_id)
    if spec.kind == "none":
        return []
    if spec.kind == "single":
        return [(0, "")]
    if spec.kind == "named":
        return [(name, name if name in spec.required else f"{name}?") for name in spec.names]
    taken = [s for s in graph.connected_slots(node_id) if isinstance(s, int)]
    count = max(spec.min, max(taken, default=-1) + 2)
    if spec.max is not None:
        count = min(count, spec.max)
    return [(i, str(i)) for i in range(count)]


LOST_PORT = "✗ "  # the mark of a connected port the layer no longer takes


def argument_slots(graph: Graph, node_id: str) -> list[tuple[Slot, str]]:
    """The ports of the extra tensors a layer's call takes (mask, initial_state[0]...),
    labelled with the argument they are passed as; all optional. A connection into a port
    the layer no longer has (its new cell takes fewer states) keeps its port, marked, so
    that the connection stays in sight with its error until the user removes it."""
    extras = graph.port_spec(node_id).extras
    lost = sorted(str(s) for s in graph.connected_slots(node_id)
                  if isinstance(s, str) and s not in extras)
    return [(slot, slot) for slot in extras] + [(slot, LOST_PORT + slot) for slot in lost]


def output_count(doc: Document, graph: Graph, node: Node, shapes: NodeShapes | None) -> int:
    """Output ports: what Keras reports (e.g. LSTM return_state), at least those in use."""
    if isinstance(node, OutputNode):
        return 0
    used = max((e.src_index + 1 for e in graph.out_edges(node.id)), default=1)
    known = len(shapes.outputs) if shapes is not None and shapes.outputs is not None else 1
    if isinstance(node, CallNode):
        layer = graph.layer(node.layer_id)
        if layer.block_id is not None and layer.block_id in doc.blocks:
            known = max(known, len(doc.blocks[layer.block_id].graph.outputs()))
        elif layer.block_id is None and layer.class_name in doc.catalog:
            # what the layer returns as configured (states...), before Keras has answered
            known = max(known, layer_output_count(layer.class_name, layer.params,
                                                  node.call_kwargs))
    return max(used, known, 1)
