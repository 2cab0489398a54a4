"""The Preview dock: the selected node's output on a sample batch, with its statistics.

The previews come from the warm worker process (``core.training.preview_worker``, reached
through the window's ``gui.panels.warm_worker.WarmWorker``, attached with
:meth:`PreviewDock.attach_worker`): no Keras work runs in the UI process. The worker keeps
one Previewer per document, so re-selecting a node is a lookup and an edit recomputes only
what lies downstream of it. After a preview the dock asks for every node's sparkline and
passes them on (``sparklines_changed``). matplotlib is imported when the first view is
drawn, so the window starts without it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QSlider, QVBoxLayout, QWidget

from layerforge.core.document.document import MAIN
from layerforge.core.schema.records import InputNode
from layerforge.core.training.preview import NodePreview, TensorStats
from layerforge.core.training.preview_worker import PREVIEW, SPARKLINES, PreviewResult

from .session import EditorSession

# Feature maps shown at once, from the channel slider's start.
MAX_MAPS = 16
ERROR_COLOUR = "#d32f2f"
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
        self._spark_generation: int | None = None
        self._in_front = False
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
        self.figure: Any = None
        self._canvas: Any = None
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

    # ------------------------------------------------------------ requests
    def _on_selection(self, ids: list[str]) -> None:
        self.node_id = ids[0] if len(ids) == 1 and self.view.graph_key == MAIN else None
        self._request()

    def _on_edit(self) -> None:
        if self.node_id is not None and self.node_id not in self.session.doc.graph.nodes:
            self.node_id = None
        self._request()

    def _on_document_replaced(self) -> None:
        self.node_id = None
        self._spark_generation = None
        self.sparklines_changed.emit({})
        self._request()

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
        self._request_id = self.worker.submit(PREVIEW, self.session.doc,
                                              {"node_id": self.node_id})

    def on_dock_visibility(self, visible: bool) -> None:
        """The dock came to the front (or went behind a tab or closed)."""
        self._in_front = visible
        if visible and self.node_id is not None and self.preview is None:
            self._request()

    def _on_replied(self, kind: str, request_id: int, result: Any) -> None:
        if kind == PREVIEW and request_id == self._request_id:
            self._request_id = None
            self._on_result(result)
        elif kind == SPARKLINES and request_id == self._spark_id:
            self._spark_id = None
            if isinstance(result, dict):
                self.sparklines_changed.emit(result)

    def _ask_sparklines(self) -> None:
        if self._spark_generation == self.session.generation or self.worker is None:
            return
        self._spark_generation = self.session.generation
        self._spark_id = self.worker.submit(SPARKLINES, self.session.doc)

    def shutdown(self) -> None:
        """Nothing of the dock's own to stop: the window's worker is shut down with it."""
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
        if self._canvas is not None:
            self._canvas.hide()

    def _draw(self) -> None:
        if self.preview is None or self.preview.stats[0] is None:
            return
        self._ensure_canvas()
        self.figure.clear()
        array = np.asarray(self.preview.tensors[0], dtype=np.float64)
        stats = self.preview.stats[0]
        if self.shows_images():
            self._images(array)
        elif array.ndim == 4:
            self._feature_maps(array[0], self.channel.value())
        elif array.ndim == 3:
            self._heatmap(array[0], "sequence × features (sample 0)", "feature", "step")
        elif array.ndim == 2:
            self._heatmap(array, "batch × features", "feature", "sample")
        self._histogram(stats)
        self._canvas.show()
        self._canvas.draw_idle()

    def _feature_maps(self, maps: np.ndarray, start: int) -> None:
        shown = range(start, min(maps.shape[-1], start + MAX_MAPS))
        cols = math.ceil(math.sqrt(len(shown)))
        rows = math.ceil(len(shown) / cols)
        grid = self.figure.add_gridspec(rows + 2, cols)  # the last rows: the histogram
        for i, channel in enumerate(shown):
            ax = self.figure.add_subplot(grid[i // cols, i % cols])
            ax.imshow(maps[..., channel], cmap="viridis")
            ax.set_title(str(channel), fontsize=7)
            ax.set_axis_off()

    def _images(self, batch: np.ndarray) -> None:
        cols = math.ceil(math.sqrt(len(batch)))
        rows = math.ceil(len(batch) / cols)
        grid = self.figure.add_gridspec(rows + 2, cols)  # the last rows: the histogram
        for i, image in enumerate(batch):
            low, high = np.nanmin(image), np.nanmax(image)
            scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
            ax = self.figure.add_subplot(grid[i // cols, i % cols])
            ax.imshow(scaled[..., 0] if image.shape[-1] == 1 else scaled,
                      cmap="gray" if image.shape[-1] == 1 else None)
            ax.set_title(f"sample {i}", fontsize=7)
            ax.set_axis_off()

    def _heatmap(self, values: np.ndarray, title: str, x: str, y: str) -> None:
        ax = self.figure.add_subplot(2, 1, 1)
        ax.imshow(values, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(x, fontsize=7)
        ax.set_ylabel(y, fontsize=7)

    def _histogram(self, stats: TensorStats) -> None:
        ax = self.figure.add_subplot(self.figure.add_gridspec(4, 1)[3, 0])
        counts = stats.histogram
        if math.isfinite(stats.min) and math.isfinite(stats.max):
            edges = np.linspace(stats.min, stats.max, len(counts) + 1)
            ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge")
        ax.set_title("histogram", fontsize=7)
        ax.tick_params(labelsize=6)

    def _ensure_canvas(self) -> None:
        if self._canvas is not None:
            return
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg  # lazy: starts fast
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4, 5), dpi=80)
        self._canvas = FigureCanvasQTAgg(self.figure)
        self._canvas.setMinimumHeight(240)
        self._layout.insertWidget(4, self._canvas, 1)

    def image_axes(self) -> int:
        """How many feature maps (or heatmaps) the view draws now."""
        return 0 if self.figure is None else sum(1 for ax in self.figure.axes if ax.images)
