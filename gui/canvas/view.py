"""The canvas widget: zoom, pan, selection, keyboard, clipboard, drops and the search popup.

The public methods are the canvas API the window wires to its menus and toolbars
(see the module docs of :mod:`layerforge.gui.canvas`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QContextMenuEvent,
    QCursor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView, QMenu, QWidget

from layerforge.core.document.document import MAIN
from layerforge.core.schema.diagnostics import Diagnostic
from layerforge.core.schema.records import Position

from ..session import EditorSession
from .clipboard import INPUT_KEY, OUTPUT_KEY, get_subgraph, layer_from_mime, put_subgraph
from .colouring import ColourLegend
from .context_menu import build_context_menu
from .controller import Source
from .items import NODE_HEIGHT, EdgeItem, NodeItem, PortItem
from .placement import Rect, box_at, free_offset, free_spot, union
from .scene import CanvasScene
from .search_popup import BLOCK_PREFIX, LayerSearchPopup
from .style import EDGE_LABEL_LOD, NODE_WIDTH, OVERVIEW_ZOOM, TEXT_LOD, CanvasStyle

ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.03, 4.0
PASTE_STEP = 40.0
SETTLE_MS = 150  # a zoom gesture has ended when no zoom step came for this long
NODE_SIZE = (NODE_WIDTH, NODE_HEIGHT)
BELOW = NODE_HEIGHT + 70.0  # a node fed by the selection goes this far below it
EMPTY_HINT = ("Empty model. Right-click or press Tab to add an Input,\n"
              "or start from a template (File → New from template).")
IO_SEARCH_ENTRIES = {
    INPUT_KEY: (INPUT_KEY, "Input", "model input (keras.Input)"),
    OUTPUT_KEY: (OUTPUT_KEY, "Output", "model output (loss, metrics)"),
}


class CanvasView(QGraphicsView):
    #: Selected node ids of the shown graph (document order).
    selection_changed = Signal(list)
    #: A block call was double-clicked: the block id.
    open_block_requested = Signal(str)
    #: The shown graph changed (set_graph_key, document replaced, shown block removed).
    graph_key_changed = Signal(str)

    def __init__(self, session: EditorSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.canvas_scene = CanvasScene(session, MAIN, self)
        self.setScene(self.canvas_scene)
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.popup: LayerSearchPopup | None = None
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self._zoom_settled)
        self._pan_from: QPoint | None = None
        self._space = False
        self._hint_drawn = False
        self.menu: QMenu | None = None
        self.legend = ColourLegend(self)
        scene = self.canvas_scene
        scene.overlay_changed.connect(self._show_legend)
        scene.selectionChanged.connect(self._on_selection)
        scene.block_open_requested.connect(self.open_block_requested)
        scene.search_requested.connect(self.show_layer_search)
        scene.graph_key_changed.connect(self.graph_key_changed)
        self.rubberBandChanged.connect(self._on_rubber_band)
        session.undo_stack.indexChanged.connect(self._refresh_hint)
        session.document_replaced.connect(self._refresh_hint)
        self.graph_key_changed.connect(self._refresh_hint)

    # ------------------------------------------------------------- graph shown
    @property
    def graph_key(self) -> str:
        return self.canvas_scene.graph_key

    def set_graph_key(self, key: str) -> None:
        if key == self.graph_key:
            return
        self.session.doc.graph_of(key)  # refuse unknown keys before dropping the items
        self.canvas_scene.show_graph(key)
        self.graph_key_changed.emit(key)
        self.show_start()

    # ------------------------------------------------------------- selection
    def selected_node_ids(self) -> list[str]:
        chosen = {i.node_id for i in self.canvas_scene.selectedItems() if isinstance(i, NodeItem)}
        return [nid for nid in self.canvas_scene.graph.nodes if nid in chosen]

    def selected_edge_ids(self) -> list[str]:
        return [i.edge_id for i in self.canvas_scene.selectedItems() if isinstance(i, EdgeItem)]

    def select_nodes(self, ids: list[str]) -> None:
        scene = self.canvas_scene
        scene.blockSignals(True)
        try:
            scene.clearSelection()
            for nid in ids:
                if nid in scene.nodes:
                    scene.nodes[nid].setSelected(True)
        finally:
            scene.blockSignals(False)
        self._on_selection()

    def select_all(self) -> None:
        self.select_nodes(list(self.canvas_scene.nodes))

    def _on_selection(self) -> None:
        self.canvas_scene.overview_changed()
        self.selection_changed.emit(self.selected_node_ids())

    def _on_rubber_band(self, rect: object, *_: object) -> None:
        """A rubber band selects nodes; edges it grazed on the way are not meant."""
        if not getattr(rect, "isNull", lambda: False)():
            return
        selected = self.canvas_scene.selectedItems()
        if any(isinstance(i, NodeItem) for i in selected):
            for item in selected:
                if isinstance(item, EdgeItem):
                    item.setSelected(False)

    def center_on(self, node_id: str) -> None:
        item = self.canvas_scene.nodes.get(node_id)
        if item is not None:
            self.centerOn(item)

    # ------------------------------------------------------------- zoom and pan
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        target = min(MAX_ZOOM, max(MIN_ZOOM, self.zoom() * factor))
        # Antialiasing costs a third of a frame: zoom steps go without it and without text,
        # then the settled view is drawn in full.
        self.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        self.canvas_scene.set_zooming(True)
        self._settle.start()
        self.scale(target / self.zoom(), target / self.zoom())
        self._update_detail()

    def _zoom_settled(self) -> None:
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.canvas_scene.set_zooming(False)

    def _update_detail(self) -> None:
        self.canvas_scene.set_overview(self.zoom() < OVERVIEW_ZOOM)

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1 / ZOOM_STEP)

    def reset_zoom(self) -> None:
        self.resetTransform()
        self._update_detail()

    def fit_all(self) -> None:
        rect = self._content_rect()
        if rect.isEmpty():
            return
        self.fitInView(rect.adjusted(-40, -40, 40, 40), Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > 1.5:
            self.zoom_by(1.5 / self.zoom())
        self._update_detail()

    def show_start(self) -> None:
        """A graph just opened: all of it when its text is readable that way; otherwise
        readable, from the top (the inputs, where reading a model starts), since a fitted
        graph of grey boxes tells a newcomer nothing."""
        self.fit_all()
        readable = max(TEXT_LOD, EDGE_LABEL_LOD) + 0.05
        if self.zoom() >= readable or not self.canvas_scene.nodes:
            return
        self.zoom_by(readable / self.zoom())
        self._zoom_settled()
        rect = self._content_rect()
        half_height = self.viewport().height() / 2 / self.zoom()
        self.centerOn(QPointF(rect.center().x(), rect.top() - 40 + half_height))

    def show_view(self, zoom: float, center: tuple[float, float]) -> None:
        """Show the scene at ``zoom`` around ``center`` (a reopened project's last view)."""
        zoom = min(MAX_ZOOM, max(MIN_ZOOM, zoom))
        self.resetTransform()
        self.scale(zoom, zoom)
        self.centerOn(QPointF(*center))
        self._update_detail()

    def _content_rect(self) -> QRectF:
        rect = QRectF()
        for item in self.canvas_scene.nodes.values():
            rect = rect.united(item.sceneBoundingRect())
        return rect

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom_by(1.0015 ** delta)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        panning = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space)
        if panning:
            self._pan_from = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            now = event.position().toPoint()
            delta = now - self._pan_from
            self._pan_from = now
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.itemAt(event.position().toPoint()) is None:
            self.show_layer_search(self.mapToScene(event.position().toPoint()))
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    # ------------------------------------------------------------- keyboard
    def event(self, event: QEvent) -> bool:
        # Tab would move the focus; on the canvas it opens the layer search.
        if (event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent)
                and event.key() == Qt.Key.Key_Tab):
            self.show_layer_search()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        action = self._key_action(event)
        if action is not None:
            action()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape:
            self.canvas_scene.controller.cancel_connect()
        super().keyPressEvent(event)

    def _key_action(self, event: QKeyEvent):
        standard = [
            (QKeySequence.StandardKey.Delete, self.delete_selection),
            (QKeySequence.StandardKey.Copy, self.copy_selection),
            (QKeySequence.StandardKey.Cut, self.cut_selection),
            (QKeySequence.StandardKey.Paste, self.paste),
            (QKeySequence.StandardKey.SelectAll, self.select_all),
            (QKeySequence.StandardKey.ZoomIn, self.zoom_in),
            (QKeySequence.StandardKey.ZoomOut, self.zoom_out),
        ]
        for key, action in standard:
            if event.matches(key):
                return action
        ctrl = event.modifiers() & Qt.KeyboardModifier.ControlModifier
        keys = {Qt.Key.Key_Backspace: self.delete_selection}
        if ctrl:
            keys = {Qt.Key.Key_D: self.duplicate_selection, Qt.Key.Key_Equal: self.zoom_in,
                    Qt.Key.Key_Plus: self.zoom_in, Qt.Key.Key_Minus: self.zoom_out,
                    Qt.Key.Key_0: self.reset_zoom}
        return keys.get(Qt.Key(event.key()))

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
        super().keyReleaseEvent(event)

    # ------------------------------------------------------------- editing
    @property
    def controller(self):
        return self.canvas_scene.controller

    def delete_selection(self) -> None:
        self.controller.delete(self.selected_node_ids(), self.selected_edge_ids())

    def call_again(self) -> None:
        """New calls of the selected layers, each on free space beside its original."""
        ids = self.selected_node_ids()
        taken = self._taken()
        positions: dict[str, Position] = {}
        for nid in ids:
            origin = self.canvas_scene.nodes[nid].pos()
            spot = free_spot((origin.x() + PASTE_STEP, origin.y() + PASTE_STEP), NODE_SIZE,
                             taken)
            positions[nid] = spot
            taken.append(box_at(spot, NODE_SIZE))
        self.select_nodes(self.controller.call_again(ids, positions))

    def make_unique(self) -> None:
        self.controller.make_unique(self.selected_node_ids())

    def group_selection(self, name: str | None = None) -> None:
        self.controller.group(self.selected_node_ids(), name)

    def ungroup_selection(self) -> None:
        self.controller.ungroup(self.selected_node_ids())

    def auto_layout(self) -> None:
        if self.controller.auto_layout():
            self.fit_all()

    def apply_fix(self, diagnostic: Diagnostic) -> None:
        if diagnostic.graph_key != self.graph_key:
            self.set_graph_key(diagnostic.graph_key)
        new = self.controller.apply_fix(diagnostic)
        if new is not None:
            self.select_nodes([new])

    # ------------------------------------------------------------- clipboard
    def copy_selection(self) -> bool:
        ids = self.selected_node_ids()
        if not ids:
            return False
        records = self.controller.copy(ids)
        if records is None:
            return False
        put_subgraph(records)
        return True

    def cut_selection(self) -> None:
        if self.copy_selection():
            self.controller.delete(self.selected_node_ids(), [])

    def paste(self, scene_pos: QPointF | None = None) -> None:
        """Paste next to the copied nodes (or centred on ``scene_pos``), on free space."""
        try:
            records = get_subgraph()
        except ValueError as exc:
            self.controller.refuse(str(exc))
            return
        if records is None:
            self.controller.refuse("the clipboard holds no LayerForge nodes to paste")
            return
        self._paste_free(records, scene_pos)

    def _paste_free(self, records: Any, scene_pos: QPointF | None) -> None:
        positions = self.controller.paste_positions(records)
        if positions is None:
            return
        group = [box_at(p, NODE_SIZE) for p in positions]
        wanted: Position = (PASTE_STEP, PASTE_STEP)
        if scene_pos is not None and group:
            left, top, width, height = union(group)
            wanted = (scene_pos.x() - left - width / 2, scene_pos.y() - top - height / 2)
        offset = free_offset(group, wanted, self._taken()) if group else wanted
        self.select_nodes(self.controller.paste(records, offset))

    def duplicate_selection(self) -> None:
        ids = self.selected_node_ids()
        records = self.controller.copy(ids) if ids else None
        if records is not None:
            self._paste_free(records, None)

    def can_paste(self) -> bool:
        try:
            return get_subgraph() is not None
        except ValueError:
            return False

    # ------------------------------------------------------------- inserting
    def _cursor_scene_pos(self) -> QPointF:
        local = self.viewport().mapFromGlobal(QCursor.pos())
        if not self.viewport().rect().contains(local):
            local = self.viewport().rect().center()
        return self.mapToScene(local)

    def insert_layer(self, class_name: str, scene_pos: QPointF | None = None,
                     source: Source | None = None, use_selection: bool = True) -> str | None:
        """Add what ``class_name`` names (a layer, a block, INPUT_KEY or OUTPUT_KEY) on the
        free spot nearest ``scene_pos``, fed by ``source`` or else the one selected node.

        Without ``scene_pos`` a fed node goes below its source, another at the cursor.
        """
        if source is None and use_selection:
            source = self.controller.output_source(self.selected_node_ids())
        if class_name == INPUT_KEY:
            source = None
        pos = self.free_position(scene_pos if scene_pos is not None else
                                 self._default_spot(source))
        if class_name == INPUT_KEY:
            new = self.controller.insert_input(pos)
        elif class_name == OUTPUT_KEY:
            new = self.controller.insert_output(pos, source)
        elif class_name.startswith(BLOCK_PREFIX):
            new = self.controller.insert_block(class_name[len(BLOCK_PREFIX):], pos, source)
        else:
            new = self.controller.insert_layer(class_name, pos, source)
        if new is not None:
            self.select_nodes([new])
            self.ensureVisible(self.canvas_scene.nodes[new], 40, 40)
        return new

    def add_input(self, scene_pos: QPointF | None = None) -> str | None:
        return self.insert_layer(INPUT_KEY, scene_pos, use_selection=False)

    def add_output(self, scene_pos: QPointF | None = None) -> str | None:
        """An Output at ``scene_pos``; without one, below the selected node and fed by it."""
        return self.insert_layer(OUTPUT_KEY, scene_pos, use_selection=scene_pos is None)

    def make_output(self, node_id: str, index: int = 0) -> str | None:
        """An Output below ``node_id``, fed by its output ``index`` (one undo step)."""
        return self.insert_layer(OUTPUT_KEY, source=(node_id, index))

    def insert_block(self, block_id: str, scene_pos: QPointF | None = None) -> str | None:
        return self.insert_layer(BLOCK_PREFIX + block_id, scene_pos)

    def _default_spot(self, source: Source | None) -> QPointF:
        item = self.canvas_scene.nodes.get(source[0]) if source is not None else None
        if item is None:
            return self._cursor_scene_pos()
        return item.pos() + QPointF(0.0, BELOW)

    def _taken(self) -> list[Rect]:
        return [box_at((i.pos().x(), i.pos().y()), NODE_SIZE)
                for i in self.canvas_scene.nodes.values()]

    def free_position(self, want: QPointF) -> QPointF:
        """The free spot nearest ``want`` where a new node overlaps no other."""
        x, y = free_spot((want.x(), want.y()), NODE_SIZE, self._taken())
        return QPointF(x, y)

    def show_layer_search(self, scene_pos: QPointF | None = None,
                          source: Source | None = None,
                          use_selection: bool = True) -> LayerSearchPopup:
        """The search popup; ``source`` (a dragged output port) lists Output first."""
        where = scene_pos if scene_pos is not None else self._cursor_scene_pos()
        if self.popup is not None:
            self.popup.close()
        self.popup = LayerSearchPopup(self._search_entries(source is not None), self)
        self.popup.chosen.connect(
            lambda key: self.insert_layer(key, scene_pos, source, use_selection))
        self.popup.move(self.viewport().mapToGlobal(self.mapFromScene(where)))
        self.popup.show()
        self.popup.edit.setFocus()
        return self.popup

    def _search_entries(self, from_port: bool = False) -> list[tuple[str, str, str]]:
        """Input and Output first (only Output for a dragged port), then layers and blocks."""
        doc = self.session.doc
        keys = [OUTPUT_KEY] if from_port else [INPUT_KEY, OUTPUT_KEY]
        entries = [IO_SEARCH_ENTRIES[key] for key in keys]
        entries += [(e.class_name, e.class_name, e.category) for e in
                    sorted(doc.catalog, key=lambda e: e.class_name.lower())]
        entries += [(BLOCK_PREFIX + b.id, b.name, "block") for b in doc.blocks.values()
                    if b.id != self.graph_key and not doc.block_uses(b.id, self.graph_key)]
        return entries

    # ------------------------------------------------------------- context menu
    def node_at(self, pos: QPoint) -> str | None:
        """The node under a viewport point (its body or one of its ports)."""
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item.node.node_id
            if isinstance(item, NodeItem):
                return item.node_id
        return None

    def edge_at(self, pos: QPoint) -> str | None:
        return next((i.edge_id for i in self.items(pos) if isinstance(i, EdgeItem)), None)

    def context_menu_at(self, pos: QPoint) -> QMenu:
        """The menu a right click at viewport point ``pos`` opens (not shown yet).

        On a node outside the selection, the node becomes the selection first: the
        node entries act on the selection, as the Edit menu does.
        """
        node_id = self.node_at(pos)
        if node_id is not None and node_id not in self.selected_node_ids():
            self.select_nodes([node_id])
        edge_id = self.edge_at(pos) if node_id is None else None
        return build_context_menu(self, self.mapToScene(pos), node_id, edge_id)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if self.controller.drag is not None:
            event.ignore()
            return
        pos = event.pos()
        selected = self.selected_node_ids()
        if event.reason() == QContextMenuEvent.Reason.Keyboard and selected:
            # The menu key acts on the selection, wherever the mouse is.
            pos = self.mapFromScene(self.canvas_scene.nodes[selected[0]].pos())
        if self.menu is not None:
            self.menu.close()
            self.menu.deleteLater()
        self.menu = self.context_menu_at(pos)
        self.menu.popup(self.viewport().mapToGlobal(pos))
        event.accept()

    # ------------------------------------------------------------- empty-canvas hint
    def hint_text(self) -> str:
        """What the view writes over an empty graph ('' once it has a node)."""
        return "" if self.canvas_scene.nodes else EMPTY_HINT

    def _refresh_hint(self, *_: object) -> None:
        if bool(self.hint_text()) != self._hint_drawn:
            self.viewport().update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        text = self.hint_text()
        self._hint_drawn = bool(text)
        if not text:
            return
        painter = QPainter(self.viewport())
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        painter.setFont(font)
        painter.setPen(self.canvas_scene.style.dim_text)
        painter.drawText(self.viewport().rect(), Qt.AlignmentFlag.AlignCenter, text)
        painter.end()

    # ------------------------------------------------------------- colouring legend
    def _show_legend(self) -> None:
        scene = self.canvas_scene
        self.legend.show_state(scene.colouring, scene.scale, scene.missing_values(),
                               bool(scene.flags.keys() & scene.nodes.keys()))
        self._place_legend()

    def _place_legend(self) -> None:
        """In room kept below the viewport, as wide as the viewport (as tall as it needs)."""
        shown = self.legend.isVisibleTo(self)
        if shown:
            self.legend.fit_width(self.viewport().width())
        room = self.legend.height() if shown else 0
        if self.viewportMargins().bottom() != room:
            self.setViewportMargins(0, 0, 0, room)
        area = self.viewport().geometry()
        self.legend.setGeometry(area.left(), area.bottom() + 1, area.width(),
                                self.legend.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_legend()

    # ------------------------------------------------------------- drops
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if layer_from_mime(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if layer_from_mime(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        name = layer_from_mime(event.mimeData())
        if name is None:
            event.ignore()
            return
        pos = self.mapToScene(event.position().toPoint())
        self._drop_layer(name, pos)
        event.acceptProposedAction()

    def _drop_layer(self, name: str, pos: QPointF) -> None:
        """A palette drop adds an unconnected node where it lands (or the free spot nearest)."""
        self.insert_layer(name, pos, use_selection=False)

    # ------------------------------------------------------------- theme
    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.canvas_scene.set_style(CanvasStyle.from_palette(self.palette()))
            self.resetCachedContent()
        super().changeEvent(event)
