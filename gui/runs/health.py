"""Training health on the canvas: live while a run trains, replayed per epoch for a finished run.

Each epoch the training child reports per Keras layer its weight norm, gradient norm,
update/weight ratio, share of dead units and NaN/Inf count, with flags for layers in
trouble (``core.training.health``). :class:`HealthOverlay` puts the report shown on the
canvas: the chosen statistic as the nodes' colour (View → Colour Nodes By) and a badge on
each flagged node (the message in its tooltip). The report comes from the Training dock
after each epoch, or from the Runs dock's :class:`HealthView`, whose epoch slider replays
a run's ``health.jsonl``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.document.document import MAIN, Document
from layerforge.core.training.health import HEALTH_FILE, read_health
from layerforge.core.training.runs import RunInfo

from ..canvas.colouring import NONE, CanvasColouring, NodeColouring
from ..canvas.view import CanvasView
from ..training.panel import is_on_screen

HOW_TO_GET = ("This run recorded no training health (no health.jsonl in its folder): train "
              "again with health reporting on to see per-layer weight and gradient norms, "
              "dead units and NaN/Inf per epoch.")
NO_REPORT = ("no training health shown yet: train, or pick a run's epoch in the Runs "
             "dock's Health tab")
FLAGGED_ROW = QColor(255, 140, 60, 70)


# ------------------------------------------------------------ statistics
def _number(value: float) -> str:
    return f"{value:.3g}"


def _percent(value: float) -> str:
    return f"{value * 100:.0f} %"


def _count(value: float) -> str:
    return f"{value:,.0f}"


@dataclass(frozen=True)
class Statistic:
    name: str  # the menu entry
    key: str  # the report's field
    log_scale: bool
    text: Callable[[float], str]
    value_range: tuple[float, float] | None = None
    tip: str = ""


STATISTICS = (
    Statistic("Weight norm", "weight_norm", True, _number,
              tip="L2 norm of the layer's weights after the epoch (log scale)"),
    Statistic("Gradient norm", "grad_norm", True, _number,
              tip="L2 norm of the loss's gradient with respect to the layer's weights "
                  "(log scale): tiny values mean the layer barely learns"),
    Statistic("Update/weight ratio", "update_ratio", True, _number,
              tip="How much the epoch changed the weights, relative to their norm "
                  "(log scale; around 1e-3 is healthy)"),
    Statistic("Dead units", "dead_fraction", False, _percent, (0.0, 1.0),
              tip="Share of the layer's ReLU units that output 0 on the whole sample batch"),
    Statistic("NaN/Inf count", "nonfinite", False, _count,
              tip="NaN/Inf values in the layer's output on the sample batch"),
)
COLUMNS = ("Layer", "Weight norm", "Grad norm", "Update ratio", "Dead %", "NaN/Inf")


def layer_nodes(doc: Document, graph_key: str = MAIN) -> dict[str, list[str]]:
    """Keras layer name -> the node ids that call it (a shared layer has several) in the
    shown graph; Keras names the main model's layers, so a block's inner graph has none."""
    if graph_key != MAIN:
        return {}
    graph = doc.graph_of(MAIN)
    # Keras names an input's InputLayer after it (its NaN/Inf count is the data's).
    nodes: dict[str, list[str]] = {node.name: [node.id] for node in graph.inputs()}
    for call in graph.calls():
        nodes.setdefault(graph.layer(call.layer_id).name, []).append(call.id)
    return nodes


def layer_line(stats: dict[str, Any]) -> str:
    """A layer's numbers on one line (the node's tooltip)."""
    parts = []
    for stat in STATISTICS:
        value = stats.get(stat.key)
        parts.append(f"{stat.name.lower()} {stat.text(value) if _finite(value) else '–'}")
    return ", ".join(parts)


def health_colouring(report: dict[str, Any], stat: Statistic, doc: Document,
                     graph_key: str = MAIN, source: str = "") -> NodeColouring:
    """The report's ``stat`` per node of the shown graph (a missing number: no value)."""
    epoch = int(report.get("epoch", 0)) + 1
    values: dict[str, float] = {}
    labels: dict[str, str] = {}
    nodes = layer_nodes(doc, graph_key)
    for name, stats in (report.get("layers") or {}).items():
        if not isinstance(stats, dict):
            continue
        value = stats.get(stat.key)
        for node_id in nodes.get(name, []):
            values[node_id] = float(value) if _finite(value) else math.nan
            labels[node_id] = f"Epoch {epoch}: {layer_line(stats)}"
    where = f", {source}" if source else ""
    return NodeColouring(f"{stat.name} (epoch {epoch}{where})", values, labels,
                         log_scale=stat.log_scale, value_range=stat.value_range,
                         value_text=stat.text)


