"""Commands on a graph's structure: nodes, edges, a layer's parameters, positions, shared
layers and blocks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..document.document import MAIN, Block, Document
from ..document.graph import Graph
from ..schema.errors import ArityError, EditError, ParameterError
from ..schema.records import CallNode, Edge, LayerSpec, Node, Position
from .commands import Command
from .renames import Replacements, name_after_source


# --------------------------------------------------------------- structure
@dataclass
class AddNode(Command):
    """Add a node, and the layer it calls when ``layer`` is given."""

    node: Node
    layer: LayerSpec | None = None
    graph_key: str = MAIN
    text: str = "Add node"

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        if self.layer is not None:
            graph.add_layer(self.layer)
        try:
            graph.add_node(self.node)
        except Exception:
            if self.layer is not None:
                graph.remove_layer(self.layer.id)
            raise

    def undo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        graph.remove_node(self.node.id)
        if self.layer is not None:
            graph.remove_layer(self.layer.id)


@dataclass
class RemoveNode(Command):
    """Remove a node with its edges, and its layer when no other call uses it."""

    node_id: str
    graph_key: str = MAIN
    text: str = "Remove node"
    _edges: list[tuple[int, Edge]] = field(default_factory=list, repr=False)
    _node: tuple[int, Node] | None = field(default=None, repr=False)
    _layer: tuple[int, LayerSpec] | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        node = graph.node(self.node_id)
        order = list(graph.edges)
        touching = sorted(graph.edges_touching(self.node_id), key=lambda e: order.index(e.id))
        self._edges = []
        for edge in reversed(touching):
            self._edges.append((graph.remove_edge(edge.id), edge))
        self._edges.reverse()
        self._node = (graph.remove_node(self.node_id), node)
        self._layer = None
        if isinstance(node, CallNode) and not graph.calls_of(node.layer_id):
            layer = graph.layer(node.layer_id)
            self._layer = (graph.remove_layer(layer.id), layer)

    def undo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        assert self._node is not None, "undo before redo"
        if self._layer is not None:
            graph.add_layer(self._layer[1], self._layer[0])
        graph.add_node(self._node[1], self._node[0])
        for index, edge in self._edges:
            graph.add_edge(edge, index)


@dataclass
class Connect(Command):
    """Add an edge; an output it feeds is named after the layer or input it now comes from."""

    edge: Edge
    graph_key: str = MAIN
    text: str = "Connect"
    _done: Replacements | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        graph.add_edge(self.edge)
        done = self._done = Replacements(self.graph_key)
        try:
            name_after_source(doc, done, self.edge.dst)
        except Exception:
            done.undo(doc)
            graph.remove_edge(self.edge.id)
            raise

    def undo(self, doc: Document) -> None:
        if self._done is not None:
            self._done.undo(doc)
        doc.graph_of(self.graph_key).remove_edge(self.edge.id)


@dataclass
class Disconnect(Command):
    edge_id: str
    graph_key: str = MAIN
    text: str = "Disconnect"
    _removed: tuple[int, Edge] | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        edge = graph.edge(self.edge_id)
        self._removed = (graph.remove_edge(self.edge_id), edge)

    def undo(self, doc: Document) -> None:
        assert self._removed is not None, "undo before redo"
        doc.graph_of(self.graph_key).add_edge(self._removed[1], self._removed[0])


# --------------------------------------------------------------- properties
@dataclass
class SetParam(Command):
    """Set one constructor argument; a value equal to the default is stored as 'unset'."""

    layer_id: str
    name: str
    value: Any
    graph_key: str = MAIN
    text: str = "Set parameter"
    _old: LayerSpec | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        layer = graph.layer(self.layer_id)
        params = dict(layer.params)
        if layer.is_block:
            raise ParameterError(f"block '{layer.name}' has no parameters; edit the block itself")
        entry = doc.catalog.get(layer.class_name)
        try:
            spec = entry.param(self.name)
        except KeyError as exc:
            raise ParameterError(str(exc.args[0])) from None
        problem = spec.value_error(self.value)
        if problem is not None:
            raise ParameterError(f"{layer.class_name} '{layer.name}': {problem}")
        if self.value == spec.default and not spec.required and self.name not in entry.initial:
            params.pop(self.name, None)
        else:
            params[self.name] = self.value
        changed = replace(layer, params=params)
        _check_connections_still_fit(doc, graph, changed, self.name)
        self._old = graph.replace_layer(changed, self.name)

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        doc.graph_of(self.graph_key).replace_layer(self._old, self.name)


def _check_connections_still_fit(doc: Document, graph: Graph, layer: LayerSpec,
                                 param: str) -> None:
    """A value that takes ports away from a layer (an RNN's cell with fewer states) is
    refused while a connection uses them: the connection would be lost, or be one the graph
    cannot hold again on undo, copy or reopening."""
    spec = doc.port_spec_of(layer)
    for call in graph.calls_of(layer.id):
        for edge in graph.in_edges(call.id):
            why = spec.slot_error(edge.dst_slot)
            if why is not None:
                raise ParameterError(
                    f"{layer.class_name} '{layer.name}': {param}: that value leaves the "
                    f"connection into {edge.dst_slot} without a port ({why}); disconnect it "
                    "first")


@dataclass
class MoveNodes(Command):
    positions: dict[str, Position]
    graph_key: str = MAIN
    text: str = "Move"
    _old: dict[str, Position] = field(default_factory=dict, repr=False)

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        for nid in self.positions:
            graph.node(nid)  # refuse the whole move before changing anything
        self._old = {nid: graph.move_node(nid, tuple(pos)) for nid, pos in self.positions.items()}

    def undo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        for nid, pos in self._old.items():
            graph.move_node(nid, pos)


# --------------------------------------------------------- shared layers
@dataclass
class SetCallLayer(Command):
    """Point a call node at another layer instance (share weights / make unique).

    ``new_layer`` is added first when given; the old layer is removed when no
    call uses it any more.
    """

    node_id: str
    layer_id: str
    new_layer: LayerSpec | None = None
    graph_key: str = MAIN
    text: str = "Share layer"
    _old_node: CallNode | None = field(default=None, repr=False)
    _dropped: tuple[int, LayerSpec] | None = field(default=None, repr=False)
    _done: Replacements | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        node = graph.node(self.node_id)
        if not isinstance(node, CallNode):
            raise EditError(f"expected a layer call node; received a {node.kind} node")
        if self.new_layer is not None:
            graph.add_layer(self.new_layer)
        self._check_ports(doc, graph, node)
        named = [o.id for o in graph.outputs_named_after(node.layer_id)
                 if any(e.src == node.id for e in graph.in_edges(o.id))]
        self._old_node = graph.replace_node(replace(node, layer_id=self.layer_id), "layer")
        self._dropped = None
        if not graph.calls_of(node.layer_id):
            old = graph.layer(node.layer_id)
            self._dropped = (graph.remove_layer(old.id), old)
        # The call's outputs keep the name of the layer that makes them, as on a connection.
        self._done = Replacements(self.graph_key)
        for output_id in named:
            name_after_source(doc, self._done, output_id)

    def _check_ports(self, doc: Document, graph: Graph, node: CallNode) -> None:
        spec = doc.port_spec_of(graph.layer(self.layer_id))
        for edge in graph.in_edges(node.id):
            why = spec.slot_error(edge.dst_slot)
            if why is not None:
                if self.new_layer is not None:
                    graph.remove_layer(self.new_layer.id)
                raise ArityError(f"the connections of this call do not fit that layer: {why}")

    def undo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        assert self._old_node is not None, "undo before redo"
        if self._done is not None:
            self._done.undo(doc)
        if self._dropped is not None:
            graph.add_layer(self._dropped[1], self._dropped[0])
        graph.replace_node(self._old_node, "layer")
        if self.new_layer is not None:
            graph.remove_layer(self.new_layer.id)


# ----------------------------------------------------------------- blocks
@dataclass
class GraphRecords:
    """Plain records of a graph's content, used to create a block graph on redo."""

    layers: list[LayerSpec]
    nodes: list[Node]
    edges: list[Edge]

    def build(self, graph: Graph) -> Graph:
        for layer in self.layers:
            graph.add_layer(layer)
        for node in self.nodes:
            graph.add_node(node)
        for edge in self.edges:
            graph.add_edge(edge)
        return graph

    @classmethod
    def of(cls, graph: Graph) -> GraphRecords:
        return cls(list(graph.layers.values()), list(graph.nodes.values()),
                   list(graph.edges.values()))


@dataclass
class AddBlock(Command):
    block_id: str
    name: str
    content: GraphRecords
    text: str = "Add block"

    def redo(self, doc: Document) -> None:
        graph = self.content.build(doc.new_graph())
        doc.add_block(Block(self.block_id, self.name, graph))

    def undo(self, doc: Document) -> None:
        doc.remove_block(self.block_id)


@dataclass
class RemoveBlock(Command):
    block_id: str
    text: str = "Remove block"
    _block: Block | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        self._block = doc.remove_block(self.block_id)

    def undo(self, doc: Document) -> None:
        assert self._block is not None, "undo before redo"
        doc.add_block(self._block)
