"""Training curves of several runs overlaid: one line per run for the chosen metric.

Matplotlib is imported when the first curve is drawn, so opening the window does not
pay for it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from layerforge.core.training.runs import RunInfo

NOT_METRICS = {"epoch"}


def metric_names(runs: list[RunInfo]) -> list[str]:
    """Every logged quantity of the runs, each training metric followed by its val_ twin."""
    keys: list[str] = []
    for run in runs:
        keys += [k for k in run.history if k not in NOT_METRICS and k not in keys]
    train = [k for k in keys if not k.startswith("val_")]
    ordered: list[str] = []
    for key in train:
        ordered.append(key)
        if f"val_{key}" in keys:
            ordered.append(f"val_{key}")
    return ordered + [k for k in keys if k not in ordered]


def default_metric(names: list[str]) -> str | None:
    for preferred in ("val_loss", "loss"):
        if preferred in names:
            return preferred
    return names[0] if names else None


def new_figure_canvas(width: float = 5.0, height: float = 3.0) -> Any:
    """A matplotlib canvas widget with one figure (no pyplot: no global figure state)."""
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return FigureCanvasQTAgg(figure)


def plot_style() -> Any:
    """Matplotlib's dark style while the app is dark (artists take colours when created)."""
    import contextlib

    import matplotlib.style

    from ..theme import is_dark

    if not is_dark():
        return contextlib.nullcontext()
    return matplotlib.style.context("dark_background")


def style_figure(figure: Any) -> None:
    """The figure's background follows the app's colour scheme."""
    from ..theme import is_dark

    figure.set_facecolor("#1f2329" if is_dark() else "white")


class CurvesView(QWidget):
    """``set_runs(runs)``; the metric box lists what the runs logged."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs: list[RunInfo] = []
        self.metric_box = QComboBox()
        self.metric_box.setToolTip("The logged quantity to compare (val_ = validation data)")
        self.metric_box.currentTextChanged.connect(lambda _t: self.redraw())
        self.placeholder = QLabel("Select one or more runs to compare their curves.")
        self.placeholder.setWordWrap(True)
        self.canvas: Any = None
        self.axes: Any = None
        top = QHBoxLayout()
        top.addWidget(QLabel("Metric:"))
        top.addWidget(self.metric_box, 1)
        self.column = QVBoxLayout(self)
        self.column.setContentsMargins(2, 2, 2, 2)
        self.column.addLayout(top)
        self.column.addWidget(self.placeholder, 1)

    def metric(self) -> str:
        return self.metric_box.currentText()

    def set_metric(self, name: str) -> None:
        self.metric_box.setCurrentText(name)

    def set_runs(self, runs: list[RunInfo]) -> None:
        self.runs = list(runs)
        names = metric_names(self.runs)
        previous = self.metric()
        self.metric_box.blockSignals(True)
        self.metric_box.clear()
        self.metric_box.addItems(names)
        chosen = previous if previous in names else default_metric(names)
        if chosen:
            self.metric_box.setCurrentText(chosen)
        self.metric_box.blockSignals(False)
        self.redraw()

    def _ensure_canvas(self) -> None:
        if self.canvas is not None:
            return
        self.canvas = new_figure_canvas()
        self.column.addWidget(self.canvas, 1)

    def plotted_runs(self) -> list[str]:
        """Names of the runs drawn for the current metric (the legend's entries)."""
        if self.axes is None or self.canvas.isHidden():
            return []
        return [line.get_label() for line in self.axes.get_lines()]

    def redraw(self) -> None:
        metric = self.metric()
        with_data = [r for r in self.runs if r.history.get(metric)]
        if not with_data:
            self.placeholder.setText(self._empty_text(metric))
            self.placeholder.show()
            if self.canvas is not None:
                self.canvas.hide()
            return
        self._ensure_canvas()
        self.placeholder.hide()
        self.canvas.show()
        with plot_style():
            self._plot(metric, with_data)
        self.canvas.draw_idle()

    def _plot(self, metric: str, with_data: list[RunInfo]) -> None:
        from matplotlib.ticker import MaxNLocator

        figure = self.canvas.figure
        figure.clear()
        style_figure(figure)
        self.axes = axes = figure.add_subplot()
        for run in with_data:
            values = run.history[metric]
            epochs = run.history.get("epoch") or list(range(1, len(values) + 1))
            axes.plot(epochs[:len(values)], values, marker="o", markersize=3, label=run.name)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("epoch")
        axes.set_ylabel(metric)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize="small")

    def _empty_text(self, metric: str) -> str:
        if not self.runs:
            return "Select one or more runs to compare their curves."
        if not metric:
            return "The selected runs logged no epoch yet."
        return f"The selected runs logged no '{metric}' values."