def health_flags(report: dict[str, Any], doc: Document,
                 graph_key: str = MAIN) -> dict[str, list[str]]:
    """The report's flags by node id of the shown graph."""
    nodes = layer_nodes(doc, graph_key)
    flags: dict[str, list[str]] = {}
    for flag in report.get("flags") or []:
        if not isinstance(flag, dict):
            continue
        text = f"{flag.get('layer')}: {flag.get('message') or flag.get('kind')}"
        for node_id in nodes.get(str(flag.get("layer")), []):
            flags.setdefault(node_id, []).append(text)
    return flags


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


# ------------------------------------------------------------ the canvas overlay
class HealthOverlay(QObject):
    """The health report shown on the canvas (live or replayed), if any."""

    def __init__(self, view: CanvasView, colouring: CanvasColouring,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view, self.colouring = view, colouring
        self.session = view.canvas_scene.session
        self.report: dict[str, Any] | None = None
        self.source = ""
        self.flags_shown = False  # "None" in the menu hides them until the next report
        for stat in STATISTICS:
            colouring.register_colouring(stat.name, lambda s=stat: self.compute(s), stat.tip)
        colouring.chosen_changed.connect(self._on_chosen)
        # Another project's layers may bear the same names: its canvas starts plain.
        self.session.document_replaced.connect(self.clear)
        self.session.analysis_changed.connect(lambda _changed: self._show_flags())
        view.graph_key_changed.connect(lambda _key: self._show_flags())

    def compute(self, stat: Statistic) -> NodeColouring | None:
        if self.report is None:  # the legend says where the numbers come from
            return NodeColouring(f"{stat.name}: {NO_REPORT}", {})
        return health_colouring(self.report, stat, self.session.doc, self.view.graph_key,
                                self.source)

    def show_report(self, report: dict[str, Any] | None, source: str = "") -> None:
        """Show ``report`` (None: none): the chosen statistic's colours and the flags."""
        self.report, self.source = report, source
        self.flags_shown = report is not None
        self._show_flags()
        if self.colouring.chosen in {s.name for s in STATISTICS}:
            self.colouring.refresh()

    def show_live(self, report: dict[str, Any]) -> None:
        self.show_report(report, "training")

    def clear(self) -> None:
        if shiboken6.isValid(self):
            self.show_report(None)

    def _show_flags(self) -> None:
        if not (shiboken6.isValid(self) and shiboken6.isValid(self.view)):
            return  # the window closed before its session
        scene = self.view.canvas_scene
        if self.report is None or not self.flags_shown:
            scene.set_node_flags({})
            return
        scene.set_node_flags(health_flags(self.report, self.session.doc, self.view.graph_key))

    def _on_chosen(self, name: str) -> None:
        """"None" hides the flags too (until the next report); a statistic shows them."""
        self.flags_shown = name != NONE and self.report is not None
        self._show_flags()


# ------------------------------------------------------------ the Runs dock's view
class HealthView(QWidget):
    """A run's health per epoch: a slider over its epochs and the epoch's per-layer table.

    ``report_chosen(report, source)``: the epoch the user looks at (the canvas shows it);
    sent when the slider moves and when the view comes on screen.
    """

    report_chosen = Signal(object, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run: RunInfo | None = None
        self.reports: list[dict[str, Any]] = []
        self._mtime: float | None = None
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimum(0)
        self.slider.setPageStep(1)
        self.slider.setToolTip("The epoch whose health the table and the canvas show")
        self.slider.valueChanged.connect(self._on_slider)
        self.epoch_label = QLabel("Epoch –")
        self.epoch_label.setMinimumWidth(90)
        self.message = QLabel("Select a run to see its training health.")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        row = QHBoxLayout()
        row.addWidget(self.epoch_label)
        row.addWidget(self.slider, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        self._show_none(self.message.text())

    # -------------------------------------------------------- the run
    def set_run(self, run: RunInfo | None) -> None:
        """Show ``run``'s health; the same run again re-reads a grown file and follows
        its last epoch if the slider was there."""
        same = run is not None and self.run is not None and run.path == self.run.path
        mtime = _mtime(run.path / HEALTH_FILE) if run is not None else None
        if same and mtime == self._mtime:
            self.run = run
            return
        at_end = not self.reports or self.slider.value() >= len(self.reports) - 1
        self.run, self._mtime = run, mtime
        self.reports = read_health(run.path) if run is not None else []
        if run is None:
            self._show_none("Select a run to see its training health.")
            return
        if not self.reports:
            self._show_none(HOW_TO_GET)
            return
        self.message.hide()
        self.slider.setEnabled(True)
        last = len(self.reports) - 1
        self.slider.blockSignals(True)
        self.slider.setMaximum(last)
        self.slider.setValue(last if (at_end or not same) else min(self.slider.value(), last))
        self.slider.blockSignals(False)
        self._show_epoch(announce=is_on_screen(self))

    def _show_none(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()
        self.table.setRowCount(0)
        self.slider.setEnabled(False)
        self.epoch_label.setText("Epoch –")

    def current_report(self) -> dict[str, Any] | None:
        if not self.reports:
            return None
        return self.reports[min(self.slider.value(), len(self.reports) - 1)]

    # -------------------------------------------------------- showing an epoch
    def _on_slider(self, _value: int) -> None:
        self._show_epoch(announce=True)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.reports:
            self.report_chosen.emit(self.current_report(), self.source())

    def source(self) -> str:
        return f"run {self.run.name}" if self.run is not None else ""

    def _show_epoch(self, announce: bool) -> None:
        report = self.current_report()
        if report is None:
            return
        self.epoch_label.setText(f"Epoch {int(report.get('epoch', 0)) + 1} "
                                 f"of {len(self.reports)}")
        self._fill_table(report)
        if announce:
            self.report_chosen.emit(report, self.source())

    def _fill_table(self, report: dict[str, Any]) -> None:
        flags: dict[str, list[str]] = {}
        for flag in report.get("flags") or []:
            if isinstance(flag, dict):
                flags.setdefault(str(flag.get("layer")), []).append(str(flag.get("message")))
        layers = [(n, s) for n, s in (report.get("layers") or {}).items() if isinstance(s, dict)]
        self.table.setRowCount(len(layers))
        for row, (name, stats) in enumerate(layers):
            cells = [("⚠ " if name in flags else "") + name]
            for stat in STATISTICS:
                value = stats.get(stat.key)
                cells.append(stat.text(value) if _finite(value) else "–")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if name in flags:
                    item.setBackground(QBrush(FLAGGED_ROW))
                    item.setToolTip("\n".join(flags[name]))
                self.table.setItem(row, column, item)

    def flagged_rows(self) -> list[str]:
        """The layer names of the highlighted (flagged) rows, in table order."""
        rows = []
        for row in range(self.table.rowCount()):
            item = self.table.item(row, 0)
            if item is not None and item.text().startswith("⚠ "):
                rows.append(item.text()[2:])
        return rows


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime_ns / 1e9
    except OSError:
        return None
