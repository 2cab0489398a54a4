"""Diagnostics list: click selects and centers the node; Fix applies the suggested edit."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QWidget,
)

from layerforge.core.analysis.check import KERAS_CODE
from layerforge.core.schema.diagnostics import Diagnostic
from layerforge.core.schema.errors import LayerForgeError

from ..session import EditorSession
from ..theme import ERROR_COLOR, WARNING_COLOR
from .frame import lay_out

DIAGNOSTIC_ROLE = Qt.ItemDataRole.UserRole


class DiagnosticsPanel(QWidget):
    """``activated(diagnostic)`` on click; ``fix_requested(diagnostic)`` from the Fix button."""

    activated = Signal(object)
    fix_requested = Signal(object)

    def __init__(self, session: EditorSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setMinimumHeight(36)
        self.header = QLabel()
        self.fix_button = QPushButton("Fix")
        self.fix_button.setToolTip("Apply the suggested fix of the selected diagnostic")
        self.fix_button.setEnabled(False)
        lay_out(self, self.header, self.fix_button, self.list)
        self.list.itemClicked.connect(self._on_clicked)
        self.list.itemActivated.connect(self._on_clicked)
        self.list.currentItemChanged.connect(lambda item, _p: self._update_fix(item))
        self.fix_button.clicked.connect(self._on_fix)
        session.diagnostics_changed.connect(self.show_diagnostics)
        self.show_diagnostics(session.diagnostics)

    def sizeHint(self) -> QSize:
        return QSize(600, 100)  # a strip under the canvas, like an IDE's problems panel

    def show_diagnostics(self, diagnostics: list[Diagnostic]) -> None:
        self.list.clear()
        for d in diagnostics:
            item = QListWidgetItem(self._describe(d))
            item.setData(DIAGNOSTIC_ROLE, d)
            item.setForeground(QColor(ERROR_COLOR if d.severity == "error" else WARNING_COLOR))
            if d.fix is not None:
                item.setToolTip(f"Suggested fix: {d.fix.description}")
            self.list.addItem(item)
        errors = sum(d.severity == "error" for d in diagnostics)
        warnings = len(diagnostics) - errors
        self.header.setText("No problems" if not diagnostics
                            else f"{errors} error(s), {warnings} warning(s)")
        self._update_fix(self.list.currentItem())

    def diagnostics(self) -> list[Diagnostic]:
        return [self.list.item(i).data(DIAGNOSTIC_ROLE) for i in range(self.list.count())]

    def _describe(self, d: Diagnostic) -> str:
        where = d.target
        try:
            graph = self.session.doc.graph_of(d.graph_key)
            if d.target in graph.nodes:
                where = graph.describe(d.target)
            if d.graph_key in self.session.doc.blocks:
                where = f"{self.session.doc.blocks[d.graph_key].name} / {where}"
        except LayerForgeError:
            pass  # the block is gone; the raw id is still a useful pointer
        fix = "  [fix available]" if d.fix is not None else ""
        source = "  [found by the Keras check]" if d.code == KERAS_CODE else ""
        return f"{d.severity}: {where}: {d.message}{fix}{source}"

    def _update_fix(self, item: QListWidgetItem | None) -> None:
        d = item.data(DIAGNOSTIC_ROLE) if item is not None else None
        self.fix_button.setEnabled(d is not None and d.fix is not None)
        self.fix_button.setToolTip(d.fix.description if d is not None and d.fix else
                                   "Select a diagnostic that has a suggested fix")

    def _on_clicked(self, item: QListWidgetItem) -> None:
        self.activated.emit(item.data(DIAGNOSTIC_ROLE))

    def _on_fix(self) -> None:
        item = self.list.currentItem()
        if item is not None and item.data(DIAGNOSTIC_ROLE).fix is not None:
            self.fix_requested.emit(item.data(DIAGNOSTIC_ROLE))
