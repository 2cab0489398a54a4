"""Undoable edits of a document, in pure Python.

Each command knows how to ``redo`` and ``undo`` itself on a :class:`Document`,
restoring the exact prior state (including the order of nodes and edges).
Bigger edits are :class:`Macro` s of small ones. The GUI wraps these in a thin
QUndoCommand adapter; the CLI and tests use :class:`UndoStack`.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from psygnal import Signal

from ..document.document import MAIN, Block, Document
from ..document.graph import Graph
from ..schema.errors import ArityError, EditError, NameClashError, ParameterError
from ..schema.records import DTYPES, CallNode, Edge, LayerSpec, Node, OutputNode, Position, Shape
from ..schema.settings import (
    CompileSettings,
    TrainingSettings,
    check_compile_settings,
    settings_from_records,
    settings_to_records,
)


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
    """Add an edge; an output it feeds is named after the layer or input it now comes from."""

    edge: Edge
    graph_key: str = MAIN
    text: str = "Connect"
    _done: _Replacements | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        graph.add_edge(self.edge)
        done = self._done = _Replacements(self.graph_key)
        try:
            _name_after_source(doc, done, self.edge.dst)
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
        self._old = graph.replace_layer(replace(layer, params=params), self.name)

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        doc.graph_of(self.graph_key).replace_layer(self._old, self.name)


def check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise EditError(f"expected a non-empty name; received {name!r}")
    if "/" in name:
        raise EditError(f"a Keras name cannot contain '/'; received {name!r}")


# ------------------------------------------------------------ one name
# A model output is named after the layer (or input) whose tensor it is, because Keras names
# it so: keeping the two names equal means the export needs no Identity layer to rename it.
class _Replacements:
    """Records replaced by one command (layers, nodes, training settings), undone in reverse."""

    def __init__(self, graph_key: str) -> None:
        self.graph_key = graph_key
        self._steps: list[tuple[str, Any, str]] = []

    def layer(self, doc: Document, layer: LayerSpec, what: str) -> None:
        old = doc.graph_of(self.graph_key).replace_layer(layer, what)
        self._steps.append(("layer", old, what))

    def node(self, doc: Document, node: Node, what: str) -> None:
        old = doc.graph_of(self.graph_key).replace_node(node, what)
        self._steps.append(("node", old, what))

    def training(self, doc: Document, settings: TrainingSettings) -> None:
        self._steps.append(("training", doc.training, "training"))
        doc.training = settings
        doc.settings_changed.emit("training")

    def undo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        for kind, old, what in reversed(self._steps):
            if kind == "layer":
                graph.replace_layer(old, what)
            elif kind == "node":
                graph.replace_node(old, what)
            else:
                doc.training = old
                doc.settings_changed.emit(what)
        self._steps = []


def _rename_output(doc: Document, done: _Replacements, output: OutputNode, name: str,
                   changes: dict[str, Any] | None = None) -> None:
    """Rename an output node (with other field ``changes``); its data binding follows it."""
    what = ",".join(sorted({"name", *(changes or {})}))
    done.node(doc, replace(output, **{**(changes or {}), "name": name}), what)
    _move_binding(doc, done, output.name, name)


def _move_binding(doc: Document, done: _Replacements, old: str, new: str) -> None:
    """Training data bound to a name stays bound to it under its new name."""
    settings = doc.training
    if old == new or not (old in settings.data or old in settings.validation_data):
        return
    done.training(doc, replace(settings, data=_renamed_key(settings.data, old, new),
                               validation_data=_renamed_key(settings.validation_data, old, new)))


def _renamed_key(mapping: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    if old not in mapping or new in mapping:
        return dict(mapping)
    return {new if key == old else key: value for key, value in mapping.items()}


def _rename_owner(doc: Document, done: _Replacements, owner_id: str, name: str,
                  skip: str | None = None) -> None:
    """Rename a layer (by layer id) or an input (by node id), with the outputs named after it
    (except ``skip``, which the caller renames itself)."""
    graph = doc.graph_of(done.graph_key)
    linked = [o for o in graph.outputs_named_after(owner_id) if o.id != skip]
    renamed = {o.id for o in linked} | ({skip} if skip is not None else set())
    _check_output_name_free(graph, owner_id, name, renamed)
    if owner_id in graph.layers:
        done.layer(doc, replace(graph.layer(owner_id), name=name), "name")
    else:
        old = graph.node(owner_id)
        done.node(doc, replace(old, name=name), "name")
        _move_binding(doc, done, old.name, name)
    for output in linked:
        _rename_output(doc, done, output, name)


def _check_output_name_free(graph: Graph, owner_id: str, name: str, renamed: set[str]
                            ) -> None:
    """No two outputs share a name, and an output fed by another tensor cannot take a layer's
    name (Keras would meet that name twice). An output of this very owner that already has the
    name becomes its named output, when no other output is renamed with the owner."""
    for out in graph.outputs():
        if out.name != name or out.id in renamed:
            continue
        edge = graph.source_of(out.id)
        if renamed or edge is None or graph.producer(edge.src) != owner_id:
            raise NameClashError(f"the name '{name}' is already used by an output; choose "
                                 "another (an output is named after the layer that feeds it)")


def _name_after_source(doc: Document, done: _Replacements, output_id: str) -> None:
    """Name a newly fed output after its tensor, unless another output already has that name
    (one tensor as two outputs: the second keeps its own name, through an Identity)."""
    graph = doc.graph_of(done.graph_key)
    output = graph.node(output_id)
    edge = graph.source_of(output_id) if isinstance(output, OutputNode) else None
    if not isinstance(output, OutputNode) or edge is None:
        return
    name = graph.tensor_name(edge.src)
    if output.name != name and all(o.name != name for o in graph.outputs()):
        _rename_output(doc, done, output, name)


@dataclass
class RenameLayer(Command):
    """Rename a layer and the outputs named after it (their data bindings follow)."""

    layer_id: str
    name: str
    graph_key: str = MAIN
    text: str = "Rename"
    _done: _Replacements | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        check_name(self.name)
        doc.graph_of(self.graph_key).layer(self.layer_id)
        done = self._done = _Replacements(self.graph_key)
        _all_or_nothing(doc, done, lambda: _rename_owner(doc, done, self.layer_id, self.name))

    def undo(self, doc: Document) -> None:
        assert self._done is not None, "undo before redo"
        self._done.undo(doc)


def _all_or_nothing(doc: Document, done: _Replacements, change: Callable[[], None]) -> None:
    try:
        change()
    except Exception:
        done.undo(doc)
        raise


_NODE_FIELDS = {
    "input": {"name", "shape", "dtype", "position"},
    "output": {"name", "loss", "loss_weight", "metrics", "position"},
    "call": {"call_kwargs", "position"},
}


@dataclass
class EditNode(Command):
    """Change fields of a node: an input's name/shape/dtype, an output's name/loss/metrics.

    A new name is also given to what shares it: an input's or a layer's outputs named after
    it, an output's feeding layer or input (see :func:`_rename_owner`)."""

    node_id: str
    changes: dict[str, Any]
    graph_key: str = MAIN
    text: str = "Edit node"
    _done: _Replacements | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        node = graph.node(self.node_id)
        unknown = set(self.changes) - _NODE_FIELDS[node.kind]
        if unknown:
            allowed = ", ".join(sorted(_NODE_FIELDS[node.kind]))
            raise EditError(f"a {node.kind} node has the fields {allowed}; received {unknown}")
        changes = _normalized(self.changes)
        done = self._done = _Replacements(self.graph_key)
        _all_or_nothing(doc, done, lambda: _edit_node(doc, done, node, changes))

    def undo(self, doc: Document) -> None:
        assert self._done is not None, "undo before redo"
        self._done.undo(doc)


