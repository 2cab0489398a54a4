"""File → Compare with…: the canvas coloured by the difference from another model.

The other model (a project, a template's file, a ``.keras`` file or a run folder's
snapshot) is A, the open document B (``core/analysis/diff.py``): a layer only in the open
model gets a green halo, a changed one an amber halo whose tooltip lists the changed values,
and a layer only in the other model is drawn as a ghost where it stood. The colouring
follows edits (the comparison is made again, without Keras, after each live pass) until
File → Clear Comparison, or another document is opened.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QFileDialog,
    QGraphicsItem,
    QGraphicsPathItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from layerforge.core.analysis.diff import (
    GraphDiff,
    LayerDiff,
    ModelDiff,
    ValueChange,
    diff_documents,
)
from layerforge.core.document.document import Document
from layerforge.core.document.graph import Graph
from layerforge.core.io.diff import open_model
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.records import CallNode, OutputNode, Position

from . import files
from .canvas.items import NodeItem
from .canvas.view import CanvasView

ADDED = QColor("#2e9d4f")
CHANGED = QColor("#e0a21b")
GHOST = QColor("#8a8a8a")
HALO = 5.0
COMPARE_FILTER = ("Projects and Keras models (*.json *.keras *.h5 *.hdf5);;"
                  "Run snapshots (project.json);;All files (*)")


def choose_compare_path(parent: QWidget | None) -> str | None:
    path, _ = QFileDialog.getOpenFileName(parent, "Compare with a project, Keras model or run",
                                          "", COMPARE_FILTER)
    return path or None


class Halo(QGraphicsPathItem):
    """A coloured ring behind a node; its tooltip says how the node differs."""

    def __init__(self, node: NodeItem, colour: QColor, tip: str) -> None:
        super().__init__(node)
        path = QPainterPath()
        # the box, not its bounding rect, which keeps room for port labels beside it
        path.addRoundedRect(node.rect.adjusted(-HALO, -HALO, HALO, HALO), 8, 8)
        self.setPath(path)
        self.setPen(QPen(colour, HALO))
        fill = QColor(colour)
        fill.setAlpha(40)
        self.setBrush(QBrush(fill))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setToolTip(tip)
        self.colour = colour


class Ghost(QGraphicsItem):
    """A layer only in the other model, drawn dashed and faint where it stood."""

    def __init__(self, rect: QRectF, title: str, tip: str) -> None:
        super().__init__()
        self.rect, self.title = rect, title
        self.setOpacity(0.6)
        self.setZValue(-1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setToolTip(tip)

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        painter.setPen(QPen(GHOST, 2, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(self.rect, 6, 6)
        painter.drawText(self.rect.adjusted(8, 4, -8, -4),
                         Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.title)


def summary_text(diff: GraphDiff, source: str) -> str:
    """One line for the status bar: what this project adds, changes and drops against
    ``source`` (its colours on the canvas are the legend)."""
    if diff.is_empty():
        return f"Compared with {source}: no differences"
    parts = [f"{len(diff.added)} added (green)", f"{len(diff.changed)} changed (amber)",
             f"{len(diff.removed)} removed (ghosts)"]
    if diff.rewired:
        parts.append(f"{len(diff.rewired)} rewired")
    return f"Compared with {source}: " + ", ".join(parts)


class Comparison(QObject):
    """The comparison shown on the window's canvas, if any; ``summary_changed(text)`` says
    what differs (the status bar shows it), "" once cleared."""

    summary_changed = Signal(str)

    def __init__(self, view: CanvasView, parent: QWidget) -> None:
        super().__init__(parent)
        self.view, self.parent_widget = view, parent
        self.session = view.canvas_scene.session
        self.reference: Document | None = None
        self.source = ""
        self.diff: ModelDiff | None = None
        self.marks: list[QGraphicsItem] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self.refresh)
        self.session.analysis_changed.connect(lambda _changed: self._timer.start())
        self.session.document_replaced.connect(self.clear)
        view.graph_key_changed.connect(lambda _key: self._timer.start())

    @property
    def active(self) -> bool:
        return self.reference is not None

    def ask(self) -> bool:
        path = choose_compare_path(self.parent_widget)
        return self.compare_with(path) if path else False

    def compare_with(self, source: str | Path) -> bool:
        try:
            self.reference = open_model(str(source), self.session.doc.catalog)
        except LayerForgeError as exc:
            files.notify(self.parent_widget, "Compare with", str(exc))
            return False
        self.source = Path(source).name
        self.refresh()
        return True

    def clear(self) -> None:
        self.reference, self.diff = None, None
        self._remove_marks()
        self.summary_changed.emit("")

    def refresh(self) -> None:
        """Compare again and redraw the marks (after an edit, or another graph shown)."""
        self._remove_marks()
        if self.reference is None:
            return
        self.diff = diff_documents(self.reference, self.session.doc, counts=False)
        self.summary_changed.emit(summary_text(self.diff.graph, self.source))
        shown = self._shown_diff(self.diff.graph, self.reference.graph, self.session.doc.graph)
        if shown is not None:
            self._mark(*shown)

    def _shown_diff(self, diff: GraphDiff, old: Graph, new: Graph
                    ) -> tuple[GraphDiff, Graph] | None:
        """The difference in the graph the canvas shows, and that graph in the other model:
        the main graph, or a block reached through changed block layers."""
        key = self.view.graph_key
        if new is self.session.doc.graph_of(key):
            return diff, old
        assert self.reference is not None
        for layer in diff.changed:
            old_block = old.layer(layer.old_id).block_id
            new_block = new.layer(layer.layer_id).block_id
            if layer.inner is None or old_block is None or new_block is None:
                continue
            found = self._shown_diff(layer.inner, self.reference.block(old_block).graph,
                                     self.session.doc.block(new_block).graph)
            if found is not None:
                return found
        return None

    def _remove_marks(self) -> None:
        for item in self.marks:
            if shiboken6.isValid(item) and item.scene() is not None:
                item.scene().removeItem(item)
        self.marks = []

    def _mark(self, diff: GraphDiff, old: Graph) -> None:
        scene = self.view.canvas_scene
        current = scene.graph
        placed = {current.tensor_name(node.id): node.position for node in current.nodes.values()
                  if not isinstance(node, OutputNode)}
        for layer in diff.added:
            self._halo(layer, ADDED, f"Not in {self.source}: {layer.name} ({layer.class_name})")
        for layer in diff.changed:
            self._halo(layer, CHANGED, changed_tip(layer, self.source))
        for layer in diff.removed:
            ghost = self._ghost(layer, old, placed)
            if ghost is not None:
                scene.addItem(ghost)
                self.marks.append(ghost)

    def _halo(self, layer: LayerDiff, colour: QColor, tip: str) -> None:
        scene = self.view.canvas_scene
        for node_id in scene.calls.get(layer.layer_id, {}):
            node = scene.nodes.get(node_id)
            if node is not None:
                self.marks.append(Halo(node, colour, tip))

    def _ghost(self, layer: LayerDiff, graph: Graph, placed: dict[str, Position]
               ) -> Ghost | None:
        """Where the removed layer stood in the other model, moved as far as the node that fed
        it has moved (both models drawn in their own coordinates)."""
        calls = graph.calls_of(layer.layer_id)
        if not calls:
            return None
        x, y = calls[0].position
        offset = _offset(graph, calls[0], placed)
        size = next(iter(self.view.canvas_scene.nodes.values())).boundingRect() \
            if self.view.canvas_scene.nodes else QRectF(0, 0, 160, 48)
        rect = QRectF(QPointF(x + offset.x(), y + offset.y()), size.size())
        return Ghost(rect, f"{layer.name}\n{layer.class_name}",
                     f"Only in {self.source}: {layer.name} ({layer.class_name}), removed")



def _offset(graph: Graph, call: CallNode, placed: dict[str, Position]) -> QPointF:
    """How far the node feeding ``call`` in the other model has moved in the open one."""
    for edge in graph.in_edges(call.id):
        now = placed.get(graph.tensor_name(edge.src))
        if now is not None:
            old = graph.nodes[edge.src].position
            return QPointF(now[0] - old[0], now[1] - old[1])
    return QPointF(0, 0)


def changed_tip(layer: LayerDiff, source: str) -> str:
    name = f"{layer.old_name} → {layer.name}" if layer.old_name else layer.name
    lines = [f"Changed since {source}: {name} ({layer.class_name})"]
    lines += [f"{c.field}: {_shown(c)}" for c in layer.changes]
    if layer.inner is not None:
        inner = layer.inner
        lines.append(f"inside: {len(inner.added)} added, {len(inner.removed)} removed, "
                     f"{len(inner.changed)} changed")
    return "\n".join(lines)


def _shown(change: ValueChange) -> str:
    def text(value: Any) -> str:
        return value if isinstance(value, str) else repr(value)

    return f"{text(change.old)} → {text(change.new)}"
