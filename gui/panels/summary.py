"""Model summary: each layer's class, output shapes and parameters, and the total."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from layerforge.core.analysis.summary import param_split
from layerforge.core.document.document import MAIN
from layerforge.core.schema.records import CallNode, format_shape

from ..session import EditorSession

COLUMNS = ("Layer (type)", "Output shape", "Params")
# Long layer names and class names are elided so shapes and counts stay in view.
MAX_NAME_WIDTH = 190


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
        self.total = QLabel()
        # As model.summary() splits them: a frozen layer's weights are non-trainable.
        self.split = QLabel()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree)
        layout.addWidget(self.total)
        layout.addWidget(self.split)
        session.analysis_changed.connect(self._on_analysis)
        session.document_replaced.connect(self.tree.clear)

    def _on_analysis(self, _changed: object) -> None:
        self.refresh()

    def set_graph_key(self, key: str) -> None:
        self.graph_key = key
        self.session.schedule_analysis()  # its analysis_changed refreshes this panel

    def rows(self) -> list[tuple[str, str, str]]:
        doc = self.session.doc
        if self.graph_key not in doc.blocks and self.graph_key != MAIN:
            self.graph_key = MAIN
        graph = doc.graph_of(self.graph_key)
        ready = self.session.keras_ready
        engine = self.session.engine(self.graph_key) if ready else None
        rows, seen = [], set()
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
                rows.append((f"{layer.name} ({kind})", shapes, _count(params)))
            elif node.kind == "input":
                rows.append((f"{node.name} (Input)", shapes, "0"))
        return rows

    def _fit_columns(self) -> None:
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)
            if column == 0:
                self.tree.setColumnWidth(column, min(self.tree.columnWidth(column),
                                                     MAX_NAME_WIDTH))

    def refresh(self) -> None:
        self.tree.clear()
        for row in self.rows():
            item = QTreeWidgetItem(self.tree, list(row))
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._fit_columns()
        self.total.setText(self._total_text())
        self.split.setText(self._split_text())

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


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"