def _edit_node(doc: Document, done: _Replacements, node: Node, changes: dict[str, Any]) -> None:
    name = changes.pop("name", None)
    if name is None or name == getattr(node, "name", None):
        if changes:
            done.node(doc, replace(node, **changes), ",".join(sorted(changes)))
        return
    if isinstance(node, OutputNode):
        _rename_output_and_source(doc, done, node, name, changes)
        return
    _rename_owner(doc, done, node.id, name)
    if changes:
        renamed = doc.graph_of(done.graph_key).node(node.id)
        done.node(doc, replace(renamed, **changes), ",".join(sorted(changes)))


def _rename_output_and_source(doc: Document, done: _Replacements, output: OutputNode,
                              name: str, changes: dict[str, Any]) -> None:
    """The layer or input feeding the output takes the new name too, unless another output
    carries its name (one tensor as two outputs): then only this output, carried by an
    Identity layer in the code, is renamed, to a name no layer or input has."""
    graph = doc.graph_of(done.graph_key)
    if any(o.name == name for o in graph.outputs()):
        raise NameClashError(f"an output is already named '{name}'; output names key the "
                             "losses and metrics, so they must be unique")
    edge = graph.source_of(output.id)
    if edge is not None:
        source_name = graph.tensor_name(edge.src)
        holder = next((o for o in graph.outputs() if o.name == source_name), output)
        if holder.id == output.id:
            _rename_owner(doc, done, graph.producer(edge.src), name, skip=output.id)
        elif name in graph.names_in_use():
            raise NameClashError(f"the name '{name}' is already used; choose another (this "
                                 f"output shares its tensor with output '{holder.name}')")
    _rename_output(doc, done, output, name, changes)


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
    _done: _Replacements | None = field(default=None, repr=False)

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
        self._done = _Replacements(self.graph_key)
        for output_id in named:
            _name_after_source(doc, self._done, output_id)

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

