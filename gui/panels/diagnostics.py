"""Diagnostics list: click selects and centers the node; Fix applies the suggested edit.

Below the errors and warnings come the hints (the chapter's advice, info level): Fix applies
a hint's own edit, "Silence hint" hides its kind for the project (undoable, saved with it),
and "Show silenced hints" brings every silenced kind back."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.analysis.advice import HINT_KINDS
from layerforge.core.analysis.check import KERAS_CODE
from layerforge.core.editing.advice_fixes import fix_command, silence, unsilence_all
from layerforge.core.schema.diagnostics import INSERT, Diagnostic, is_hint
from layerforge.core.schema.errors import LayerForgeError

from ..session import EditorSession
from ..theme import ERROR_COLOR, WARNING_COLOR
from .hints import SessionHints

INFO_COLOR = "#3a7bd5"  # hints: advice, neither an error nor a warning

DIAGNOSTIC_ROLE = Qt.ItemDataRole.UserRole


class DiagnosticsPanel(QWidget):
    """``activated(diagnostic)`` on click; ``fix_requested(diagnostic)`` from the Fix button."""

    activated = Signal(object)
    fix_requested = Signal(object)

    def __init__(self, session: EditorSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.list = self._new_list()  # errors and warnings
        self.hint_list = self._new_list()  # the chapter's advice, below the problems
        self.hint_list.setVisible(False)
        self._active = self.list  # the list whose selected row Fix and Silence act on
        self.header = QLabel()
        self.fix_button = QPushButton("Fix")
        self.fix_button.setToolTip("Apply the suggested fix of the selected diagnostic")
        self.fix_button.setEnabled(False)
        self.silence_button = QPushButton("Silence hint")
        self.silence_button.setToolTip("Hide this kind of hint in this project")
        self.silence_button.setEnabled(False)
        self.hints_label = QLabel()  # beside the header, which counts only real problems
        self.show_silenced_button = QPushButton("Show silenced hints")
        self.show_silenced_button.setVisible(False)
        self._lay_out()
        self.hints = SessionHints(session, self)
        self.hints.changed.connect(self.show_hints)
        self.silence_button.clicked.connect(self._on_silence)
        self.show_silenced_button.clicked.connect(
            lambda: self.session.push(unsilence_all(self.session.doc)))
        self.fix_button.clicked.connect(self._on_fix)
        session.diagnostics_changed.connect(self.show_diagnostics)
        self.show_diagnostics(session.diagnostics)

    def _new_list(self) -> QListWidget:
        widget = QListWidget()
        widget.setWordWrap(True)
        widget.setAlternatingRowColors(True)
        widget.setMinimumHeight(36)
        widget.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        widget.customContextMenuRequested.connect(
            lambda pos: self._context_menu(widget, pos))
        widget.itemClicked.connect(self._on_clicked)
        widget.itemActivated.connect(self._on_clicked)
        widget.currentItemChanged.connect(lambda item, _p: self._on_current(widget, item))
        return widget

    def _lay_out(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(self.header)
        bar.addWidget(self.hints_label, 1)
        for button in (self.show_silenced_button, self.silence_button, self.fix_button):
            bar.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.list, 2)
        layout.addWidget(self.hint_list, 1)

    def sizeHint(self) -> QSize:
        return QSize(600, 100)  # a strip under the canvas, like an IDE's problems panel

    def show_diagnostics(self, diagnostics: list[Diagnostic]) -> None:
        self._fill(self.list, diagnostics)
        errors = sum(d.severity == "error" for d in diagnostics)
        warnings = len(diagnostics) - errors
        self.header.setText("No problems" if not diagnostics
                            else f"{errors} error(s), {warnings} warning(s)")
        self._balance()
        self._update_fix()

    def show_hints(self) -> None:
        """The hints shown, and the button that brings silenced kinds back."""
        self._fill(self.hint_list, self.hints.shown)
        self.hint_list.setVisible(bool(self.hints.shown))
        self.hints_label.setText(f"{len(self.hints.shown)} hint(s)" if self.hints.shown else "")
        hidden = len({h.code for h in self.hints.silenced})
        self.show_silenced_button.setVisible(bool(hidden))
        self.show_silenced_button.setText(f"Show silenced hints ({hidden})")
        self._balance()
        self._update_fix()

    def _balance(self) -> None:
        """With no problems, the hints get the panel's height (the header says "No
        problems"); an empty problems list would leave them a two-row strip."""
        self.list.setVisible(self.list.count() > 0 or not self.hints.shown)

    def _fill(self, widget: QListWidget, diagnostics: list[Diagnostic]) -> None:
        widget.clear()
        for d in diagnostics:
            item = QListWidgetItem(self._describe(d))
            item.setData(DIAGNOSTIC_ROLE, d)
            color = ERROR_COLOR if d.severity == "error" else \
                INFO_COLOR if is_hint(d) else WARNING_COLOR
            item.setForeground(QColor(color))
            if d.fix is not None:
                item.setToolTip(f"Suggested fix: {d.fix.description}")
            widget.addItem(item)

    def hint_rows(self) -> list[Diagnostic]:
        return [self.hint_list.item(i).data(DIAGNOSTIC_ROLE)
                for i in range(self.hint_list.count())]

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
        severity = "hint" if is_hint(d) else d.severity
        return f"{severity}: {where}: {d.message}{fix}{source}"

    def _on_current(self, widget: QListWidget, item: QListWidgetItem | None) -> None:
        if item is not None:
            self._active = widget
            other = self.hint_list if widget is self.list else self.list
            other.setCurrentItem(None)
        self._update_fix()

    def _selected(self) -> Diagnostic | None:
        item = self._active.currentItem()
        return item.data(DIAGNOSTIC_ROLE) if item is not None else None

    def _update_fix(self) -> None:
        d = self._selected()
        self.fix_button.setEnabled(d is not None and d.fix is not None)
        self.fix_button.setToolTip(d.fix.description if d is not None and d.fix else
                                   "Select a diagnostic that has a suggested fix")
        self.silence_button.setEnabled(d is not None and is_hint(d))

    def _on_clicked(self, item: QListWidgetItem) -> None:
        self.activated.emit(item.data(DIAGNOSTIC_ROLE))

    def _on_fix(self) -> None:
        d = self._selected()
        if d is None or d.fix is None:
            return
        if d.fix.action != INSERT:
            self._apply_hint_fix(d)
        else:
            self.fix_requested.emit(d)

    def _apply_hint_fix(self, d: Diagnostic) -> None:
        """A hint's fix is one undoable edit of its own (not a layer put on an edge)."""
        assert d.fix is not None
        try:
            command = fix_command(self.session.doc, d.fix, d.graph_key)
        except LayerForgeError as exc:
            self.session.edit_refused.emit(str(exc))
            return
        self.session.push(command)

    def _on_silence(self) -> None:
        d = self._selected()
        if d is not None and is_hint(d):
            self.session.push(silence(self.session.doc, d.code))

    def _context_menu(self, widget: QListWidget, pos: QPoint) -> None:
        item = widget.itemAt(pos)
        if item is None:
            return
        widget.setCurrentItem(item)
        menu = self.context_menu(item.data(DIAGNOSTIC_ROLE))
        if not menu.isEmpty():
            menu.exec(widget.viewport().mapToGlobal(pos))

    def context_menu(self, d: Diagnostic) -> QMenu:
        """The row's menu: its fix, and for a hint "Silence this hint"."""
        menu = QMenu(self)
        if d.fix is not None:
            menu.addAction(f"Fix: {d.fix.description}", self._on_fix)
        if is_hint(d):
            title = HINT_KINDS.get(d.code, ("", d.code))[1]
            menu.addAction(f"Silence this hint ({title})", self._on_silence)
        return menu
