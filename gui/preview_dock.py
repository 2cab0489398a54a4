"""The Preview dock: the selected node's output on a sample batch, with its statistics.

The previews come from the warm worker process (``core.training.preview_worker``, reached
through the window's ``gui.panels.warm_worker.WarmWorker``, attached with
:meth:`PreviewDock.attach_worker`): no Keras work runs in the UI process. The worker keeps
one Previewer per document, so re-selecting a node is a lookup and an edit recomputes only
what lies downstream of it. After a preview the dock asks for every node's sparkline and
passes them on (``sparklines_changed``). The views are painted with Qt from the arrays (a
plotting library took longer than the whole preview).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, QSizeF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QLabel, QSlider, QVBoxLayout, QWidget

from layerforge.core.document.document import MAIN
from layerforge.core.document.records import to_records
from layerforge.core.schema.records import InputNode
from layerforge.core.training.preview import NodePreview, TensorStats
from layerforge.core.training.preview_worker import PREVIEW, SPARKLINES, PreviewResult

from .session import EditorSession

# Feature maps shown at once, from the channel slider's start.
MAX_MAPS = 16
ERROR_COLOUR = "#d32f2f"
# After edits settle this long, every node's sparkline is asked for (which also has the
# worker run the model once, so the next selection is a lookup).
SPARKLINE_DEBOUNCE_MS = 300
# Channels of a 4D input drawn as pictures (grey, RGB, RGBA) rather than feature maps.
IMAGE_CHANNELS = (1, 3, 4)


def stats_text(stats: TensorStats) -> str:
    """The statistics as the dock shows them (rich text: NaN/Inf in red when any)."""
    lines = [f"mean {stats.mean:.4g}", f"std {stats.std:.4g}",
             f"min {stats.min:.4g} / max {stats.max:.4g}", f"zeros {stats.zeros_percent:.1f} %"]
    bad = f"NaN {stats.nans} · Inf {stats.infs}"
    lines.append(f'<span style="color:{ERROR_COLOUR}">{bad}</span>'
                 if stats.nans or stats.infs else bad)
    return "<br>".join(lines)


class PreviewDock(QWidget):
    """Follows the canvas selection; shows the one selected main-model node's preview."""

    #: Every call node's activation distribution (node id -> ~16 heights in 0..1), after a
    #: preview of the document on screen; {} when the document is replaced.
    sparklines_changed = Signal(dict)
    #: A preview was drawn (its node id): what the bench times.
    shown = Signal(str)

    def __init__(self, session: EditorSession, view: Any, worker: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.view = session, view
        self.node_id: str | None = None
        self.preview: NodePreview | None = None
        self.result: PreviewResult | None = None
        self.worker: Any = None
        self._request_id: int | None = None
        self._spark_id: int | None = None
        self._spark_content: tuple[Any, ...] | None = None  # what sparklines were asked for
        self._sent: tuple[Any, ...] | None = None  # what the last preview was asked on
        self._in_front = False
        self._spark_timer = QTimer(self)
        self._spark_timer.setSingleShot(True)
        self._spark_timer.setInterval(SPARKLINE_DEBOUNCE_MS)
        self._spark_timer.timeout.connect(self._ask_sparklines)
        self.message = QLabel("Select a node to preview its output on a sample batch.")
        self.message.setWordWrap(True)
        self.stats = QLabel()
        self.stats.setTextFormat(Qt.TextFormat.RichText)
        self.words = QLabel()
        self.words.setTextFormat(Qt.TextFormat.PlainText)
        self.words.setWordWrap(True)
        self.words.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.words.hide()
        self.channel = QSlider(Qt.Orientation.Horizontal)
        self.channel.setToolTip("First channel of the feature maps shown")
        self.channel.valueChanged.connect(lambda _v: self._draw())
        self.channel.hide()
        self._layout = QVBoxLayout(self)
        for widget in (self.message, self.stats, self.words, self.channel):
            self._layout.addWidget(widget)
        self._layout.addStretch(1)
        self.canvas = PreviewCanvas(self)
        self.canvas.hide()
        self._layout.insertWidget(4, self.canvas, 100)  # all the room the stretch would take
        view.selection_changed.connect(self._on_selection)
        session.analysis_changed.connect(lambda _changed: self._on_edit())
        session.document_replaced.connect(self._on_document_replaced)
        session.trust_changed.connect(lambda _trusted: self._request())
        if worker is not None:
            self.attach_worker(worker)

    def attach_worker(self, worker: Any) -> None:
        """Compute previews in ``worker`` (a ``gui.panels.warm_worker.WarmWorker``)."""
        if self.worker is not None:
            self.worker.replied.disconnect(self._on_replied)
            self.worker.ready_changed.disconnect(self._on_worker_ready)
        self.worker = worker
        worker.replied.connect(self._on_replied)
        worker.ready_changed.connect(self._on_worker_ready)
        self._request()
        self._spark_timer.start()

    # ------------------------------------------------------------ requests
    def _on_selection(self, ids: list[str]) -> None:
        self.node_id = ids[0] if len(ids) == 1 and self.view.graph_key == MAIN else None
        self._request()

    def _on_edit(self) -> None:
        if self._content() == self._sent:
            return  # an analysis that changed nothing the model is made of
        if self.node_id is not None and self.node_id not in self.session.doc.graph.nodes:
            self.node_id = None
        self._request()
        self._spark_timer.start()

    def _content(self) -> tuple[Any, ...]:
        """What a preview depends on: the document's records and its stored weights."""
        doc = self.session.doc
        return (to_records(doc), tuple((key, tuple(id(a) for a in arrays))
                                       for key, arrays in doc.weights.items()))

    def _on_document_replaced(self) -> None:
        self.node_id = None
        self._spark_content = self._spark_id = None
        self.sparklines_changed.emit({})
        self._request()
        self._spark_timer.start()

    def _on_worker_ready(self, ready: bool) -> None:
        if ready and self._request_id is not None:
            self._show_message("computing…")

    def _request(self) -> None:
        self.preview = self.result = None
        self._request_id = None
        if self.node_id is None:
            return self._show_message("Select a node to preview its output on a sample batch.")
        if not self.session.code_trusted:
            return self._show_message("The project's code is not trusted yet: trust it to "
                                      "preview its nodes (nothing of it runs until then).")
        if not self._in_front:  # behind another tab: nothing runs until it comes forward
            return self._show_message("computing…")
        if self.worker is None:
            return self._show_message("The preview process is not running.")
        self._show_message("computing…" if self.worker.ready
                           else "computing… (the preview process is loading Keras)")
        self._sent = self._content()
        self._request_id = self.worker.submit(PREVIEW, self.session.doc,
                                              {"node_id": self.node_id})

    def on_dock_visibility(self, visible: bool) -> None:
        """The dock came to the front (or went behind a tab or closed)."""
        self._in_front = visible
        if visible and self.node_id is not None and self.preview is None:
            self._request()
        if visible:
            self._spark_timer.start()

    def _on_replied(self, kind: str, request_id: int, result: Any) -> None:
        if kind == PREVIEW and request_id == self._request_id:
            self._request_id = None
            self._on_result(result)
        elif kind == SPARKLINES and request_id == self._spark_id:
            self._spark_id = None
            if isinstance(result, dict):
                self.sparklines_changed.emit(result)

    def _ask_sparklines(self) -> None:
        """Every node's sparkline for the document on screen, once per edit, while in front."""
        if (self.worker is None or not self._in_front or not self.session.code_trusted
                or not self.session.doc.graph.nodes):
            return
        content = self._content()
        if self._spark_content == content:
            return
        self._spark_content = content
        self._spark_id = self.worker.submit(SPARKLINES, self.session.doc)

    def shutdown(self) -> None:
        """Nothing of the dock's own to stop: the window's worker is shut down with it."""
        self._spark_timer.stop()
        self._request_id = self._spark_id = None

    # ------------------------------------------------------------ showing
    def _on_result(self, result: Any) -> None:
        if not isinstance(result, PreviewResult):
            return self._show_message("The model cannot be built for a preview: "
                                      f"{getattr(result, 'message', result)}")
        if result.preview.node_id != self.node_id:
            return  # the user has selected another node since
        self.preview, self.result = result.preview, result
        self._ask_sparklines()
        stats = result.preview.stats[0] if result.preview.stats else None
        if stats is None:
            if result.words is not None:
                self._show_message(f"Raw texts of the sample batch ({result.samples} samples)")
                self._show_words(result.words)
            else:
                self._show_message("This node's output is a tensor of strings: there are "
                                   "no numbers to show.")
            self.shown.emit(result.preview.node_id)
            return
        self.message.setText(f"Output {result.shapes[0]} on {result.samples} samples")
        self.stats.setText(stats_text(stats))
        self.stats.show()
        if result.words is not None:
            self._show_words(result.words)
        array = result.preview.tensors[0]
        maps = array.ndim == 4 and not self.shows_images()
        self.channel.setVisible(maps)
        if maps:
            self.channel.blockSignals(True)
            self.channel.setRange(0, max(0, array.shape[-1] - 1))
            self.channel.setValue(min(self.channel.value(), array.shape[-1] - 1))
            self.channel.blockSignals(False)
        self._draw()
        self.shown.emit(result.preview.node_id)

    def shows_images(self) -> bool:
        """The selection is an input of pictures: drawn as images, not channel maps."""
        if self.preview is None or self.node_id not in self.session.doc.graph.nodes:
            return False
        array = self.preview.tensors[0]
        return (isinstance(self.session.doc.graph.node(self.node_id), InputNode)
                and array.ndim == 4 and array.shape[-1] in IMAGE_CHANNELS
                and self.preview.stats[0] is not None)

    def _show_words(self, texts: tuple[str, ...]) -> None:
        self.words.setText("\n".join(f"{i}: {text}" for i, text in enumerate(texts)))
        self.words.show()

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.stats.clear()
        self.stats.hide()
        self.words.clear()
        self.words.hide()
        self.channel.hide()
        self.canvas.hide()

    def _draw(self) -> None:
        if self.preview is None or self.preview.stats[0] is None:
            return
        array = np.asarray(self.preview.tensors[0])
        stats = self.preview.stats[0]
        if self.shows_images():
            tiles = [(f"sample {i}", picture(image)) for i, image in enumerate(array)]
            self.canvas.show_tiles(tiles, "")
        elif array.ndim == 4:
            start = self.channel.value()
            shown = range(start, min(array.shape[-1], start + MAX_MAPS))
            self.canvas.show_tiles([(str(c), coloured(array[0, ..., c])) for c in shown],
                                   "feature maps (sample 0)")
        elif array.ndim == 3:
            self.canvas.show_tiles([("", coloured(array[0]))],
                                   "sequence × features (sample 0): steps down, features across",
                                   stretch=True)
        elif array.ndim == 2:
            self.canvas.show_tiles([("", coloured(array))],
                                   "batch × features: samples down, features across",
                                   stretch=True)
        else:
            self.canvas.show_tiles([], "")
        self.canvas.set_histogram(stats)
        self.canvas.show()

    def image_axes(self) -> int:
        """How many feature maps (or pictures, or heatmaps) the view draws now."""
        return len(self.canvas.tiles) if self.canvas.isVisibleTo(self) else 0


# ------------------------------------------------------------ the views
# Viridis at nine stops (matplotlib's own values), interpolated into a 256-colour table.
_VIRIDIS_STOPS = np.array([
    (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
    (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)], dtype=np.float64)
VIRIDIS = np.stack([np.interp(np.linspace(0, 8, 256), np.arange(9), _VIRIDIS_STOPS[:, k])
                    for k in range(3)], axis=1).astype(np.uint8)
TITLE_HEIGHT = 14
HISTOGRAM_HEIGHT = 70


def _scaled(values: np.ndarray) -> np.ndarray:
    """Values to 0..1 over their finite range (NaN/Inf at 0: the stats count them)."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(values.shape)
    low, high = values[finite].min(), values[finite].max()
    out = (values - low) / (high - low) if high > low else np.zeros(values.shape)
    return np.where(finite, out, 0.0)


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    return QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def coloured(values: np.ndarray) -> QImage:
    """A 2D array as a viridis picture, each value scaled over the array's range."""
    return _qimage(VIRIDIS[(_scaled(values) * 255).astype(np.uint8)])


def picture(image: np.ndarray) -> QImage:
    """One input sample (H, W, 1|3|4) as it would be seen: grey or colour, contrast
    stretched over its range (inputs may be 0..1, 0..255 or standardised)."""
    scaled = (_scaled(image) * 255).astype(np.uint8)
    if scaled.shape[-1] == 1:
        scaled = np.repeat(scaled, 3, axis=-1)
    return _qimage(scaled[..., :3])


class PreviewCanvas(QWidget):
    """Painted views (no plotting library: a selection draws within milliseconds): a grid
    of pictures with titles, or one stretched heatmap, above a histogram of the values."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tiles: list[tuple[str, QImage]] = []
        self.heading = ""
        self.stretch = False
        self.bars: tuple[int, ...] = ()
        self.range: tuple[float, float] = (0.0, 0.0)
        self.setMinimumHeight(280)

    def show_tiles(self, tiles: list[tuple[str, QImage]], heading: str,
                   stretch: bool = False) -> None:
        self.tiles, self.heading, self.stretch = tiles, heading, stretch
        self.update()

    def set_histogram(self, stats: TensorStats) -> None:
        finite = math.isfinite(stats.min) and math.isfinite(stats.max)
        self.bars = tuple(stats.histogram) if finite else ()
        self.range = (stats.min, stats.max) if finite else (0.0, 0.0)
        self.update()

    def titles(self) -> list[str]:
        return [title for title, _image in self.tiles]

    def paintEvent(self, _event: Any) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        painter.setPen(self.palette().text().color())
        font = painter.font()
        font.setPointSize(7)
        painter.setFont(font)
        top = 0
        if self.heading:
            painter.drawText(QRectF(0, 0, self.width(), TITLE_HEIGHT),
                             int(Qt.AlignmentFlag.AlignLeft), self.heading)
            top = TITLE_HEIGHT
        area = QRectF(0, top, self.width(), self.height() - top - HISTOGRAM_HEIGHT)
        self._paint_tiles(painter, area)
        self._paint_histogram(painter, QRectF(0, self.height() - HISTOGRAM_HEIGHT + 10,
                                              self.width(), HISTOGRAM_HEIGHT - 10))
        painter.end()

    def _paint_tiles(self, painter: QPainter, area: QRectF) -> None:
        if not self.tiles:
            return
        if self.stretch:
            painter.drawImage(area.adjusted(0, 2, 0, -2), self.tiles[0][1])
            return
        cols = math.ceil(math.sqrt(len(self.tiles)))
        rows = math.ceil(len(self.tiles) / cols)
        cell_w, cell_h = area.width() / cols, area.height() / rows
        for i, (title, image) in enumerate(self.tiles):
            x, y = area.left() + (i % cols) * cell_w, area.top() + (i // cols) * cell_h
            room = QRectF(x + 2, y + TITLE_HEIGHT, cell_w - 4, cell_h - TITLE_HEIGHT - 2)
            scale = min(room.width() / image.width(), room.height() / image.height())
            size = QSizeF(image.width() * scale, image.height() * scale)
            target = QRectF(room.center().x() - size.width() / 2, room.top(), size.width(),
                            size.height())
            painter.drawText(QRectF(x, y, cell_w, TITLE_HEIGHT),
                             int(Qt.AlignmentFlag.AlignCenter), title)
            painter.drawImage(target, image)

    def _paint_histogram(self, painter: QPainter, area: QRectF) -> None:
        if not self.bars:
            return
        low, high = self.range
        painter.drawText(QRectF(area.left(), area.top(), area.width(), TITLE_HEIGHT),
                         int(Qt.AlignmentFlag.AlignLeft),
                         f"histogram  {low:.3g} … {high:.3g}")
        plot = area.adjusted(0, TITLE_HEIGHT, 0, 0)
        tallest = max(self.bars) or 1
        width = plot.width() / len(self.bars)
        colour = QColor(*VIRIDIS[96].tolist())
        for i, count in enumerate(self.bars):
            height = plot.height() * count / tallest
            painter.fillRect(QRectF(plot.left() + i * width, plot.bottom() - height,
                                    max(1.0, width - 1), height), colour)
