"""The Preview dock: the selected node's output on a sample batch, with its statistics.

The previews come from one :class:`Previewer` per document, used only on one worker thread
(Keras runs there, never on the UI thread); an edit marks it stale and the next preview
updates it, which recomputes only what lies downstream of the edit. matplotlib is imported
when the first view is drawn, so the window starts without it.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QSlider, QVBoxLayout, QWidget

from layerforge.core.document.document import MAIN, Document
from layerforge.core.training.preview import NodePreview, Previewer, TensorStats

from .session import EditorSession

# Feature maps shown at once, from the channel slider's start.
MAX_MAPS = 16
ERROR_COLOUR = "#d32f2f"


@dataclass(frozen=True)
class _Result:
    node_id: str
    preview: NodePreview | None
    error: str = ""


class _Relay(QObject):
    """Carries a worker thread's result to the UI thread (a queued signal)."""

    done = Signal(object)


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

    def __init__(self, session: EditorSession, view: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.view = session, view
        self.node_id: str | None = None
        self.preview: NodePreview | None = None
        self._previewer: Previewer | None = None
        self._stale = False
        self._in_front = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="layerforge-preview")
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_result)
        self.message = QLabel("Select a node to preview its output on a sample batch.")
        self.message.setWordWrap(True)
        self.stats = QLabel()
        self.stats.setTextFormat(Qt.TextFormat.RichText)
        self.channel = QSlider(Qt.Orientation.Horizontal)
        self.channel.setToolTip("First channel of the feature maps shown")
        self.channel.valueChanged.connect(lambda _v: self._draw())
        self.channel.hide()
        self._layout = QVBoxLayout(self)
        for widget in (self.message, self.stats, self.channel):
            self._layout.addWidget(widget)
        self._layout.addStretch(1)
        self.figure: Any = None
        self._canvas: Any = None
        view.selection_changed.connect(self._on_selection)
        session.analysis_changed.connect(lambda _changed: self._on_edit())
        session.document_replaced.connect(self._on_document_replaced)
        session.keras_ready_changed.connect(lambda _ready: self._request())
        session.trust_changed.connect(lambda _trusted: self._request())

    # ------------------------------------------------------------ requests
    def _on_selection(self, ids: list[str]) -> None:
        self.node_id = ids[0] if len(ids) == 1 and self.view.graph_key == MAIN else None
        self._request()

    def _on_edit(self) -> None:
        self._stale = True
        if self.node_id is not None and self.node_id not in self.session.doc.graph.nodes:
            self.node_id = None
        self._request()

    def _on_document_replaced(self) -> None:
        self.node_id = None
        self._executor.submit(self._forget)
        self._request()

    def _forget(self) -> None:
        self._previewer = None

    def _request(self) -> None:
        self.preview = None
        if self.node_id is None:
            return self._show_message("Select a node to preview its output on a sample batch.")
        if not self.session.code_trusted:
            return self._show_message("The project's code is not trusted yet: trust it to "
                                      "preview its nodes (nothing of it runs until then).")
        if not self._in_front:  # behind another tab: nothing runs until it comes forward
            return self._show_message("computing…")
        if not self.session.keras_ready:
            return self._show_message("computing… (waiting for Keras to load)")
        self._show_message("computing…")
        doc, node_id, stale = self.session.doc, self.node_id, self._stale
        self._stale = False
        self._executor.submit(self._work, doc, node_id, stale)

    def on_dock_visibility(self, visible: bool) -> None:
        """The dock came to the front (or went behind a tab or closed)."""
        self._in_front = visible
        if visible and self.node_id is not None and self.preview is None:
            self._request()

    def _work(self, doc: Document, node_id: str, stale: bool) -> None:
        """On the worker thread: keep one Previewer for the document, updated after edits."""
        try:
            if self._previewer is None or self._previewer.doc is not doc:
                self._previewer = Previewer(doc)
            elif stale:
                self._previewer.update(doc)
            result = _Result(node_id, self._previewer.preview(node_id))
        except Exception as exc:  # any build failure becomes a message, not a traceback
            self._previewer = None  # rebuilt from the document on the next request
            result = _Result(node_id, None, _first_line(exc))
        self._relay.done.emit(result)

    @property
    def previewer(self) -> Previewer | None:
        return self._previewer

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ showing
    def _on_result(self, result: _Result) -> None:
        if result.node_id != self.node_id:
            return  # the user has selected another node since
        if result.preview is None:
            return self._show_message("The model cannot be built for a preview: "
                                      f"{result.error}")
        self.preview = result.preview
        stats = result.preview.stats[0] if result.preview.stats else None
        if stats is None:
            return self._show_message("This node's output is a tensor of strings: there are "
                                      "no numbers to show.")
        self.message.setText(f"Output {tuple(result.preview.tensors[0].shape)} on "
                             f"{result.preview.tensors[0].shape[0]} samples")
        self.stats.setText(stats_text(stats))
        self.stats.show()
        array = result.preview.tensors[0]
        self.channel.setVisible(array.ndim == 4)
        if array.ndim == 4:
            self.channel.blockSignals(True)
            self.channel.setRange(0, max(0, array.shape[-1] - 1))
            self.channel.setValue(min(self.channel.value(), array.shape[-1] - 1))
            self.channel.blockSignals(False)
        self._draw()

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.stats.clear()
        self.stats.hide()
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
        if array.ndim == 4:
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
        self._layout.insertWidget(3, self._canvas, 1)

    def image_axes(self) -> int:
        """How many feature maps (or heatmaps) the view draws now."""
        return 0 if self.figure is None else sum(1 for ax in self.figure.axes if ax.images)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
