"""Undoable edits of a document, in pure Python.

Each command knows how to ``redo`` and ``undo`` itself on a :class:`Document`,
restoring the exact prior state (including the order of nodes and edges).
Bigger edits are :class:`Macro` s of small ones. The GUI wraps these in a thin
QUndoCommand adapter; the CLI and tests use :class:`UndoStack`.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any

from psygnal import Signal

from .document import MAIN, Block, CompileSettings, Document
from .errors import ArityError, EditError, ParameterError
from .graph import Graph
from .model import DTYPES, CallNode, Edge, LayerSpec, Node, Position, Shape
from .train_settings import TrainingSettings, settings_from_records, settings_to_records


class Command(ABC):
    text: str = "edit"

    @abstractmethod
    def redo(self, doc: Document) -> None: ...

    @abstractmethod
    def undo(self, doc: Document) -> None: ...


@dataclass
class Macro(Command):
    """Children run in order; undo runs them backwards. A failing child rolls back the rest."""

    text: str
    children: list[Command] = field(default_factory=list)

    def redo(self, doc: Document) -> None:
        done: list[Command] = []
        try:
            for child in self.children:
                child.redo(doc)
                done.append(child)
        except Exception:
            for child in reversed(done):
                child.undo(doc)
            raise

    def undo(self, doc: Document) -> None:
        for child in reversed(self.children):
            child.undo(doc)


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
    edge: Edge
    graph_key: str = MAIN
    text: str = "Connect"

    def redo(self, doc: Document) -> None:
        doc.graph_of(self.graph_key).add_edge(self.edge)

    def undo(self, doc: Document) -> None:
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
        self._old = graph.replace_layer(replace(layer, params=params), self.name)

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        doc.graph_of(self.graph_key).replace_layer(self._old, self.name)


def check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise EditError(f"expected a non-empty name; received {name!r}")
    if "/" in name:
        raise EditError(f"a Keras name cannot contain '/'; received {name!r}")


@dataclass
class RenameLayer(Command):
    layer_id: str
    name: str
    graph_key: str = MAIN
    text: str = "Rename"
    _old: LayerSpec | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        check_name(self.name)
        graph = doc.graph_of(self.graph_key)
        layer = graph.layer(self.layer_id)
        self._old = graph.replace_layer(replace(layer, name=self.name), "name")

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        doc.graph_of(self.graph_key).replace_layer(self._old, "name")


_NODE_FIELDS = {
    "input": {"name", "shape", "dtype", "position"},
    "output": {"name", "loss", "loss_weight", "metrics", "position"},
    "call": {"call_kwargs", "position"},
}


@dataclass
class EditNode(Command):
    """Change fields of a node: an input's name/shape/dtype, an output's name/loss/metrics."""

    node_id: str
    changes: dict[str, Any]
    graph_key: str = MAIN
    text: str = "Edit node"
    _old: Node | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        node = graph.node(self.node_id)
        unknown = set(self.changes) - _NODE_FIELDS[node.kind]
        if unknown:
            allowed = ", ".join(sorted(_NODE_FIELDS[node.kind]))
            raise EditError(f"a {node.kind} node has the fields {allowed}; received {unknown}")
        changes = _normalized(self.changes)
        what = ",".join(sorted(changes))
        self._old = graph.replace_node(replace(node, **changes), what)

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        doc.graph_of(self.graph_key).replace_node(self._old, ",".join(sorted(self.changes)))


def _normalized(changes: dict[str, Any]) -> dict[str, Any]:
    """Checked changes, in the types the document holds (tuples for shapes and positions)."""
    _check_node_changes(changes)
    result = dict(changes)
    if "shape" in result:
        result["shape"] = tuple(result["shape"])
    if "position" in result:
        result["position"] = (float(result["position"][0]), float(result["position"][1]))
    if "metrics" in result:
        result["metrics"] = list(result["metrics"])
    return result


def _check_node_changes(changes: dict[str, Any]) -> None:
    if "name" in changes:
        check_name(changes["name"])
    if "shape" in changes:
        check_shape(changes["shape"])
    if "dtype" in changes:
        check_dtype(changes["dtype"])
    if "loss_weight" in changes and not isinstance(changes["loss_weight"], int | float):
        raise EditError(f"expected a number for loss weight; received {changes['loss_weight']!r}")
    if "metrics" in changes and not (
        isinstance(changes["metrics"], list) and all(isinstance(m, str) for m in changes["metrics"])
    ):
        raise EditError(f"expected a list of metric names; received {changes['metrics']!r}")


def check_dtype(dtype: Any) -> str:
    if dtype not in DTYPES:
        raise EditError(f"expected a dtype among {', '.join(DTYPES)}; received {dtype!r}")
    return str(dtype)


def check_shape(shape: Any) -> Shape:
    ok = isinstance(shape, tuple | list) and all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape
    )
    if not ok:
        raise EditError(
            "expected a shape: a list of positive integers or None (unknown length), "
            f"without the batch axis, e.g. [28, 28, 1] or [None]; received {shape!r}"
        )
    return tuple(shape)


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

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        node = graph.node(self.node_id)
        if not isinstance(node, CallNode):
            raise EditError(f"expected a layer call node; received a {node.kind} node")
        if self.new_layer is not None:
            graph.add_layer(self.new_layer)
        self._check_ports(doc, graph, node)
        self._old_node = graph.replace_node(replace(node, layer_id=self.layer_id), "layer")
        self._dropped = None
        if not graph.calls_of(node.layer_id):
            old = graph.layer(node.layer_id)
            self._dropped = (graph.remove_layer(old.id), old)

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


# ---------------------------------------------------------------- settings
@dataclass
class SetTrainingSettings(Command):
    """Replace ``doc.training`` (fit arguments, callbacks, data bindings) as one edit.

    The settings are checked as a project file would check them, so a document never
    holds settings that it could not save and reopen; undo puts back the very object
    that was there.
    """

    settings: TrainingSettings
    text: str = "Change training settings"
    _old: TrainingSettings | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        checked = settings_from_records(settings_to_records(self.settings), "training settings")
        self._old = doc.training
        doc.training = checked
        doc.settings_changed.emit("training")

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        doc.training = self._old
        doc.settings_changed.emit("training")


@dataclass
class SetCompileSettings(Command):
    """Replace ``doc.compile`` (optimizer and learning rate) as one edit."""

    settings: CompileSettings
    text: str = "Change optimizer"
    _old: CompileSettings | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        check_compile_settings(self.settings)
        self._old = doc.compile
        doc.compile = copy.deepcopy(self.settings)
        doc.settings_changed.emit("compile")

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        doc.compile = self._old
        doc.settings_changed.emit("compile")


def check_compile_settings(settings: CompileSettings) -> None:
    optimizer, rate = settings.optimizer, settings.learning_rate
    if not isinstance(optimizer, str) or not optimizer.strip():
        raise EditError(f"expected an optimizer name such as 'adam' or 'rmsprop'; "
                        f"received {optimizer!r}")
    if rate is None:
        return
    if isinstance(rate, bool) or not isinstance(rate, int | float) \
            or not math.isfinite(rate) or rate <= 0:
        raise EditError(f"expected a positive learning rate such as 0.001 (or none for the "
                        f"optimizer's default); received {rate!r}")


# ------------------------------------------------------------ undo stack
class UndoStack:
    """A pure-Python undo stack (the GUI uses QUndoStack with the same commands)."""

    changed = Signal()

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._commands: list[Command] = []
        self._index = 0
        self._clean = 0

    def push(self, command: Command) -> Command:
        command.redo(self.doc)
        del self._commands[self._index:]
        self._commands.append(command)
        self._index += 1
        if self._clean > self._index:
            self._clean = -1
        self.changed.emit()
        return command

    def undo(self) -> None:
        if not self.can_undo:
            raise EditError("nothing to undo")
        self._index -= 1
        self._commands[self._index].undo(self.doc)
        self.changed.emit()

    def redo(self) -> None:
        if not self.can_redo:
            raise EditError("nothing to redo")
        self._commands[self._index].redo(self.doc)
        self._index += 1
        self.changed.emit()

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._commands)

    @property
    def index(self) -> int:
        return self._index

    def set_clean(self) -> None:
        self._clean = self._index

    @property
    def is_clean(self) -> bool:
        return self._clean == self._index

    def texts(self) -> list[str]:
        return [c.text for c in self._commands]

