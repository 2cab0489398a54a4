"""The canvas widget: zoom, pan, selection, keyboard, clipboard, drops and the search popup.

The public methods are the canvas API the window wires to its menus and toolbars
(see the module docs of :mod:`layerforge.gui.canvas`).
"""

from __future__ import annotations

import json

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QCursor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView, QWidget

from layerforge.core.diagnostics import Diagnostic
from layerforge.core.document import MAIN
from layerforge.core.model import Position

from ..session import EditorSession
from .clipboard import get_subgraph, layer_from_mime, put_subgraph
from .controller import Source
from .items import EdgeItem, NodeItem
from .scene import CanvasScene
from .search_popup import BLOCK_PREFIX, LayerSearchPopup
from .style import OVERVIEW_ZOOM, CanvasStyle

ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.03, 4.0
PASTE_STEP = 40.0
SETTLE_MS = 150  # a zoom gesture has ended when no zoom step came for this long


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
        self._paste_key = ""
        self._paste_count = 0
        scene = self.canvas_scene
        scene.selectionChanged.connect(self._on_selection)
        scene.block_open_requested.connect(self.open_block_requested)
        scene.search_requested.connect(self.show_layer_search)
        scene.graph_key_changed.connect(self.graph_key_changed)
        self.rubberBandChanged.connect(self._on_rubber_band)

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
        self.fit_all()

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
        self.select_nodes(self.controller.call_again(self.selected_node_ids()))

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

    def paste(self) -> None:
        try:
            records = get_subgraph()
        except ValueError as exc:
            self.controller.refuse(str(exc))
            return
        if records is None:
            self.controller.refuse("the clipboard holds no LayerForge nodes to paste")
            return
        self.select_nodes(self.controller.paste(records, self._paste_offset(records)))

    def _paste_offset(self, records: object) -> Position:
        """Each paste of the same content lands one step further, so copies never stack."""
        key = json.dumps(records, sort_keys=True)
        self._paste_count = self._paste_count + 1 if key == self._paste_key else 1
        self._paste_key = key
        return (PASTE_STEP * self._paste_count, PASTE_STEP * self._paste_count)

    def duplicate_selection(self) -> None:
        ids = self.selected_node_ids()
        records = self.controller.copy(ids) if ids else None
        if records is not None:
            self.select_nodes(self.controller.paste(records, (PASTE_STEP, PASTE_STEP)))

    # ------------------------------------------------------------- inserting
    def _cursor_scene_pos(self) -> QPointF:
        local = self.viewport().mapFromGlobal(QCursor.pos())
        if not self.viewport().rect().contains(local):
            local = self.viewport().rect().center()
        return self.mapToScene(local)

    def insert_layer(self, class_name: str, scene_pos: QPointF | None = None,
                     source: Source | None = None) -> str | None:
        """Add a layer at ``scene_pos`` (default: the cursor), fed by the one selected node."""
        pos = scene_pos if scene_pos is not None else self._cursor_scene_pos()
        if source is None:
            source = self.controller.output_source(self.selected_node_ids())
        if class_name.startswith(BLOCK_PREFIX):
            new = self.controller.insert_block(class_name[len(BLOCK_PREFIX):], pos, source)
        else:
            new = self.controller.insert_layer(class_name, pos, source)
        if new is not None:
            self.select_nodes([new])
        return new

    def insert_block(self, block_id: str, scene_pos: QPointF | None = None) -> str | None:
        return self.insert_layer(BLOCK_PREFIX + block_id, scene_pos)

    def show_layer_search(self, scene_pos: QPointF | None = None,
                          source: Source | None = None) -> LayerSearchPopup:
        pos = scene_pos if scene_pos is not None else self._cursor_scene_pos()
        if self.popup is not None:
            self.popup.close()
        self.popup = LayerSearchPopup(self._search_entries(), self)
        self.popup.chosen.connect(lambda key: self.insert_layer(key, pos, source))
        self.popup.move(self.viewport().mapToGlobal(self.mapFromScene(pos)))
        self.popup.show()
        self.popup.edit.setFocus()
        return self.popup

    def _search_entries(self) -> list[tuple[str, str, str]]:
        doc = self.session.doc
        entries = [(e.class_name, e.class_name, e.category) for e in
                   sorted(doc.catalog, key=lambda e: e.class_name.lower())]
        entries += [(BLOCK_PREFIX + b.id, b.name, "block") for b in doc.blocks.values()
                    if b.id != self.graph_key and not doc.block_uses(b.id, self.graph_key)]
        return entries

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
        """A palette drop adds an unconnected layer where it lands."""
        new = self.controller.insert_layer(name, pos, None)
        if new is not None:
            self.select_nodes([new])

    # ------------------------------------------------------------- theme
    def changeEvent(self, event: QEvent) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.canvas_scene.set_style(CanvasStyle.from_palette(self.palette()))
            self.resetCachedContent()
        super().changeEvent(event)
