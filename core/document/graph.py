"""The graph document: one source of truth, pure Python, with psygnal signals.

Mutating methods here are primitives: each checks its arguments, changes one
thing and emits a before/after signal pair. Undoable edits are built from
them in :mod:`layerforge.core.editing.commands`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import networkx as nx
from psygnal import Signal

from ..schema.errors import ArityError, CycleError, EditError, NameClashError, UnknownIdError
from ..schema.records import (
    NO_INPUT,
    ONE_INPUT,
    CallNode,
    Edge,
    InputNode,
    LayerSpec,
    Node,
    OutputNode,
    PortSpec,
    Slot,
)

PortResolver = Callable[[LayerSpec], PortSpec]


def _insert_at(mapping: dict[str, Any], key: str, value: Any, index: int | None) -> None:
    """Insert into a dict at a position, so undo restores the exact order."""
    if index is None or index >= len(mapping):
        mapping[key] = value
        return
    items = list(mapping.items())
    items.insert(index, (key, value))
    mapping.clear()
    mapping.update(items)


T = TypeVar("T")


def _lookup(table: dict[str, T], key: str, what: str) -> T:
    try:
        return table[key]
    except KeyError:
        raise UnknownIdError(f"expected {what} id of this graph; received {key!r}") from None


class Graph:
    """Layers, nodes and edges of one model (the main model or a block)."""

    node_adding = Signal(object)
    node_added = Signal(object)
    node_removing = Signal(object)
    node_removed = Signal(object)
    node_changing = Signal(object, str)
    node_changed = Signal(object, str)
    edge_adding = Signal(object)
    edge_added = Signal(object)
    edge_removing = Signal(object)
    edge_removed = Signal(object)
    layer_adding = Signal(object)
    layer_added = Signal(object)
    layer_removing = Signal(object)
    layer_removed = Signal(object)
    layer_changing = Signal(object, str)
    layer_changed = Signal(object, str)

    def __init__(self, ports: PortResolver | None = None) -> None:
        self.layers: dict[str, LayerSpec] = {}
        self.nodes: dict[str, Node] = {}
        self.edges: dict[str, Edge] = {}
        self._ports = ports
        self._nx = nx.MultiDiGraph()
        # Indexes kept by the primitives, so that a 10,000-layer file loads in linear time:
        # call node ids per layer id, and the owner of each Keras-visible name.
        self._calls: dict[str, dict[str, None]] = {}
        self._owners: dict[str, str] = {}

    # ----------------------------------------------------------------- queries
    def node(self, node_id: str) -> Node:
        return _lookup(self.nodes, node_id, "a node")

    def layer(self, layer_id: str) -> LayerSpec:
        return _lookup(self.layers, layer_id, "a layer")

    def edge(self, edge_id: str) -> Edge:
        return _lookup(self.edges, edge_id, "an edge")

    def layer_of(self, node_id: str) -> LayerSpec:
        node = self.node(node_id)
        if not isinstance(node, CallNode):
            raise EditError(f"expected a layer call node; received a {node.kind} node")
        return self.layer(node.layer_id)

    def inputs(self) -> list[InputNode]:
        return [n for n in self.nodes.values() if isinstance(n, InputNode)]

    def outputs(self) -> list[OutputNode]:
        return [n for n in self.nodes.values() if isinstance(n, OutputNode)]

    def calls(self) -> list[CallNode]:
        return [n for n in self.nodes.values() if isinstance(n, CallNode)]

    def calls_of(self, layer_id: str) -> list[CallNode]:
        """The calls of one layer, in node order."""
        ids = list(self._calls.get(layer_id, ()))
        if len(ids) > 1:  # a shared layer: its calls may have been re-inserted by an undo
            rank = {node_id: i for i, node_id in enumerate(self.nodes)}
            ids.sort(key=rank.__getitem__)
        return [node for node in (self.nodes[i] for i in ids) if isinstance(node, CallNode)]

    def in_edges(self, node_id: str) -> list[Edge]:
        return [self.edges[k] for _, _, k in self._nx.in_edges(node_id, keys=True)]

    def out_edges(self, node_id: str) -> list[Edge]:
        return [self.edges[k] for _, _, k in self._nx.out_edges(node_id, keys=True)]

    def edges_touching(self, node_id: str) -> list[Edge]:
        touching = {e.id for e in self.in_edges(node_id)} | {e.id for e in self.out_edges(node_id)}
        return [e for e in self.edges.values() if e.id in touching]

    def topological_order(self) -> list[str]:
        """Node ids, sources first; ties broken by insertion order so output is stable."""
        rank = {node_id: i for i, node_id in enumerate(self.nodes)}
        return list(nx.lexicographical_topological_sort(self._nx, key=rank.__getitem__))

    def downstream(self, node_ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for node_id in node_ids:
            if node_id in self.nodes:
                found.add(node_id)
                found |= nx.descendants(self._nx, node_id)
        return found

    def nx_graph(self) -> nx.MultiDiGraph:
        """A read-only view of the connectivity (for validation and layout)."""
        return self._nx.copy(as_view=True)

    def names_in_use(self) -> dict[str, str]:
        """Keras-visible names (layers and inputs) mapped to the id that owns them."""
        names = {layer.name: layer.id for layer in self.layers.values()}
        names.update({node.name: node.id for node in self.inputs()})
        return names

    def producer(self, node_id: str) -> str:
        """The id that owns the Keras name of a node's tensors: its layer's id for a call
        (every call of one layer shares that name), the node's own id for an input."""
        node = self.node(node_id)
        return node.layer_id if isinstance(node, CallNode) else node.id

    def tensor_name(self, node_id: str) -> str:
        """The name Keras gives a node's tensors, and so a model output made from them."""
        node = self.node(node_id)
        return self.layer(node.layer_id).name if isinstance(node, CallNode) else node.name

    def source_of(self, output_id: str) -> Edge | None:
        """The edge feeding an output node, or None while it is unconnected."""
        edges = self.in_edges(output_id)
        return edges[0] if edges else None

    def outputs_named_after(self, owner_id: str) -> list[OutputNode]:
        """Outputs fed by a tensor of ``owner_id`` (a layer id or an input node id) that carry
        its name: renaming one renames the other."""
        found = []
        for out in self.outputs():
            edge = self.source_of(out.id)
            if edge is not None and self.producer(edge.src) == owner_id \
                    and out.name == self.tensor_name(edge.src):
                found.append(out)
        return found

    def unique_name(self, base: str) -> str:
        taken = set(self.names_in_use()) | {o.name for o in self.outputs()}
        if base not in taken:
            return base
        i = 1
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    def port_spec(self, node_id: str) -> PortSpec:
        node = self.node(node_id)
        if isinstance(node, InputNode):
            return NO_INPUT
        if isinstance(node, OutputNode):
            return ONE_INPUT
        if self._ports is None:
            return PortSpec("list", 1, None)
        return self._ports(self.layer(node.layer_id))

    def connected_slots(self, node_id: str) -> set[Slot]:
        return {e.dst_slot for e in self.in_edges(node_id)}

    def next_free_slot(self, node_id: str) -> Slot | None:
        spec = self.port_spec(node_id)
        taken = self.connected_slots(node_id)
        if spec.kind == "named":
            return next((n for n in spec.names if n not in taken), None)
        limit = spec.max if spec.max is not None else len(taken) + 1
        return next((i for i in range(limit) if i not in taken), None)

    # ------------------------------------------------------- connection checks
    def connection_error(
        self, src: str, src_index: int, dst: str, dst_slot: Slot
    ) -> EditError | None:
        """The error :meth:`add_edge` would raise, or None: the ``can_connect`` twin."""
        if src not in self.nodes or dst not in self.nodes:
            missing = src if src not in self.nodes else dst
            return UnknownIdError(f"expected a node id of this graph; received {missing!r}")
        if isinstance(self.nodes[src], OutputNode):
            return ArityError("an output node ends the model: it has no output to connect from")
        if not isinstance(src_index, int) or isinstance(src_index, bool) or src_index < 0:
            return ArityError(f"expected an output index 0, 1, ...; received {src_index!r}")
        if src == dst or nx.has_path(self._nx, dst, src):
            return CycleError(
                f"connecting {self.describe(src)} into {self.describe(dst)} would make a cycle; "
                "a Keras model must be a directed acyclic graph"
            )
        why = self.port_spec(dst).slot_error(dst_slot)
        if why is not None:
            return ArityError(f"cannot connect into {self.describe(dst)}: {why}")
        if dst_slot in self.connected_slots(dst):
            return ArityError(
                f"input {dst_slot!r} of {self.describe(dst)} is already connected; "
                "disconnect it first"
            )
        return None

    def can_connect(self, src: str, src_index: int, dst: str, dst_slot: Slot) -> bool:
        return self.connection_error(src, src_index, dst, dst_slot) is None

    def describe(self, node_id: str) -> str:
        node = self.nodes.get(node_id)
        if isinstance(node, CallNode) and node.layer_id in self.layers:
            layer = self.layers[node.layer_id]
            return f"{layer.class_name} '{layer.name}'"
        if isinstance(node, InputNode | OutputNode):
            return f"{node.kind} '{node.name}'"
        return repr(node_id)

    # -------------------------------------------------------------- primitives
    def add_layer(self, layer: LayerSpec, index: int | None = None) -> None:
        if layer.id in self.layers:
            raise EditError(f"layer id {layer.id!r} is already in the graph")
        self._check_name_free(layer.name, layer.id)
        self.layer_adding.emit(layer)
        _insert_at(self.layers, layer.id, layer, index)
        self._owners[layer.name] = layer.id
        self.layer_added.emit(layer)

    def remove_layer(self, layer_id: str) -> int:
        layer = self.layer(layer_id)
        if self.calls_of(layer_id):
            raise EditError(f"layer '{layer.name}' is still called; remove its calls first")
        index = list(self.layers).index(layer_id)
        self.layer_removing.emit(layer)
        del self.layers[layer_id]
        self._release_name(layer.name, layer_id)
        self.layer_removed.emit(layer)
        return index

    def replace_layer(self, layer: LayerSpec, what: str) -> LayerSpec:
        """Swap a layer record for an edited copy; returns the old record."""
        old = self.layer(layer.id)
        if layer.name != old.name:
            self._check_name_free(layer.name, layer.id)
        self.layer_changing.emit(old, what)
        self.layers[layer.id] = layer
        self._release_name(old.name, old.id)
        self._owners[layer.name] = layer.id
        self.layer_changed.emit(layer, what)
        return old

    def add_node(self, node: Node, index: int | None = None) -> None:
        if node.id in self.nodes:
            raise EditError(f"node id {node.id!r} is already in the graph")
        if isinstance(node, CallNode):
            self.layer(node.layer_id)
        self._check_node_name(node)
        self.node_adding.emit(node)
        _insert_at(self.nodes, node.id, node, index)
        self._index_node(node)
        self._nx.add_node(node.id)
        self.node_added.emit(node)

    def remove_node(self, node_id: str) -> int:
        node = self.node(node_id)
        if self._nx.degree(node_id):
            raise EditError(f"{self.describe(node_id)} still has connections; remove them first")
        index = list(self.nodes).index(node_id)
        self.node_removing.emit(node)
        del self.nodes[node_id]
        self._unindex_node(node)
        self._nx.remove_node(node_id)
        self.node_removed.emit(node)
        return index

    def replace_node(self, node: Node, what: str) -> Node:
        old = self.node(node.id)
        if type(old) is not type(node):
            raise EditError(f"expected a {old.kind} node; received a {node.kind} node")
        if isinstance(node, CallNode):
            self.layer(node.layer_id)
        self._check_node_name(node)
        self.node_changing.emit(old, what)
        self.nodes[node.id] = node
        self._unindex_node(old)
        self._index_node(node)
        self.node_changed.emit(node, what)
        return old

    def _index_node(self, node: Node) -> None:
        if isinstance(node, CallNode):
            self._calls.setdefault(node.layer_id, {})[node.id] = None
        elif isinstance(node, InputNode):
            self._owners[node.name] = node.id

    def _unindex_node(self, node: Node) -> None:
        if isinstance(node, CallNode):
            calls = self._calls.get(node.layer_id, {})
            calls.pop(node.id, None)
            if not calls:
                self._calls.pop(node.layer_id, None)
        elif isinstance(node, InputNode):
            self._release_name(node.name, node.id)

    def _release_name(self, name: str, owner_id: str) -> None:
        if self._owners.get(name) == owner_id:
            del self._owners[name]

    def _check_name_free(self, name: str, owner_id: str) -> None:
        """Layer and input names share Keras' one namespace of a model."""
        owner = self._owners.get(name)
        if owner is not None and owner != owner_id:
            raise NameClashError(f"the name '{name}' is already used; choose another")

    def _check_node_name(self, node: Node) -> None:
        if isinstance(node, InputNode):
            self._check_name_free(node.name, node.id)
        if not isinstance(node, OutputNode):
            return
        if any(o.name == node.name and o.id != node.id for o in self.outputs()):
            raise NameClashError(f"an output is already named '{node.name}'; output names "
                                 "key the losses and metrics, so they must be unique")

    def add_edge(self, edge: Edge, index: int | None = None) -> None:
        if edge.id in self.edges:
            raise EditError(f"edge id {edge.id!r} is already in the graph")
        error = self.connection_error(edge.src, edge.src_index, edge.dst, edge.dst_slot)
        if error is not None:
            raise error
        self.edge_adding.emit(edge)
        _insert_at(self.edges, edge.id, edge, index)
        self._nx.add_edge(edge.src, edge.dst, key=edge.id)
        self.edge_added.emit(edge)

    def remove_edge(self, edge_id: str) -> int:
        edge = self.edge(edge_id)
        index = list(self.edges).index(edge_id)
        self.edge_removing.emit(edge)
        del self.edges[edge_id]
        self._nx.remove_edge(edge.src, edge.dst, key=edge_id)
        self.edge_removed.emit(edge)
        return index

    def move_node(self, node_id: str, position: tuple[float, float]) -> tuple[float, float]:
        old = self.node(node_id)
        self.replace_node(replace(old, position=position), "position")
        return old.position

    # --------------------------------------------------------------- checking
    def check_invariants(self) -> None:
        """Raise AssertionError if the document is inconsistent (used by tests)."""
        for edge in self.edges.values():
            assert edge.src in self.nodes and edge.dst in self.nodes, f"dangling edge {edge}"
            assert self._nx.has_edge(edge.src, edge.dst, key=edge.id), f"nx lost {edge}"
            assert not isinstance(self.nodes[edge.src], OutputNode), "edge out of an output"
            assert not isinstance(self.nodes[edge.dst], InputNode), "edge into an input"
        assert self._nx.number_of_edges() == len(self.edges), "nx has extra edges"
        assert set(self._nx.nodes) == set(self.nodes), "nx nodes differ from nodes"
        assert nx.is_directed_acyclic_graph(self._nx), "graph has a cycle"
        for node in self.nodes.values():
            slots = [e.dst_slot for e in self.in_edges(node.id)]
            assert len(slots) == len(set(slots)), f"two edges into one slot of {node.id}"
            if isinstance(node, CallNode):
                assert node.layer_id in self.layers, f"call {node.id} of a missing layer"
        for layer in self.layers.values():
            assert self.calls_of(layer.id), f"layer {layer.name} is never called"
        names = [layer.name for layer in self.layers.values()] + [n.name for n in self.inputs()]
        assert len(names) == len(set(names)), f"duplicate names {names}"

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())
