"""Right-click menus of the canvas: on empty space (add here, paste, layout) and on nodes.

Every entry calls the view's or the controller's edit methods, which push undoable
core commands; entries that do not apply to what was clicked are shown disabled,
with the reason as their tooltip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF
from PySide6.QtWidgets import QInputDialog, QMenu, QWidget

from layerforge.core.document.graph import Graph
from layerforge.core.editing.freeze import is_frozen, set_trainable
from layerforge.core.schema.records import CallNode, InputNode, OutputNode

if TYPE_CHECKING:
    from .view import CanvasView


def ask_text(parent: QWidget, title: str, label: str, text: str) -> str | None:
    """A one-line text dialog; None when cancelled (tests replace this function)."""
    value, ok = QInputDialog.getText(parent, title, label, text=text)
    return value if ok else None


def _add(menu: QMenu, text: str, slot: Callable[[], Any], enabled: bool = True,
         why_not: str = "") -> None:
    action = menu.addAction(text)
    action.triggered.connect(lambda _checked=False: slot())
    action.setEnabled(enabled)
    if not enabled and why_not:
        action.setToolTip(why_not)


def build_context_menu(view: CanvasView, scene_pos: QPointF, node_id: str | None,
                       edge_id: str | None = None) -> QMenu:
    """The menu for a right click at ``scene_pos``: on ``node_id`` when given, else on
    space (on a connection, ``edge_id``, it can also delete that connection)."""
    menu = QMenu(view)
    menu.setToolTipsVisible(True)
    if node_id is not None:
        _fill_node_menu(menu, view, node_id)
        return menu
    if edge_id is not None:
        _add(menu, "Delete connection", lambda: view.controller.delete([], [edge_id]))
        menu.addSeparator()
    _fill_canvas_menu(menu, view, scene_pos)
    return menu


def _fill_canvas_menu(menu: QMenu, view: CanvasView, at: QPointF) -> None:
    has_nodes = bool(view.canvas_scene.nodes)
    empty = "the graph has no nodes yet"
    _add(menu, "Add layer here…", lambda: view.show_layer_search(at, use_selection=False))
    _add(menu, "Add Input here", lambda: view.add_input(at))
    _add(menu, "Add Output here", lambda: view.add_output(at))
    menu.addSeparator()
    _add(menu, "Paste", lambda: view.paste(at), view.can_paste(),
         "the clipboard holds no LayerForge nodes")
    _add(menu, "Select all", view.select_all, has_nodes, empty)
    menu.addSeparator()
    _add(menu, "Auto layout", view.auto_layout, has_nodes, empty)
    _add(menu, "Fit to window", view.fit_all, has_nodes, empty)


def _fill_node_menu(menu: QMenu, view: CanvasView, node_id: str) -> None:
    graph: Graph = view.canvas_scene.graph
    selected = view.selected_node_ids() or [node_id]
    nodes = [graph.node(nid) for nid in selected]
    calls = [n for n in nodes if isinstance(n, CallNode)]
    blocks = [n for n in calls if graph.layer(n.layer_id).block_id is not None]
    shared = [n for n in calls if len(graph.calls_of(n.layer_id)) > 1]
    edges = any(graph.edges_touching(nid) for nid in selected)
    node = graph.node(node_id)
    _add(menu, "Rename…", lambda: rename(view, node_id), len(selected) == 1,
         "select one node to rename it")
    _add(menu, "Duplicate", view.duplicate_selection)
    _add(menu, "Delete", view.delete_selection)
    _add(menu, "Disconnect", lambda: view.controller.disconnect(selected), edges,
         "no connections to remove")
    menu.addSeparator()
    _add(menu, "Call again", view.call_again, bool(calls),
         "only a layer can be called again (an Input or Output has no weights)")
    _add(menu, "Make unique", view.make_unique, bool(shared),
         "not a call of a shared layer")
    _add(menu, "Group into block", view.group_selection, len(calls) == len(nodes),
         "only layers can go into a block")
    _add(menu, "Ungroup", view.ungroup_selection, bool(blocks), "not a block")
    _add_freezing(menu, view, calls)
    if len(blocks) == 1 and len(nodes) == 1:
        block_id = graph.layer(blocks[0].layer_id).block_id or ""
        _add(menu, "Open block", lambda: view.open_block_requested.emit(block_id))
    menu.addSeparator()
    why = output_refusal(graph, node)
    _add(menu, "Make it an output", lambda: view.make_output(node_id), why is None, why or "")


def _add_freezing(menu: QMenu, view: CanvasView, calls: list[CallNode]) -> None:
    """Freeze (trainable=False: training keeps the weights) or unfreeze the selected layers;
    a block call's entry applies to every layer of its block."""
    doc = view.canvas_scene.session.doc
    graph = view.canvas_scene.graph
    frozen = [is_frozen(doc, graph.layer(n.layer_id)) for n in calls]
    none = "only a layer has weights to freeze"
    _add(menu, "Freeze", lambda: set_calls_trainable(view, calls, False),
         bool(calls) and not all(frozen), none if not calls else "already frozen")
    _add(menu, "Unfreeze", lambda: set_calls_trainable(view, calls, True), any(frozen),
         none if not calls else "not frozen")


def set_calls_trainable(view: CanvasView, calls: list[CallNode], trainable: bool) -> None:
    doc = view.canvas_scene.session.doc
    key = view.graph_key
    view.controller.push_each("Unfreeze" if trainable else "Freeze", [
        lambda node_id=n.id: set_trainable(doc, node_id, trainable, key) for n in calls])


def output_refusal(graph: Graph, node: InputNode | CallNode | OutputNode) -> str | None:
    """Why "Make it an output" does not apply to ``node`` (None when it does)."""
    if isinstance(node, OutputNode):
        return "this node already is an output"
    if any(isinstance(graph.nodes.get(e.dst), OutputNode) for e in graph.out_edges(node.id)
           if e.src_index == 0):
        return "this node already feeds an output"
    return None


def rename(view: CanvasView, node_id: str) -> None:
    controller = view.controller
    current = controller.node_name(node_id)
    name = ask_text(view, "Rename", f"New name for {view.canvas_scene.graph.describe(node_id)}:",
                    current)
    if name is not None:
        controller.rename(node_id, name)
