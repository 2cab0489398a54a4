"""The layer search popup (Tab or double-click on empty canvas): type, pick, insert."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

BLOCK_PREFIX = "block:"

Entry = tuple[str, str, str]  # (key, label, detail): key is a class name or "block:<id>"


class LayerSearchPopup(QFrame):
    chosen = Signal(str)

    def __init__(self, entries: list[Entry], parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("Search Input, Output, layers and blocks…")
        self.list = QListWidget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        for key, label, detail in entries:
            item = QListWidgetItem(f"{label}  —  {detail}" if detail else label)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setData(Qt.ItemDataRole.UserRole + 1, label.lower())
            item.setToolTip(detail)
            self.list.addItem(item)
        self.edit.textChanged.connect(self.filter)
        self.edit.returnPressed.connect(self.choose)
        self.list.itemActivated.connect(lambda _item: self.choose())
        self.edit.installEventFilter(self)
        self.resize(340, 300)
        self.filter("")

    def filter(self, text: str) -> None:
        """Hide what does not match; the best match (a prefix, else the first) is current."""
        needle = text.strip().lower()
        best: QListWidgetItem | None = None
        first: QListWidgetItem | None = None
        for row in range(self.list.count()):
            item = self.list.item(row)
            label = item.data(Qt.ItemDataRole.UserRole + 1)
            hidden = bool(needle) and needle not in item.text().lower()
            item.setHidden(hidden)
            if hidden:
                continue
            first = first or item
            if best is None and needle and label.startswith(needle):
                best = item
        self.list.setCurrentItem(best or first)

    def choose(self) -> None:
        item = self.list.currentItem()
        if item is None or item.isHidden():
            return
        self.chosen.emit(item.data(Qt.ItemDataRole.UserRole))
        self.close()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (watched is self.edit and event.type() == QEvent.Type.KeyPress
                and isinstance(event, QKeyEvent)):
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up):
                self._step(1 if key == Qt.Key.Key_Down else -1)
                return True
            if key == Qt.Key.Key_Escape:
                self.close()
                return True
        return super().eventFilter(watched, event)

    def _step(self, delta: int) -> None:
        rows = [r for r in range(self.list.count()) if not self.list.item(r).isHidden()]
        if not rows:
            return
        current = self.list.currentRow()
        index = rows.index(current) if current in rows else -1
        self.list.setCurrentRow(rows[max(0, min(len(rows) - 1, index + delta))])
