"""Renaming layers, inputs and outputs, and editing a node's fields.

A model output is named after the layer (or input) whose tensor it is, because Keras names
it so: keeping the two names equal means the export needs no Identity layer to rename it.
Every rename here keeps that true, and moves training data bound to a name with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..document.document import MAIN, Document
from ..document.graph import Graph
from ..schema.errors import EditError, NameClashError
from ..schema.records import DTYPES, LayerSpec, Node, OutputNode, Shape
from ..schema.settings import TrainingSettings
from .commands import Command


def check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise EditError(f"expected a non-empty name; received {name!r}")
    if "/" in name:
        raise EditError(f"a Keras name cannot contain '/'; received {name!r}")


class Replacements:
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


def _rename_output(doc: Document, done: Replacements, output: OutputNode, name: str,
                   changes: dict[str, Any] | None = None) -> None:
    """Rename an output node (with other field ``changes``); its data binding follows it."""
    what = ",".join(sorted({"name", *(changes or {})}))
    done.node(doc, replace(output, **{**(changes or {}), "name": name}), what)
    _move_binding(doc, done, output.name, name)


def _move_binding(doc: Document, done: Replacements, old: str, new: str) -> None:
    """Training data bound to a name stays bound to it under its new name."""
    settings = doc.training
    if old == new or not (old in settings.data or old in settings.validation_data):
        return
    done.training(doc, replace(settings, data=_renamed_key(settings.data, old, new),
                               validation_data=_renamed_key(settings.validation_data, old, new)))


def _move_fine_tune_base(doc: Document, done: Replacements, old: str, new: str) -> None:
    """A two-phase plan names its base layer: renaming that layer renames the plan's base."""
    plan = doc.training.fine_tune
    if done.graph_key != MAIN or plan is None or plan.layer != old or old == new:
        return
    done.training(doc, replace(doc.training, fine_tune=replace(plan, layer=new)))


def _renamed_key(mapping: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    if old not in mapping or new in mapping:
        return dict(mapping)
    return {new if key == old else key: value for key, value in mapping.items()}


def _rename_owner(doc: Document, done: Replacements, owner_id: str, name: str,
                  skip: str | None = None) -> None:
    """Rename a layer (by layer id) or an input (by node id), with the outputs named after it
    (except ``skip``, which the caller renames itself)."""
    graph = doc.graph_of(done.graph_key)
    linked = [o for o in graph.outputs_named_after(owner_id) if o.id != skip]
    renamed = {o.id for o in linked} | ({skip} if skip is not None else set())
    _check_output_name_free(graph, owner_id, name, renamed)
    if owner_id in graph.layers:
        old_name = graph.layer(owner_id).name
        done.layer(doc, replace(graph.layer(owner_id), name=name), "name")
        _move_fine_tune_base(doc, done, old_name, name)
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


def name_after_source(doc: Document, done: Replacements, output_id: str) -> None:
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
    _done: Replacements | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        check_name(self.name)
        doc.graph_of(self.graph_key).layer(self.layer_id)
        done = self._done = Replacements(self.graph_key)
        _all_or_nothing(doc, done, lambda: _rename_owner(doc, done, self.layer_id, self.name))

    def undo(self, doc: Document) -> None:
        assert self._done is not None, "undo before redo"
        self._done.undo(doc)


def _all_or_nothing(doc: Document, done: Replacements, change: Callable[[], None]) -> None:
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
    _done: Replacements | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        graph = doc.graph_of(self.graph_key)
        node = graph.node(self.node_id)
        unknown = set(self.changes) - _NODE_FIELDS[node.kind]
        if unknown:
            allowed = ", ".join(sorted(_NODE_FIELDS[node.kind]))
            raise EditError(f"a {node.kind} node has the fields {allowed}; received {unknown}")
        changes = _normalized(self.changes)
        done = self._done = Replacements(self.graph_key)
        _all_or_nothing(doc, done, lambda: _edit_node(doc, done, node, changes))

    def undo(self, doc: Document) -> None:
        assert self._done is not None, "undo before redo"
        self._done.undo(doc)


def _edit_node(doc: Document, done: Replacements, node: Node, changes: dict[str, Any]) -> None:
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


def _rename_output_and_source(doc: Document, done: Replacements, output: OutputNode,
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
