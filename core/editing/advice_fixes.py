"""The one-click fixes of hints (core/analysis/advice.py), each one undoable edit, and the
per-project list of silenced hint kinds."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..document.document import MAIN, Document
from ..schema.diagnostics import INSERT, Fix
from ..schema.errors import EditError
from ..schema.records import CallNode, Edge, LayerSpec, new_id
from .commands import Command, Macro
from .edits import add_layer
from .graph_commands import Connect, Disconnect, SetCallLayer, SetParam
from .renames import EditNode

SILENCED_KEY = "silenced_hints"  # in the project's meta (advice.SILENCED_KEY reads it)


def fix_command(doc: Document, fix: Fix, graph_key: str = MAIN) -> Command:
    """The edit a hint's fix makes (not applied yet: push it)."""
    if fix.action == INSERT or fix.node_id is None:
        raise EditError(f"expected a hint's fix; received an {fix.action!r} fix")
    if fix.action == "set_params":
        return _set_params(doc, fix, graph_key)
    if fix.action == "activation_after":
        return _activation_after(doc, fix, graph_key)
    if fix.action == "replace_layer":
        return _replace_layer(doc, fix, graph_key)
    if fix.action == "loss_weights":
        return _loss_weights(doc, fix)
    raise EditError(f"expected a fix set_params, activation_after, replace_layer or "
                    f"loss_weights; received {fix.action!r}")


def _call(doc: Document, node_id: str, graph_key: str) -> tuple[CallNode, LayerSpec]:
    graph = doc.graph_of(graph_key)
    node = graph.node(node_id)
    if not isinstance(node, CallNode):
        raise EditError(f"expected a layer call; received a {node.kind} node")
    return node, graph.layer(node.layer_id)


def _set_params(doc: Document, fix: Fix, graph_key: str) -> Command:
    _node, layer = _call(doc, fix.node_id or "", graph_key)
    return Macro(fix.description, [SetParam(layer.id, k, v, graph_key)
                                   for k, v in fix.params.items()])


def _activation_after(doc: Document, fix: Fix, graph_key: str) -> Command:
    """The layer's activation becomes an Activation layer after the BatchNormalization it
    feeds: everything the BatchNormalization fed now takes the Activation's output."""
    graph = doc.graph_of(graph_key)
    _node, layer = _call(doc, fix.node_id or "", graph_key)
    bn_id = graph.edge(fix.edge_id or "").dst
    default = doc.catalog.get(layer.class_name).param("activation").default
    x, y = graph.node(bn_id).position
    add = add_layer(doc, "Activation", dict(fix.params), position=(x, y + 60),
                    graph_key=graph_key)
    steps: list[Command] = [SetParam(layer.id, "activation", default, graph_key), add,
                            Connect(Edge(new_id(), bn_id, 0, add.node.id, 0), graph_key)]
    for edge in graph.out_edges(bn_id):
        steps += [Disconnect(edge.id, graph_key),
                  Connect(Edge(new_id(), add.node.id, 0, edge.dst, edge.dst_slot), graph_key)]
    return Macro(fix.description, steps)


def _replace_layer(doc: Document, fix: Fix, graph_key: str) -> Command:
    """The call takes a new layer of ``fix.class_name`` (the old one goes with its last call)."""
    graph = doc.graph_of(graph_key)
    node, _old = _call(doc, fix.node_id or "", graph_key)
    entry = doc.catalog.get(fix.class_name)
    params = {**entry.initial_params(), **fix.params}
    new = LayerSpec(new_id(), fix.class_name, graph.unique_name(entry.default_name or
                                                               fix.class_name.lower()), params)
    return SetCallLayer(node.id, new.id, new, graph_key, text=fix.description)


def _loss_weights(doc: Document, fix: Fix) -> Command:
    outputs = {o.name: o for o in doc.graph.outputs()}
    missing = [name for name in fix.params if name not in outputs]
    if missing:
        raise EditError(f"expected outputs {', '.join(sorted(outputs))}; received "
                        f"{', '.join(missing)}")
    return Macro(fix.description, [EditNode(outputs[name].id, {"loss_weight": float(w)})
                                   for name, w in fix.params.items()])


@dataclass
class SetSilencedHints(Command):
    """Which kinds of hint the project hides (an empty list leaves no key in the file)."""

    kinds: tuple[str, ...]
    text: str = "Silence hint"
    _old: dict[str, Any] | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        self._old = doc.meta.extra
        extra = {k: v for k, v in doc.meta.extra.items() if k != SILENCED_KEY}
        if self.kinds:
            extra[SILENCED_KEY] = sorted(set(self.kinds))
        doc.meta = replace(doc.meta, extra=extra)

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        doc.meta = replace(doc.meta, extra=self._old)


def silence(doc: Document, kind: str) -> SetSilencedHints:
    kinds = silenced(doc)
    return SetSilencedHints(tuple(sorted({*kinds, kind})), f"Silence hint {kind}")


def unsilence_all(doc: Document) -> SetSilencedHints:
    return SetSilencedHints((), "Show silenced hints")


def silenced(doc: Document) -> tuple[str, ...]:
    kinds = doc.meta.extra.get(SILENCED_KEY, [])
    return tuple(k for k in kinds if isinstance(k, str)) if isinstance(kinds, list) else ()
