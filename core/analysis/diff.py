"""The difference between two models: layers added, removed and changed, edges rewired.

How layers are matched, per graph (the main model, then each pair of matched blocks):

1. By name: a layer named the same in both models is the same layer (a changed class is one
   of its changes).
2. The layers left, by class and place: per class, the k-th unmatched layer of A (in
   topological order of its first call) pairs with the k-th unmatched layer of B, so a
   renamed layer keeps its class and its place among the renamed layers of that class.
3. What is still left is removed (only in A) or added (only in B).

Inputs and outputs match by name, then the rest by order. The calls of a shared layer match
by call order. An edge is rewired when a matched node's input slot now comes from another
node or output index (sources compared through the matching). A pair of matched block layers
(nested models) is compared the same way, recursively. Parameter counts come from the live
pass (:class:`ShapeEngine`), so they are Keras' own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..document.document import Document
from ..document.graph import Graph
from ..schema.errors import UnknownLayerError
from ..schema.records import CallNode, InputNode, LayerSpec, OutputNode
from .shapes import ShapeEngine

DEFAULT = "(default)"


@dataclass(frozen=True)
class ValueChange:
    """One field of a layer, input or output: its value in A and in B."""

    field: str
    old: Any
    new: Any


@dataclass
class LayerDiff:
    """A layer added (only in B), removed (only in A) or changed (in both, differing)."""

    name: str
    class_name: str
    params_old: int | None = None
    params_new: int | None = None
    old_name: str | None = None  # a renamed layer's name in A
    changes: list[ValueChange] = field(default_factory=list)
    inner: GraphDiff | None = None  # a block layer: the difference inside it
    layer_id: str = ""  # its id in B (added, changed), in A (removed)
    old_id: str = ""  # a changed layer's id in A

    @property
    def group(self) -> str:
        return name_group(self.name)


@dataclass(frozen=True)
class Rewire:
    """Input ``slot`` of ``node`` (a layer call or an output) comes from another tensor."""

    node: str
    slot: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class EndpointChange:
    """An input or output of the model matched in both, with what differs."""

    name: str
    changes: list[ValueChange]


@dataclass
class GraphDiff:
    added: list[LayerDiff] = field(default_factory=list)
    removed: list[LayerDiff] = field(default_factory=list)
    changed: list[LayerDiff] = field(default_factory=list)
    rewired: list[Rewire] = field(default_factory=list)
    # "added"/"removed": names; "changed": EndpointChange.
    inputs: dict[str, list[Any]] = field(default_factory=lambda: _endpoint_lists())
    outputs: dict[str, list[Any]] = field(default_factory=lambda: _endpoint_lists())

    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.rewired
                    or any(self.inputs.values()) or any(self.outputs.values()))


@dataclass
class ModelDiff:
    graph: GraphDiff
    params_old: int | None = None
    params_new: int | None = None

    def is_empty(self) -> bool:
        return self.graph.is_empty()


def _endpoint_lists() -> dict[str, list[Any]]:
    return {"added": [], "removed": [], "changed": []}


def name_group(name: str) -> str:
    """The block a layer's name says it belongs to: its leading ``_``-parts up to the first
    numbered one after the first (``conv4_block7_1_conv`` -> ``conv4_block7``), else a first
    numbered part (``block2a_expand_conv`` -> ``block2a``), else the name itself."""
    parts = name.split("_")
    for i, part in enumerate(parts[1:], start=1):
        if any(c.isdigit() for c in part):
            return "_".join(parts[:i + 1])
    if len(parts) > 1 and any(c.isdigit() for c in parts[0]):
        return parts[0]
    return name


def layer_groups(layers: list[LayerDiff]) -> list[tuple[str, list[LayerDiff]]]:
    """Consecutive layers (in topological order) with the same :func:`name_group`."""
    groups: list[tuple[str, list[LayerDiff]]] = []
    for layer in layers:
        if groups and groups[-1][0] == layer.group:
            groups[-1][1].append(layer)
        else:
            groups.append((layer.group, [layer]))
    return groups


def block_ranges(groups: list[str]) -> list[str]:
    """Numbered block names in runs: ``conv4_block7..conv4_block23`` for 7, 8, ..., 23."""
    ranges: list[list[str]] = []
    for name in groups:
        stem, number = _numbered(name)
        if ranges and number is not None:
            last_stem, last = _numbered(ranges[-1][-1])
            if last_stem == stem and last is not None and number == last + 1:
                ranges[-1].append(name)
                continue
        ranges.append([name])
    return [run[0] if len(run) == 1 else f"{run[0]}..{run[-1]}" for run in ranges]


def _numbered(name: str) -> tuple[str, int | None]:
    digits = len(name) - len(name.rstrip("0123456789"))
    return (name[:-digits], int(name[-digits:])) if digits else (name, None)


# ------------------------------------------------------------------ matching
Item = tuple[str, str, str]  # (id, name, kind)


def match_by_name_then_order(a: list[Item], b: list[Item]) -> dict[str, str]:
    """Ids of A -> ids of B (``a`` and ``b`` in topological order): same name first, then
    the k-th unmatched of a kind in A with the k-th unmatched of that kind in B."""
    by_name = {name: item_id for item_id, name, _ in b}
    pairs = {item_id: by_name[name] for item_id, name, _ in a if name in by_name}
    taken = set(pairs.values())
    left_b: dict[str, deque[str]] = {}
    for item_id, _, kind in b:
        if item_id not in taken:
            left_b.setdefault(kind, deque()).append(item_id)
    for item_id, _, kind in a:
        if item_id not in pairs and left_b.get(kind):
            pairs[item_id] = left_b[kind].popleft()
    return pairs


def _layers_in_order(graph: Graph, order: list[str]) -> list[str]:
    """Layer ids by their first call in ``order``, then layers without calls."""
    seen: dict[str, None] = {}
    for node_id in order:
        node = graph.nodes[node_id]
        if isinstance(node, CallNode):
            seen.setdefault(node.layer_id, None)
    return list(seen) + [lid for lid in graph.layers if lid not in seen]


# ------------------------------------------------------------------ comparing
class _Side:
    """One model's graph with its order and (optionally) its live parameter counts."""

    def __init__(self, doc: Document, graph: Graph, engine: ShapeEngine | None) -> None:
        self.doc, self.graph, self.engine = doc, graph, engine
        self.order = graph.topological_order()
        self.layer_ids = _layers_in_order(graph, self.order)

    def layer_items(self) -> list[Item]:
        layers = self.graph.layers
        return [(lid, layers[lid].name, layers[lid].class_name) for lid in self.layer_ids]

    def params(self, layer_id: str) -> int | None:
        return self.engine.layer_params(layer_id) if self.engine is not None else None

    def block_side(self, layer: LayerSpec) -> _Side:
        block = self.doc.block(layer.block_id or "")
        engine = self.engine.block_engine(block.id) if self.engine is not None else None
        return _Side(self.doc, block.graph, engine)

    def default(self, class_name: str, key: str) -> Any:
        try:
            return self.doc.catalog.get(class_name).param(key).default
        except (UnknownLayerError, KeyError):
            return DEFAULT

    def label(self, node_id: str, src_index: int = 0) -> str:
        """A tensor as the user knows it: ``conv1``, ``lstm:1``, ``shared#2``."""
        node = self.graph.nodes[node_id]
        if isinstance(node, CallNode):
            layer = self.graph.layers[node.layer_id]
            calls = self.graph.calls_of(layer.id)
            text = layer.name if len(calls) == 1 else \
                f"{layer.name}#{[c.id for c in calls].index(node_id) + 1}"
        else:
            text = node.name
        return f"{text}:{src_index}" if src_index else text


