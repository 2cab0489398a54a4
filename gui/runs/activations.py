"""A layer's activations for the run's logged validation sample, per epoch (book 7.2).

The ActivationLogger callback saves every layer's output for one sample after each
epoch; this view shows the selected layer's output for the epoch on the slider:
feature maps for image-like ``(H, W, C)`` tensors, a heatmap for ``(T, C)`` sequences
and a histogram for anything else (vectors).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.training import runs
from layerforge.core.training.runs import RunInfo

from .curves import new_figure_canvas, plot_style, style_figure

MAX_FEATURE_MAPS = 32
EPOCH_FILE = re.compile(r"epoch_(\d+)\.npz$")
HOW_TO_ENABLE = ("Add the ActivationLogger callback in the training settings and train again "
                 "to log every layer's activations for one validation sample per epoch.")


def activation_epochs(run_dir: Path) -> list[int]:
    """The epochs (1-based) whose activations the run saved, in order."""
    folder = run_dir / runs.ACTIVATIONS
    if not folder.is_dir():
        return []
    found = (EPOCH_FILE.match(p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def view_kind(sample: np.ndarray) -> str:
    """How one sample's activations (batch axis removed) are drawn."""
    if sample.ndim == 3:
        return "grid"
    if sample.ndim == 2:
        return "heatmap"
    return "histogram"


def drop_batch_axis(array: np.ndarray) -> np.ndarray:
    return array[0] if array.ndim >= 1 and array.shape[0] == 1 else array


