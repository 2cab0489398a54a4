"""The scene: binds one graph of the session's document to items, and keeps them in sync.

It observes the graph's psygnal signals (nodes, edges, layers) and the session's Qt
signals (analysis, diagnostics, document replaced); after an analysis only the
items of nodes whose shapes changed are touched, so a parameter edit on a large
graph costs what it changes. It never edits the document: gestures go to
:class:`CanvasController`, which pushes core commands on the session.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable
from typing import Any, TypeVar

import shiboken6
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QTransform
from PySide6.QtWidgets import QApplication, QGraphicsScene, QGraphicsSceneMouseEvent

from layerforge.core.analysis.shapes import NodeShapes
from layerforge.core.document.document import MAIN, Block
from layerforge.core.document.graph import Graph
from layerforge.core.schema.diagnostics import Diagnostic
from layerforge.core.schema.records import CallNode, Edge, LayerSpec, Node, format_shape

from ..session import EditorSession
from .colouring import ColourScale, NodeColouring, ramp_colour
from .controller import CanvasController
from .items import _NO_CONTENTS, EdgeItem, NodeItem, OverviewItem, SharedLinkItem
from .labels import PENDING, argument_slots, input_slots, node_text, output_count
from .style import GRID, CanvasStyle, shared_colour

_Handler = TypeVar("_Handler", bound=Callable[..., None])


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and value == value and abs(value) != float("inf")


def _alive(handler: _Handler) -> _Handler:
    """psygnal holds the document's observers weakly, but a scene's C++ half can die first
    (its view closed): such a scene ignores the document from then on."""

    @functools.wraps(handler)
    def guarded(self: Any, *args: Any) -> None:
        if shiboken6.isValid(self):
            handler(self, *args)

    return guarded  # type: ignore[return-value]


# Parameter counts build small Keras layers: do them in slices so the UI never stalls.
_COUNT_SLICE_S = 0.012
_SCENE_MARGIN = 1500.0


class ParamCounter(QObject):
    """Counts each layer's weights off the critical path, a few milliseconds at a time."""

    def __init__(self, scene: CanvasScene) -> None:
        super().__init__(scene)
        self.scene = scene
        self.counts: dict[str, int | None] = {}
        self.queue: dict[str, None] = {}
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(0)
        self.timer.timeout.connect(self.run)

    def reset(self) -> None:
        self.counts.clear()
        self.queue.clear()

    def enqueue(self, layer_ids: list[str] | set[str]) -> None:
        for layer_id in layer_ids:
            self.queue[layer_id] = None
        self.resume()

    def resume(self) -> None:
        if self.queue and self.scene.session.keras_ready:
            self.timer.start()

    def run(self) -> None:
        scene = self.scene
        # ShapeEngine.layer_params refreshes the engine: never run before the session has
        # analysed the latest edit, or its list of changed nodes would be lost.
        if scene.awaiting_analysis or not scene.session.keras_ready:
            return
        engine = scene.session.engine(scene.graph_key)
        stale = engine.refresh()  # normally empty; if not, show what would be missed
        if stale:
            scene.apply_shape_changes(stale)
        start = time.perf_counter()
        while self.queue and time.perf_counter() - start < _COUNT_SLICE_S:
            layer_id = next(iter(self.queue))
            del self.queue[layer_id]
            if layer_id not in scene.graph.layers:
                continue
            count = engine.layer_params(layer_id)
            if self.counts.get(layer_id, PENDING) != count:
                self.counts[layer_id] = count
                scene.refresh_layer_text(layer_id)
        if self.queue:
            self.timer.start()