def diff_documents(a: Document, b: Document, counts: bool = True) -> ModelDiff:
    """What changed from ``a`` to ``b``. ``counts``: parameter counts from the live pass
    (builds the layers with Keras); without, the comparison touches no Keras."""
    engine_a = ShapeEngine(a) if counts else None
    engine_b = ShapeEngine(b) if counts else None
    graph = _diff_graphs(_Side(a, a.graph, engine_a), _Side(b, b.graph, engine_b))
    if engine_a is None or engine_b is None:
        return ModelDiff(graph)
    return ModelDiff(graph, engine_a.total_params(), engine_b.total_params())


def _diff_graphs(a: _Side, b: _Side) -> GraphDiff:
    result = GraphDiff()
    layer_pairs = match_by_name_then_order(a.layer_items(), b.layer_items())
    matched_b = set(layer_pairs.values())
    for lid in a.layer_ids:
        if lid not in layer_pairs:
            layer = a.graph.layers[lid]
            result.removed.append(LayerDiff(layer.name, layer.class_name, a.params(lid),
                                            layer_id=lid))
    for lid in b.layer_ids:
        if lid not in matched_b:
            layer = b.graph.layers[lid]
            result.added.append(LayerDiff(layer.name, layer.class_name, None, b.params(lid),
                                          layer_id=lid))
    for lid_a, lid_b in layer_pairs.items():
        change = _layer_change(a, b, a.graph.layers[lid_a], b.graph.layers[lid_b])
        if change is not None:
            result.changed.append(change)
    node_pairs = _node_pairs(a, b, layer_pairs, result)
    result.rewired = _rewires(a, b, node_pairs)
    return result


def _layer_change(a: _Side, b: _Side, old: LayerSpec, new: LayerSpec) -> LayerDiff | None:
    changes = _value_changes(a, b, old, new)
    inner = None
    if old.block_id is not None and new.block_id is not None:
        inner = _diff_graphs(a.block_side(old), b.block_side(new))
        inner = None if inner.is_empty() else inner
    renamed = old.name != new.name
    if not changes and inner is None and not renamed:
        return None
    return LayerDiff(new.name, new.class_name, a.params(old.id), b.params(new.id),
                     old.name if renamed else None, changes, inner, new.id,
                     old.id)


