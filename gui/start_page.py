"""Start page: the template gallery (book section + description), recent files, empty project."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.io.templates import TemplateInfo, list_templates

MAX_COLUMNS = 3
CARD_MIN_WIDTH = 230  # narrower cards wrap their descriptions into unreadable columns
PATH_ROLE = Qt.ItemDataRole.UserRole


class TemplateCard(QFrame):
    """One template: title, book section, one-line description; click opens it."""

    clicked = Signal(str)

    def __init__(self, info: TemplateInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = info.name
        self.setObjectName("templateCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"Open the template '{info.name}'\n{info.description}")
        title = QLabel(f"<b>{info.title}</b>")
        title.setWordWrap(True)
        section = QLabel(f"Deep Learning with Python §{info.section}" if info.section else "")
        section.setStyleSheet("color: palette(link);")
        description = QLabel(_one_line(info.description))
        description.setWordWrap(True)
        description.setStyleSheet("color: palette(placeholder-text);")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(section)
        layout.addWidget(description, 1)
        self.setMinimumHeight(110)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(
                event.position().toPoint()):
            self.clicked.emit(self.name)
        super().mouseReleaseEvent(event)


def _one_line(text: str, limit: int = 140) -> str:
    first = text.split(". ")[0].split(": ")[0].rstrip(".")
    return first if len(first) <= limit else first[: limit - 1] + "…"


class StartPage(QWidget):
    template_chosen = Signal(str)
    empty_requested = Signal()
    open_requested = Signal()
    recent_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("startPage")
        self.setStyleSheet(
            "#templateCard { border: 1px solid palette(mid); border-radius: 8px;"
            " background: palette(base); }"
            "#templateCard:hover { border: 1px solid palette(highlight); }")
        self.cards: dict[str, TemplateCard] = {}
        self.recent = QListWidget()
        self.recent.setToolTip("Double-click to open")
        self.recent.itemActivated.connect(
            lambda item: self.recent_chosen.emit(item.data(PATH_ROLE)))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.addWidget(self._gallery(), 3)
        layout.addLayout(self._side(), 1)

    def _gallery(self) -> QWidget:
        host = QWidget()
        self.grid = QGridLayout(host)
        self.grid.setSpacing(12)
        self.heading = QLabel("<h2>Start from a model of chapter 7</h2>")
        self.heading.setWordWrap(True)
        for info in list_templates():
            card = TemplateCard(info)
            card.clicked.connect(self.template_chosen)
            self.cards[info.name] = card
        self.columns = 0
        # The cards reflow to the width instead of hiding a column behind a scrollbar.
        self.scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(host)
        self.scroll.viewport().installEventFilter(self)
        self._reflow(MAX_COLUMNS)
        return self.scroll

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.scroll.viewport() and event.type() == QEvent.Type.Resize:
            width = self.scroll.viewport().width()
            self._reflow(max(1, min(MAX_COLUMNS, width // (CARD_MIN_WIDTH + 12))))
        return super().eventFilter(watched, event)

    def _reflow(self, columns: int) -> None:
        """Lay the cards out in ``columns`` columns (the viewport's width decides)."""
        if columns == self.columns:
            return
        self.columns = columns
        grid = self.grid
        for widget in [self.heading, *self.cards.values()]:
            grid.removeWidget(widget)
        for row in range(grid.rowCount()):
            grid.setRowStretch(row, 0)
        grid.addWidget(self.heading, 0, 0, 1, columns)
        for i, card in enumerate(self.cards.values()):
            grid.addWidget(card, 1 + i // columns, i % columns)
        for column in range(MAX_COLUMNS):
            grid.setColumnStretch(column, 1 if column < columns else 0)
        grid.setRowStretch(grid.rowCount(), 1)

    def visible_columns(self) -> int:
        """How many template columns the gallery shows side by side."""
        return self.columns

    def _side(self) -> QVBoxLayout:
        empty = QPushButton("Empty project")
        empty.setToolTip("Start with an empty canvas (Ctrl+N)")
        empty.clicked.connect(self.empty_requested)
        open_button = QPushButton("Open…")
        open_button.setToolTip("Open a project (.json) or a Keras model (.keras, .h5) (Ctrl+O)")
        open_button.clicked.connect(self.open_requested)
        side = QVBoxLayout()
        side.addWidget(QLabel("<h2>LayerForge</h2>"))
        side.addWidget(empty)
        side.addWidget(open_button)
        side.addSpacing(12)
        side.addWidget(QLabel("<b>Recent files</b>"))
        side.addWidget(self.recent, 1)
        return side

    def set_recent(self, paths: list[str]) -> None:
        self.recent.clear()
        for path in paths:
            item = QListWidgetItem(Path(path).name)
            item.setToolTip(path)
            item.setData(PATH_ROLE, path)
            self.recent.addItem(item)
        if not paths:
            placeholder = QListWidgetItem("No recent files")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.recent.addItem(placeholder)