class CanvasScene(QGraphicsScene):
    """Items for the nodes and edges of one graph (the main model or a block)."""

    #: The shown graph changed without the view asking (document replaced, block removed).
    graph_key_changed = Signal(str)
    #: Double-click on a block call: the block id.
    block_open_requested = Signal(str)
    #: A connection dragged from an output was dropped on empty canvas: (scene pos, (node, index)).
    search_requested = Signal(QPointF, object)
    #: The overlays changed (colouring or flags): the views redraw their legend.
    overlay_changed = Signal()

    def __init__(self, session: EditorSession, graph_key: str = MAIN,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.graph_key = graph_key
        self.style = CanvasStyle.from_palette(QApplication.palette())
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[str, EdgeItem] = {}
        self.links: list[SharedLinkItem] = []
        self.calls: dict[str, dict[str, None]] = {}  # layer id -> its call node ids, in order
        self.snapping = False
        self.zooming = False
        self.overview = False
        self._overview_dirty = True
        self.overview_item = OverviewItem()
        self.awaiting_analysis = False
        # Overlays, by node id: kept here so that rebuilt items get them again.
        self.colouring: NodeColouring | None = None
        self.scale: ColourScale | None = None
        self.flags: dict[str, list[str]] = {}
        self.sparklines: dict[str, list[float]] = {}
        self._diag_state: dict[str, tuple[str, str]] = {}
        self._attached: list[tuple[Any, Callable[..., None]]] | None = None
        self.controller = CanvasController(self)
        self.counter = ParamCounter(self)
        self._links_timer = self._single_shot(self._refresh_links)
        self._rect_timer = self._single_shot(self._grow_scene_rect)
        self._overview_timer = self._single_shot(self._rebuild_overview)
        self.selectionChanged.connect(self.overview_changed)
        session.analysis_changed.connect(self._on_analysis)
        session.diagnostics_changed.connect(self._on_diagnostics)
        session.document_replaced.connect(self._on_document_replaced)
        session.keras_ready_changed.connect(self._on_keras_ready)
        self.rebuild()

    def _single_shot(self, slot: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(0)
        timer.timeout.connect(slot)
        return timer

    # ------------------------------------------------------------- access
    @property
    def graph(self) -> Graph:
        return self.session.doc.graph_of(self.graph_key)

    def shapes_of(self, node_id: str) -> NodeShapes | None:
        if not self.session.keras_ready:
            return None
        return self.session.engine(self.graph_key).results.get(node_id)

    def set_style(self, style: CanvasStyle) -> None:
        self.style = style
        self.overview_changed()
        for item in [*self.nodes.values(), *self.edges.values()]:
            item.style = style
            item.update()
        for node in self.nodes.values():
            node._elide()
            if self.colouring is not None:
                self._colour(node)  # the no-value grey follows the theme
        self.update()

    # ------------------------------------------------------------- building
    def show_graph(self, graph_key: str) -> None:
        self.graph_key = graph_key
        self.rebuild()

    def rebuild(self) -> None:
        """Drop every item and build them again from the document (open, replace, switch)."""
        self._detach()
        self.clearSelection()
        if self.overview_item.scene() is self:
            self.removeItem(self.overview_item)
        self.clear()
        self.addItem(self.overview_item)
        self.nodes, self.edges, self.links, self.calls = {}, {}, [], {}
        self._diag_state = {}
        self.counter.reset()
        graph = self.graph
        for node in graph.nodes.values():
            self._add_node(node)
        for edge in graph.edges.values():
            self._add_edge(edge)
        self._refresh_links()
        self._apply_diagnostics(self.session.diagnostics)
        self.setSceneRect(self.itemsBoundingRect().adjusted(
            -_SCENE_MARGIN, -_SCENE_MARGIN, _SCENE_MARGIN, _SCENE_MARGIN))
        self._attach()
        self.refresh_search_tags()
        self.counter.enqueue(list(graph.layers))
        if self.overview:
            self._rebuild_overview()

    def _attach(self) -> None:
        self._attached = self._subscriptions()
        for signal, slot in self._attached:
            signal.connect(slot)

    def _detach(self) -> None:
        for signal, slot in self._attached or []:
            signal.disconnect(slot)
        self._attached = None

    def _subscriptions(self) -> list[tuple[Any, Callable[..., None]]]:
        """The document signals the scene follows (those of the shown graph)."""
        graph, doc = self.graph, self.session.doc
        return [(graph.node_added, self._on_node_added),
                (graph.node_removed, self._on_node_removed),
                (graph.node_changed, self._on_node_changed),
                (graph.edge_added, self._on_edge_added),
                (graph.edge_removed, self._on_edge_removed),
                (graph.layer_changed, self._on_layer_changed),
                (doc.block_removed, self._on_block_removed),
                (doc.settings_changed, self._on_settings_changed)]

    def _add_node(self, node: Node) -> NodeItem:
        item = NodeItem(node.id, node.kind, self.style)
        if isinstance(node, CallNode):
            self.calls.setdefault(node.layer_id, {})[node.id] = None
        self.nodes[node.id] = item
        if self.overview:
            item.set_detail(False)
        self._fill(item, node)
        item.setPos(*node.position)
        if isinstance(node, CallNode):
            dims = self.session.doc.search_space.of_layer(node.layer_id, self.graph_key)
            item.set_search(tuple(d.param for d in dims))
        self._overlay(item)
        self.addItem(item)
        return item

    def _fill(self, item: NodeItem, node: Node) -> None:
        """Text and ports of a node item from the document (cheap; no Keras)."""
        graph = self.graph
        count: int | None = None
        if isinstance(node, CallNode):
            count = self.counter.counts.get(node.layer_id, PENDING)
            item.is_block = graph.layer(node.layer_id).block_id is not None
        item.set_text(node_text(self.session.doc, graph, node, count))
        outputs = output_count(self.session.doc, graph, node, self.shapes_of(node.id))
        if item.set_ports(input_slots(graph, node.id), outputs, argument_slots(graph, node.id)):
            self._reattach_edges(item)

    def _reattach_edges(self, item: NodeItem) -> None:
        """Ports were rebuilt: point the node's edges at the new port items."""
        graph = self.graph
        for edge_item in list(item.edges):
            edge = graph.edges.get(edge_item.edge_id)
            if edge is None:
                continue
            src = self.nodes[edge.src].output_port(edge.src_index)
            dst = self.nodes[edge.dst].input_port(edge.dst_slot)
            if src is not None and dst is not None:
                edge_item.src, edge_item.dst = src, dst
                src.connected = dst.connected = True
                src.fan_out.add(edge.id)
                edge_item.update_path()

    def _add_edge(self, edge: Edge) -> None:
        src_node, dst_node = self.nodes[edge.src], self.nodes[edge.dst]
        if (src_node.output_port(edge.src_index) is None
                or dst_node.input_port(edge.dst_slot) is None):
            self._fill(src_node, self.graph.node(edge.src))
            self._fill(dst_node, self.graph.node(edge.dst))
        src = src_node.output_port(edge.src_index)
        dst = dst_node.input_port(edge.dst_slot)
        if src is None or dst is None:
            return  # the engine reports the bad index as a diagnostic
        src.fan_out.add(edge.id)
        item = EdgeItem(edge.id, src, dst, self.style)
        item.set_label(self._label(edge))
        src.connected = dst.connected = True
        if self.overview:
            item.setFlag(_NO_CONTENTS, True)
        if len(src.fan_out) == 2:
            self._replace_labels(src_node)
        src_node.edges.add(item)
        dst_node.edges.add(item)
        self.edges[edge.id] = item
        self.addItem(item)
        self.overview_changed()

    @staticmethod
    def _replace_labels(node: NodeItem) -> None:
        for edge_item in node.edges:
            edge_item.update_path()

    def _label(self, edge: Edge) -> str:
        if not self.session.keras_ready:
            return ""
        shapes = self.shapes_of(edge.src)
        if shapes is None:
            return ""
        return format_shape(self.session.engine(self.graph_key).edge_shape(edge))

    # ------------------------------------------------------------- document signals
    @_alive
    def _on_node_added(self, node: Node) -> None:
        self.awaiting_analysis = True
        self._add_node(node)
        self._links_timer.start()
        self._rect_timer.start()
        self.overview_changed()

    @_alive
    def _on_node_removed(self, node: Node) -> None:
        self.awaiting_analysis = True
        item = self.nodes.pop(node.id, None)
        if isinstance(node, CallNode):
            self.calls.get(node.layer_id, {}).pop(node.id, None)
        if item is None:
            return
        for link in list(item.links):
            link.detach()
        self.removeItem(item)
        self._links_timer.start()
        self.overview_changed()

    @_alive
    def _on_node_changed(self, node: Node, what: str) -> None:
        self.awaiting_analysis = True
        item = self.nodes.get(node.id)
        if item is None:
            return
        if what == "position":
            if (item.pos().x(), item.pos().y()) != node.position:
                item.setPos(*node.position)
            return
        if what == "layer" and isinstance(node, CallNode):
            for calls in self.calls.values():
                calls.pop(node.id, None)
            self.calls.setdefault(node.layer_id, {})[node.id] = None
            self.counter.enqueue([node.layer_id])
            self._links_timer.start()
        self._fill(item, node)

    @_alive
    def _on_edge_added(self, edge: Edge) -> None:
        self.awaiting_analysis = True
        self._add_edge(edge)
        self._fill(self.nodes[edge.dst], self.graph.node(edge.dst))

    @_alive
    def _on_edge_removed(self, edge: Edge) -> None:
        self.awaiting_analysis = True
        item = self.edges.pop(edge.id, None)
        if item is None:
            return
        for node_id in (edge.src, edge.dst):
            node_item = self.nodes.get(node_id)
            if node_item is not None:
                node_item.edges.discard(item)
        item.src.fan_out.discard(edge.id)
        if len(item.src.fan_out) == 1:
            self._replace_labels(item.src.node)
        item.src.connected = any(e.src is item.src for e in item.src.node.edges)
        item.dst.connected = any(e.dst is item.dst for e in item.dst.node.edges)
        item.src.update()
        item.dst.update()
        self.removeItem(item)
        self.overview_changed()
        if edge.dst in self.graph.nodes:
            self._fill(self.nodes[edge.dst], self.graph.node(edge.dst))

    @_alive
    def _on_layer_changed(self, layer: LayerSpec, what: str) -> None:
        self.awaiting_analysis = True
        self.refresh_layer_text(layer.id)
        self.counter.enqueue([layer.id])

    @_alive
    def _on_block_removed(self, block: Block) -> None:
        if block.id == self.graph_key:
            self.show_graph(MAIN)
            self.graph_key_changed.emit(MAIN)

    @_alive
    def _on_settings_changed(self, what: str) -> None:
        if what == "search_space":
            self.refresh_search_tags()

    def refresh_search_tags(self) -> None:
        """The "⚙n" tag of every call whose layer has search dimensions."""
        space, graph = self.session.doc.search_space, self.graph
        for node_id, item in self.nodes.items():
            node = graph.nodes.get(node_id)
            names: tuple[str, ...] = ()
            if isinstance(node, CallNode):
                names = tuple(d.param for d in space.of_layer(node.layer_id, self.graph_key))
            item.set_search(names)

    def refresh_layer_text(self, layer_id: str) -> None:
        graph = self.graph
        for node_id in self.calls.get(layer_id, {}):
            if node_id in self.nodes and node_id in graph.nodes:
                self._fill(self.nodes[node_id], graph.node(node_id))

    # ------------------------------------------------------------- session signals
    def _on_analysis(self, changed: dict[str, set[str]]) -> None:
        self.awaiting_analysis = False
        self.apply_shape_changes(changed.get(self.graph_key, set()))

    def apply_shape_changes(self, ids: set[str]) -> None:
        """Update the ports, edge labels and parameter counts of nodes whose shapes changed."""
        graph = self.graph
        layers: set[str] = set()
        for node_id in ids:
            item = self.nodes.get(node_id)
            if item is None or node_id not in graph.nodes:
                continue
            node = graph.node(node_id)
            self._fill(item, node)
            for edge in graph.out_edges(node_id):
                edge_item = self.edges.get(edge.id)
                if edge_item is not None:
                    edge_item.set_label(self._label(edge))
            if isinstance(node, CallNode):
                layers.add(node.layer_id)
        self.counter.enqueue(layers)
        self.counter.resume()

    def _on_keras_ready(self, ready: bool) -> None:
        if ready:
            self.awaiting_analysis = True
            self.counter.enqueue(list(self.graph.layers))

    def _on_document_replaced(self) -> None:
        self.awaiting_analysis = True  # the session analyses the new document next
        self.graph_key = MAIN
        self.rebuild()
        self.graph_key_changed.emit(MAIN)

    def _on_diagnostics(self, diagnostics: list[Diagnostic]) -> None:
        self._apply_diagnostics(diagnostics)

    def _apply_diagnostics(self, diagnostics: list[Diagnostic]) -> None:
        state: dict[str, tuple[str, str]] = {}
        for diag in diagnostics:
            if diag.graph_key != self.graph_key:
                continue
            text = diag.message + (f"\nSuggested fix: {diag.fix.description}" if diag.fix else "")
            severity, old = state.get(diag.target, ("warning", ""))
            if diag.severity == "error":
                severity = "error"
            state[diag.target] = (severity, f"{old}\n{text}".strip())
        for target in set(state) | set(self._diag_state):
            if state.get(target) == self._diag_state.get(target):
                continue
            severity, message = state.get(target, (None, ""))
            if target in self.nodes:
                self.nodes[target].set_severity(severity, message)
            elif target in self.edges:
                self.edges[target].set_error(message or None)
        self._diag_state = state
        self.overview_changed()

    # ------------------------------------------------------------- overlays
    def set_colouring(self, colouring: NodeColouring | None) -> None:
        """Fill the nodes by ``colouring``'s values on the ramp (None: plain nodes)."""
        self.colouring = colouring
        self.scale = ColourScale.of(colouring) if colouring is not None else None
        for item in self.nodes.values():
            self._colour(item)
        self._overlay_changed()

    def set_node_flags(self, flags: dict[str, list[str]]) -> None:
        """A flag badge on each node id given, its messages in the tooltip; {} clears."""
        old, self.flags = self.flags, {k: list(v) for k, v in flags.items() if v}
        for node_id in set(old) | set(self.flags):
            item = self.nodes.get(node_id)
            if item is not None:
                item.set_flags(self.flags.get(node_id, []))
        self._overlay_changed()

    def set_sparklines(self, hists: dict[str, list[float]]) -> None:
        """A small histogram (bin heights 0..1) in each node given; {} clears."""
        old, self.sparklines = self.sparklines, {k: list(v) for k, v in hists.items() if v}
        for node_id in set(old) | set(self.sparklines):
            item = self.nodes.get(node_id)
            if item is not None:
                item.set_sparkline(self.sparklines.get(node_id))

    def missing_values(self) -> bool:
        """Whether a shown node has a NaN/Inf value in the colouring (drawn hatched)."""
        colouring = self.colouring
        return colouring is not None and any(
            node_id in self.nodes and not _finite(value)
            for node_id, value in colouring.values.items())

    def _overlay(self, item: NodeItem) -> None:
        """A new item takes the overlays its node id has."""
        if self.colouring is not None:
            self._colour(item)
        if item.node_id in self.flags:
            item.set_flags(self.flags[item.node_id])
        if item.node_id in self.sparklines:
            item.set_sparkline(self.sparklines[item.node_id])

    def _colour(self, item: NodeItem) -> None:
        colouring, scale = self.colouring, self.scale
        if colouring is None or scale is None or item.node_id not in colouring.values:
            item.set_colour(None)
            return
        value = colouring.values[item.node_id]
        label = colouring.labels.get(item.node_id) or (
            f"{colouring.title}: {colouring.format(value) if _finite(value) else value}")
        at = scale.position(value)
        if at is None:
            grey = QColor(self.style.node_fill).darker(115)
            item.set_colour(grey, hatched=True, note=label)
        else:
            item.set_colour(ramp_colour(at), note=label)

    def _overlay_changed(self) -> None:
        self.overview_changed()
        self.overlay_changed.emit()

    # ------------------------------------------------------------- shared layers
    def _refresh_links(self) -> None:
        for link in self.links:
            link.detach()
            if link.scene() is self:
                self.removeItem(link)
        self.links = []
        for layer_id, calls in self.calls.items():
            items = [self.nodes[nid] for nid in calls if nid in self.nodes]
            colour = shared_colour(layer_id, self.style.dark) if len(items) > 1 else None
            for item in items:
                item.set_badge(colour, len(items))
            if colour is None:
                continue
            for a, b in itertools.pairwise(items):
                link = SharedLinkItem(a, b, colour)
                link.setFlag(_NO_CONTENTS, self.overview)
                self.addItem(link)
                self.links.append(link)

    # ------------------------------------------------------------- drawing
    def set_overview(self, on: bool) -> None:
        """Far out, draw the recorded overview instead of every item (items stay clickable)."""
        if on == self.overview:
            return
        self.overview = on
        for node in self.nodes.values():
            node.set_detail(not on)
        for item in [*self.edges.values(), *self.links]:
            item.setFlag(_NO_CONTENTS, on)
        self.overview_item.setVisible(on)
        if on:
            self._rebuild_overview()

    def overview_changed(self) -> None:
        self._overview_dirty = True
        if self.overview:
            self._overview_timer.start()

    def _rebuild_overview(self) -> None:
        if self.overview and self._overview_dirty:
            self._overview_dirty = False
            self.overview_item.rebuild(self.style, list(self.nodes.values()),
                                       list(self.edges.values()))

    def set_zooming(self, zooming: bool) -> None:
        """While a zoom gesture runs, items skip text (re-rendering it at every step of the
        zoom costs more than a frame); when it settles, the visible ones draw it again."""
        if zooming == self.zooming:
            return
        self.zooming = zooming
        if zooming:
            return
        for view in self.views():
            area = view.mapToScene(view.viewport().rect()).boundingRect()
            for item in self.items(area):
                if isinstance(item, NodeItem | EdgeItem):
                    item.update()

    def _grow_scene_rect(self) -> None:
        wanted = self.itemsBoundingRect().adjusted(-_SCENE_MARGIN, -_SCENE_MARGIN,
                                                   _SCENE_MARGIN, _SCENE_MARGIN)
        if not self.sceneRect().contains(wanted):
            self.setSceneRect(self.sceneRect().united(wanted))

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, self.style.background)
        scale = painter.worldTransform().m11()
        step = GRID
        while step * scale < 12:
            step *= 5
        for spacing, colour in ((step, self.style.grid_minor), (step * 5, self.style.grid_major)):
            painter.setPen(colour)
            left = int(rect.left() // spacing) * spacing
            top = int(rect.top() // spacing) * spacing
            xs = [left + i * spacing for i in range(int(rect.width() // spacing) + 2)]
            ys = [top + i * spacing for i in range(int(rect.height() // spacing) + 2)]
            for x in xs:
                painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            for y in ys:
                painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))

    # ------------------------------------------------------------- gestures
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        item = self.itemAt(event.scenePos(), QTransform())
        self.snapping = (event.button() == Qt.MouseButton.LeftButton
                         and isinstance(item, NodeItem))
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if not self.snapping:
            return
        self.snapping = False
        graph = self.graph
        moved = {}
        for item in self.selectedItems():
            if isinstance(item, NodeItem) and item.node_id in graph.nodes:
                where = (item.pos().x(), item.pos().y())
                if where != graph.node(item.node_id).position:
                    moved[item.node_id] = where
        if moved:
            self.controller.move_nodes(moved)

    def node_double_clicked(self, item: NodeItem) -> None:
        node = self.graph.nodes.get(item.node_id)
        if isinstance(node, CallNode):
            block_id = self.graph.layer(node.layer_id).block_id
            if block_id is not None:
                self.block_open_requested.emit(block_id)