def _value_changes(a: _Side, b: _Side, old: LayerSpec, new: LayerSpec) -> list[ValueChange]:
    changes = []
    if old.class_name != new.class_name:
        changes.append(ValueChange("class", old.class_name, new.class_name))
    for key in sorted(set(old.params) | set(new.params)):
        before = old.params[key] if key in old.params else a.default(old.class_name, key)
        after = new.params[key] if key in new.params else b.default(new.class_name, key)
        if before != after:
            changes.append(ValueChange(key, before, after))
    if old.trainable != new.trainable:
        changes.append(ValueChange("trainable", old.trainable, new.trainable))
    if (old.block_id is None) != (new.block_id is None):
        changes.append(ValueChange("block", _block_name(a, old), _block_name(b, new)))
    for i, (call_a, call_b) in enumerate(zip(a.graph.calls_of(old.id),
                                             b.graph.calls_of(new.id), strict=False)):
        for key in sorted(set(call_a.call_kwargs) | set(call_b.call_kwargs)):
            before, after = call_a.call_kwargs.get(key), call_b.call_kwargs.get(key)
            if before != after:
                changes.append(ValueChange(f"call {i + 1} {key}", before, after))
    return changes


def _block_name(side: _Side, layer: LayerSpec) -> str | None:
    return side.doc.block(layer.block_id).name if layer.block_id is not None else None


def _node_pairs(a: _Side, b: _Side, layer_pairs: dict[str, str],
                result: GraphDiff) -> dict[str, str]:
    """Node ids of A -> node ids of B: calls through their layers, inputs and outputs by name
    then order (recording the inputs and outputs added, removed or changed)."""
    pairs: dict[str, str] = {}
    for lid_a, lid_b in layer_pairs.items():
        for call_a, call_b in zip(a.graph.calls_of(lid_a), b.graph.calls_of(lid_b),
                                  strict=False):
            pairs[call_a.id] = call_b.id
    for kind, nodes_a, nodes_b in (("inputs", a.graph.inputs(), b.graph.inputs()),
                                   ("outputs", a.graph.outputs(), b.graph.outputs())):
        matched = match_by_name_then_order([(n.id, n.name, n.kind) for n in nodes_a],
                                           [(n.id, n.name, n.kind) for n in nodes_b])
        lists: dict[str, list[Any]] = getattr(result, kind)
        taken = set(matched.values())
        lists["removed"] += [n.name for n in nodes_a if n.id not in matched]
        lists["added"] += [n.name for n in nodes_b if n.id not in taken]
        for id_a, id_b in matched.items():
            pairs[id_a] = id_b
            node_a, node_b = a.graph.nodes[id_a], b.graph.nodes[id_b]
            assert isinstance(node_a, InputNode | OutputNode)
            assert isinstance(node_b, InputNode | OutputNode)
            changes = _endpoint_changes(node_a, node_b)
            if changes:
                lists["changed"].append(EndpointChange(node_b.name, changes))
    return pairs


def _endpoint_changes(old: InputNode | OutputNode, new: InputNode | OutputNode
                      ) -> list[ValueChange]:
    fields = ("name", "shape", "dtype") if isinstance(old, InputNode) else \
        ("name", "loss", "loss_weight", "metrics")
    return [ValueChange(f, getattr(old, f), getattr(new, f)) for f in fields
            if getattr(old, f) != getattr(new, f)]


def _rewires(a: _Side, b: _Side, pairs: dict[str, str]) -> list[Rewire]:
    found = []
    order_b = {node_id: i for i, node_id in enumerate(b.order)}
    for node_a, node_b in sorted(pairs.items(), key=lambda p: order_b.get(p[1], 0)):
        if isinstance(a.graph.nodes[node_a], InputNode):
            continue
        before = {e.dst_slot: (pairs.get(e.src, "A:" + e.src), e.src_index, e.src)
                  for e in a.graph.in_edges(node_a)}
        after = {e.dst_slot: (e.src, e.src_index, e.src) for e in b.graph.in_edges(node_b)}
        for slot in _slots(before, after):
            old, new = before.get(slot), after.get(slot)
            if old is not None and new is not None and old[:2] == new[:2]:
                continue
            node = b.label(node_b) if isinstance(b.graph.nodes[node_b], CallNode) else \
                f"output {b.label(node_b)}"
            found.append(Rewire(node, str(slot),
                                a.label(old[2], old[1]) if old else None,
                                b.label(new[2], new[1]) if new else None))
    return found


def _slots(*tables: dict[Any, Any]) -> Iterable[Any]:
    seen: dict[Any, None] = {}
    for table in tables:
        seen.update(dict.fromkeys(table))
    return sorted(seen, key=lambda s: (isinstance(s, str), str(s) if isinstance(s, str) else s))
