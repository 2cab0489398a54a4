"""Model summary: each layer's class, output shapes, parameters and FLOPs per sample, the
totals, the memory of the weights, and a latency measured on demand in the warm worker."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.analysis.cost import (
    CONVENTION,
    Cost,
    format_bytes,
    node_costs,
    weights_bytes,
)
from layerforge.core.analysis.summary import param_split
from layerforge.core.document.document import MAIN
from layerforge.core.schema.records import CallNode, format_shape
from layerforge.core.training.latency import latency_text

from ..session import EditorSession

COLUMNS = ("Layer (type)", "Output shape", "Params", "FLOPs")
LATENCY = "latency"  # the warm worker's request kind
LATENCY_PAYLOAD = {"batch_size": 32, "repeats": 10}
STALE = "Before the last edit: "
OUTSIDE = "–"  # the FLOPs of a layer that does not reach an output


class SummaryPanel(QWidget):
    """Like ``model.summary()``, refreshed after each analysis of the shown graph."""

    def __init__(self, session: EditorSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.graph_key = MAIN
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.total = QLabel()
        # As model.summary() splits them: a frozen layer's weights are non-trainable.
        self.split = QLabel()
        self.flops = QLabel()
        self.flops.setWordWrap(True)  # the layers it could not count are named after it
        self.flops.setToolTip(f"Counted from the shapes, per sample: {CONVENTION}")
        self.memory = QLabel()
        self.memory.setToolTip("Parameters × bytes of their dtype (float32: 4; a mixed "
                               "precision policy keeps float32 weights)")
        self.measure = QPushButton("Measure latency")
        self.measure.setToolTip("Time one batch of 32 synthetic samples through the model "
                                "with its current weights, on this machine")
        self.measure.clicked.connect(self.measure_latency)
        self.latency = QLabel()
        self.latency.setWordWrap(True)
        self.latency.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.worker: Any = None
        self._request: int | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree)
        layout.addWidget(self.total)
        layout.addWidget(self.split)
        layout.addWidget(self.flops)
        layout.addWidget(self.memory)
        row = QHBoxLayout()
        row.addWidget(self.measure)
        row.addWidget(self.latency, 1)
        layout.addLayout(row)
        self.set_worker(None)
        session.analysis_changed.connect(self._on_analysis)
        session.document_replaced.connect(self.tree.clear)
        session.document_replaced.connect(self._forget_latency)
        session.undo_stack.indexChanged.connect(self._latency_outdated)

    def _on_analysis(self, _changed: object) -> None:
        self.refresh()

    def set_graph_key(self, key: str) -> None:
        self.graph_key = key
        self.session.schedule_analysis()  # its analysis_changed refreshes this panel

    def rows(self, costs: dict[str, Cost] | None = None) -> list[tuple[str, str, str, str]]:
        """The table's rows; ``costs``: the shown graph's node costs, if counted already."""
        doc = self.session.doc
        graph = doc.graph_of(self._shown_key())
        ready = self.session.keras_ready
        engine = self.session.engine(self.graph_key) if ready else None
        if costs is None:
            costs = node_costs(engine) if engine is not None else {}
        rows: list[tuple[str, str, str, str]] = []
        seen: set[str] = set()
        for node_id in graph.topological_order():
            node = graph.nodes[node_id]
            if isinstance(node, CallNode) and node.layer_id in seen:
                continue
            shapes = ""
            if engine is not None and node_id in engine.results:
                shapes = ", ".join(format_shape(s) for s in engine.results[node_id].outputs or ())
            if isinstance(node, CallNode):
                seen.add(node.layer_id)
                layer = graph.layer(node.layer_id)
                # Read, never build: the session builds large models a slice at a time.
                params = engine.layer_params(layer.id, build=False) if engine else None
                kind = "Block" if layer.block_id else layer.class_name
                flops = _flops_cell(costs, [c.id for c in graph.calls_of(layer.id)])
                rows.append((f"{layer.name} ({kind})", shapes, _count(params), flops))
            elif node.kind == "input":
                rows.append((f"{node.name} (Input)", shapes, "0", "0"))
        return rows

    def _fit_columns(self) -> None:
        """Shapes and counts at their full width; the names get what is left, elided, so
        the FLOPs column stays in view in a narrow dock."""
        for column in range(1, len(COLUMNS)):
            self.tree.resizeColumnToContents(column)

    def _shown_key(self) -> str:
        """The shown graph's key: the main graph once the shown block is gone."""
        if self.graph_key not in self.session.doc.blocks and self.graph_key != MAIN:
            self.graph_key = MAIN
        return self.graph_key

    def refresh(self) -> None:
        self.tree.clear()
        # One count per analysis serves the rows and the total (12 ms on DenseNet121).
        costs = node_costs(self.session.engine(self._shown_key())) \
            if self.session.keras_ready else {}
        for row in self.rows(costs):
            item = QTreeWidgetItem(self.tree, list(row))
            for column in (2, 3):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight
                                      | Qt.AlignmentFlag.AlignVCenter)
            if row[3] == OUTSIDE:
                item.setToolTip(3, "Not connected to an output: the model does not run it")
        self._fit_columns()
        self.total.setText(self._total_text())
        self.split.setText(self._split_text())
        self.flops.setText(self._flops_text(costs))
        self.memory.setText(self._memory_text())

    def _total_text(self) -> str:
        if not self.session.keras_ready:
            return "Total params: waiting for Keras to load…"
        engine = self.session.engine(self.graph_key)
        if engine.verifying:
            return "Total params: counting…"
        return f"Total params: {_count(engine.total_params(build=False))}"

    def _split_text(self) -> str:
        if not self.session.keras_ready or self.session.engine(self.graph_key).verifying:
            return ""
        trainable, frozen = param_split(self.session.engine(self.graph_key), build=False)
        return f"Trainable params: {_count(trainable)}\nNon-trainable params: {_count(frozen)}"


    def _flops_text(self, costs: dict[str, Cost]) -> str:
        if not self.session.keras_ready:
            return ""
        total = Cost()
        for cost in costs.values():
            total = total + cost
        unknown = sorted(set(total.unknown))
        names = f"; not counted: {', '.join(unknown)}" if unknown else ""
        return f"FLOPs per sample: {total.text()}{names}"

    def _memory_text(self) -> str:
        if not self.session.keras_ready:
            return ""
        engine = self.session.engine(self.graph_key)
        if engine.verifying:
            return "Weights memory: counting…"
        memory = weights_bytes(engine, build=False)
        return "Weights memory: " + ("?" if memory is None else
                                     f"{format_bytes(memory)} ({memory:,} bytes)")

    # ------------------------------------------------------------ latency
    def set_worker(self, worker: Any) -> None:
        """The warm worker (``gui.panels.warm_worker.WarmWorker``) that measures latency:
        ``submit(kind, doc, payload)`` and ``replied(kind, request_id, result)``."""
        if self.worker is not None:
            self.worker.replied.disconnect(self._on_replied)
        self.worker = worker
        self.measure.setEnabled(worker is not None)
        if worker is not None:
            worker.replied.connect(self._on_replied)
        self._forget_latency()

    def measure_latency(self) -> None:
        if self.worker is None:
            return
        self._request = self.worker.submit(LATENCY, self.session.doc, dict(LATENCY_PAYLOAD))
        self.measure.setEnabled(False)
        self.latency.setText("Measuring latency…")

    def _on_replied(self, kind: str, request_id: int, result: object) -> None:
        if kind != LATENCY or request_id != self._request:
            return
        self._request = None
        self.measure.setEnabled(self.worker is not None)
        if isinstance(result, dict) and "median_ms" in result:
            self.latency.setText(latency_text(result))
        else:
            self.latency.setText(f"Latency not measured: {getattr(result, 'message', result)}")

    def _latency_outdated(self, _index: int = 0) -> None:
        """An edit (or undo) after a measurement: say the shown one is of an earlier model."""
        text = self.latency.text()
        if self._request is None and text and not text.startswith(STALE) \
                and not text.startswith("Latency"):
            self.latency.setText(f"{STALE}{text}")

    def _forget_latency(self) -> None:
        """A measurement belongs to the model it ran: another document clears it."""
        self._request = None
        self.measure.setEnabled(self.worker is not None)
        self.latency.setText("" if self.worker is not None else
                             "Latency: needs the warm worker (not started)")


def _flops_cell(costs: dict[str, Cost], call_ids: list[str]) -> str:
    if not any(call_id in costs for call_id in call_ids):
        return OUTSIDE  # not 0: the model never runs a layer that reaches no output
    cost = Cost()
    for call_id in call_ids:
        cost = cost + costs.get(call_id, Cost())
    if cost.known:
        return f"{cost.flops:,}"
    return f"≥ {cost.flops:,}" if cost.flops else "?"


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"