class ActivationView(QWidget):
    """``set_run(run)`` and ``set_layer(name)``; the slider picks the epoch."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run: RunInfo | None = None
        self.layer: str | None = None
        self.layer_note = "Select a layer on the canvas to see its activations."
        self.epochs: list[int] = []
        self.kind = ""  # what is drawn: grid, heatmap, histogram; "" while a message shows
        self.maps_shown = 0
        self._loaded: tuple[Path, int, dict[str, Any]] | None = None
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimum(0)
        self.slider.setPageStep(1)
        self.slider.setToolTip("The epoch after which the activations were logged")
        self.slider.valueChanged.connect(lambda _v: self.redraw())
        self.epoch_label = QLabel("Epoch –")
        self.epoch_label.setMinimumWidth(90)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.canvas: Any = None
        # the feature-map grid is shaped like the canvas: laid out again once its size settles
        self.relayout_timer = QTimer(self, singleShot=True, interval=120)
        self.relayout_timer.timeout.connect(self._relayout_grid)
        top = QHBoxLayout()
        top.addWidget(self.epoch_label)
        top.addWidget(self.slider, 1)
        self.column = QVBoxLayout(self)
        self.column.setContentsMargins(2, 2, 2, 2)
        self.column.addLayout(top)
        self.column.addWidget(self.message)
        self.redraw()

    # ------------------------------------------------------------ inputs
    def set_run(self, run: RunInfo | None) -> None:
        """Show a run; the same run re-read (a refresh) keeps the epoch on the slider."""
        same = run is not None and self.run is not None and run.path == self.run.path
        kept = self.epoch() if same else None
        self.run = run
        self._loaded = None
        self.epochs = activation_epochs(run.path) if run is not None else []
        self.slider.blockSignals(True)
        self.slider.setMaximum(max(0, len(self.epochs) - 1))
        latest = self.slider.maximum()  # a new run opens on its latest epoch
        self.slider.setValue(self.epochs.index(kept) if kept in self.epochs else latest)
        self.slider.blockSignals(False)
        self.redraw()

    def set_layer(self, name: str | None, note: str = "") -> None:
        """The Keras layer name to show, or None with ``note`` saying why there is none."""
        self.layer = name
        self.layer_note = note or "Select a layer on the canvas to see its activations."
        self.redraw()

    def set_epoch(self, epoch: int) -> None:
        if epoch in self.epochs:
            self.slider.setValue(self.epochs.index(epoch))

    def epoch(self) -> int | None:
        return self.epochs[self.slider.value()] if self.epochs else None

    # ------------------------------------------------------------ drawing
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.relayout_timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.relayout_timer.start()

    def _relayout_grid(self) -> None:
        if self.kind == "grid" and self.canvas is not None and self.canvas.isVisible():
            self.redraw()

    def redraw(self) -> None:
        epoch = self.epoch()
        self.slider.setEnabled(len(self.epochs) > 1)
        total = self.epochs[-1] if self.epochs else 0
        self.epoch_label.setText(f"Epoch {epoch} of {total}" if epoch else "Epoch –")
        problem, sample = self._sample(epoch)
        if problem:
            self._show_message(problem)
            return
        self._draw(sample, epoch)

    def _sample(self, epoch: int | None) -> tuple[str, np.ndarray | None]:
        if self.run is None:
            return "Select a run to see the activations it logged.", None
        if epoch is None and self.run.status == "failed" and not self.run.epochs:
            return f"Run {self.run.name} failed before its first epoch ended.", None
        if epoch is None:
            return f"Run {self.run.name} logged no activations. {HOW_TO_ENABLE}", None
        if self.layer is None:
            return self.layer_note, None
        try:
            arrays = self._arrays(epoch)
        except LayerForgeError as exc:
            return str(exc), None
        name = self.layer if self.layer in arrays else f"{self.layer}:0"
        if name not in arrays:
            return (f"Run {self.run.name} logged no activations for layer '{self.layer}' "
                    f"(it logged {len(arrays)} layers; was the layer added or renamed after "
                    "this run?)"), None
        return "", drop_batch_axis(np.asarray(arrays[name]))

    def _arrays(self, epoch: int) -> dict[str, Any]:
        assert self.run is not None
        if self._loaded is None or self._loaded[:2] != (self.run.path, epoch):
            self._loaded = (self.run.path, epoch, runs.load_activations(self.run.path, epoch))
        return self._loaded[2]

    def _show_message(self, text: str) -> None:
        self.kind = ""
        self.maps_shown = 0
        self.message.setText(text)
        self.message.show()
        if self.canvas is not None:
            self.canvas.hide()

    def _draw(self, sample: Any, epoch: int | None) -> None:
        if self.canvas is None:
            self.canvas = new_figure_canvas(5.0, 3.5)
            self.column.addWidget(self.canvas, 1)
        self.message.hide()
        self.canvas.show()
        with plot_style():
            self._plot(sample, epoch)
        self.canvas.draw_idle()

    def _plot(self, sample: Any, epoch: int | None) -> None:
        figure = self.canvas.figure
        figure.clear()
        style_figure(figure)
        self.kind = view_kind(sample)
        title = f"{self.layer} · epoch {epoch} · shape {tuple(sample.shape)}"
        if self.kind == "grid":
            width, height = self.canvas.width(), self.canvas.height()
            self.maps_shown = _feature_maps(figure, sample, width / max(1, height))
            shown = f" (first {self.maps_shown} of {sample.shape[-1]})" \
                if self.maps_shown < sample.shape[-1] else ""
            title += f" · feature maps{shown}"
        elif self.kind == "heatmap":
            self.maps_shown = 0
            _heatmap(figure, sample)
        else:
            self.maps_shown = 0
            _histogram(figure, sample)
        figure.suptitle(title, fontsize="small")


def _feature_maps(figure: Any, sample: np.ndarray, aspect: float) -> int:
    """Up to MAX_FEATURE_MAPS channels, in a grid shaped like the canvas (``aspect`` =
    width / height) so that the maps come out as large as possible."""
    count = min(sample.shape[-1], MAX_FEATURE_MAPS)
    map_aspect = sample.shape[1] / max(1, sample.shape[0])
    columns = min(count, max(1, round(math.sqrt(count * aspect / map_aspect))))
    rows = math.ceil(count / columns)
    for channel in range(count):
        axes = figure.add_subplot(rows, columns, channel + 1)
        axes.imshow(sample[:, :, channel], cmap="viridis", interpolation="nearest")
        axes.set_title(str(channel), fontsize="x-small", pad=2)
        axes.set_axis_off()
    return count


def _heatmap(figure: Any, sample: np.ndarray) -> None:
    axes = figure.add_subplot()
    image = axes.imshow(sample.T, aspect="auto", cmap="viridis", origin="lower",
                        interpolation="nearest")
    axes.set_xlabel("step")
    axes.set_ylabel("channel")
    figure.colorbar(image, ax=axes)


def _histogram(figure: Any, sample: np.ndarray) -> None:
    values = np.ravel(sample).astype(np.float64)
    axes = figure.add_subplot()
    axes.hist(values, bins=max(5, min(40, values.size // 2)), color="#3b82f6")
    zeros = float(np.mean(values == 0)) if values.size else 0.0
    axes.set_xlabel(f"activation ({values.size} values: mean {values.mean():.3g}, "
                    f"std {values.std():.3g}, {zeros:.0%} zero)")
    axes.set_ylabel("count")
