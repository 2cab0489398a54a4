"""Undoable edits of the search space: marking and unmarking dimensions, and
:func:`apply_values`, which writes a trial's values into the graph as one edit ("Apply
best trial"), adding or removing block calls for a number of repeats."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..document.document import MAIN, Document
from ..document.search_space import REPEATS, Dimension, SearchSpaceError, block_chain, is_number
from ..document.space_checks import check_dimension
from ..schema.errors import EditError
from ..schema.records import BLOCK_CLASS, CallNode, Edge, LayerSpec, new_id
from .commands import Command, Macro
from .graph_commands import AddNode, Connect, Disconnect, RemoveNode, SetParam
from .settings_commands import SetSetting, check_optimizer_name


def mark_dimension(doc: Document, dim: Dimension) -> Command:
    """Mark (or redefine) a search dimension; refused with a message if it does not fit."""
    check_dimension(doc, dim)
    return MarkDimension(dim)


def unmark_dimension(doc: Document, layer_id: str | None, param: str,
                     graph_key: str = MAIN) -> Command:
    slot = (graph_key, layer_id, param)
    if doc.search_space.find(slot) is None:
        what = param if layer_id is None else f"{param!r} of layer {layer_id!r}"
        raise SearchSpaceError(f"expected a searched parameter; {what} is not in the search "
                               "space")
    return UnmarkDimension(slot)


def apply_values(doc: Document, values: dict[str, Any], text: str = "Apply best trial"
                 ) -> Command:
    """One undoable edit writing a trial's values (by parameter name) into the document:
    exactly the searched parameters change. Refused before anything changes if a name is
    not searched or a value does not fit."""
    names = doc.search_space.names(doc)
    unknown = [n for n in values if n not in names]
    if unknown:
        raise SearchSpaceError(f"expected parameters of the search space ({', '.join(names)}); "
                               f"received {', '.join(map(repr, unknown))}")
    children: list[Command] = []
    for name, value in values.items():
        dim = names[name]
        if dim.is_setting:
            children.append(_setting_command(doc, dim.param, value))
        elif dim.param == REPEATS:
            if not is_number(value) or value < 1 or not float(value).is_integer():
                raise SearchSpaceError(f"{name}: expected a whole number of repeats from 1; "
                                       f"received {value!r}")
            children += _repeat_commands(doc, dim, int(value))
        else:
            _check_layer_value(doc, dim, name, value)
            children.append(SetParam(dim.layer_id or "", dim.param, value, dim.graph_key))
    return Macro(text, children)


def _check_layer_value(doc: Document, dim: Dimension, name: str, value: Any) -> None:
    layer = doc.graph_of(dim.graph_key).layer(dim.layer_id or "")
    spec = doc.catalog.get(layer.class_name).param(dim.param)
    problem = spec.value_error(value)
    if problem:
        raise SearchSpaceError(f"{name}: {problem}")


def _setting_command(doc: Document, param: str, value: Any) -> Command:
    if param == "optimizer":
        try:
            check_optimizer_name(doc, value)
        except EditError as exc:
            raise SearchSpaceError(f"optimizer: {exc}") from None
    if param in ("learning_rate", "batch_size") and (not is_number(value) or value <= 0):
        raise SearchSpaceError(f"{param}: expected a positive number; received {value!r}")
    value = int(value) if param == "batch_size" else value
    return SetSetting(param, value)


@dataclass
class MarkDimension(Command):
    dim: Dimension
    text: str = "Mark search dimension"
    _old: tuple[int, Dimension] | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        self._old = doc.search_space.put(self.dim)
        doc.settings_changed.emit("search_space")

    def undo(self, doc: Document) -> None:
        doc.search_space.drop(self.dim.slot)
        if self._old is not None:
            doc.search_space.dimensions.insert(*self._old)
        doc.settings_changed.emit("search_space")


@dataclass
class UnmarkDimension(Command):
    slot: tuple[str, str | None, str]
    text: str = "Unmark search dimension"
    _old: tuple[int, Dimension] | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        self._old = doc.search_space.drop(self.slot)
        doc.settings_changed.emit("search_space")

    def undo(self, doc: Document) -> None:
        if self._old is not None:
            doc.search_space.dimensions.insert(*self._old)
        doc.settings_changed.emit("search_space")


def _repeat_commands(doc: Document, dim: Dimension, count: int) -> list[Command]:
    """Add or remove calls at the end of the chain so the block runs ``count`` times."""
    graph = doc.graph_of(dim.graph_key)
    chain = block_chain(doc, dim)
    onward = graph.out_edges(chain[-1])
    if count == len(chain):
        return []
    if count < len(chain):
        keep = chain[count - 1]
        removed: list[Command] = [RemoveNode(n, dim.graph_key) for n in reversed(chain[count:])]
        return removed + [Connect(Edge(new_id(), keep, e.src_index, e.dst, e.dst_slot),
                                  dim.graph_key) for e in onward]
    commands: list[Command] = [Disconnect(e.id, dim.graph_key) for e in onward]
    layer = graph.layer(dim.layer_id or "")
    taken = set(graph.names_in_use()) | {o.name for o in graph.outputs()}
    previous, (x, y) = chain[-1], graph.node(chain[-1]).position
    for i in range(count - len(chain)):
        name = _free_name(f"{layer.name}_repeat", taken)
        added = LayerSpec(new_id(), BLOCK_CLASS, name, {}, layer.block_id)
        node = CallNode(new_id(), added.id, position=(x, y + 110.0 * (i + 1)))
        commands += [AddNode(node, added, dim.graph_key),
                     Connect(Edge(new_id(), previous, 0, node.id, 0), dim.graph_key)]
        previous = node.id
    return commands + [Connect(Edge(new_id(), previous, e.src_index, e.dst, e.dst_slot),
                               dim.graph_key) for e in onward]


def _free_name(base: str, taken: set[str]) -> str:
    i = 1
    while f"{base}_{i}" in taken:
        i += 1
    taken.add(f"{base}_{i}")
    return f"{base}_{i}"
