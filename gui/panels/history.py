"""Undo history: the session's QUndoStack as a clickable list (click to go back in time)."""

from __future__ import annotations

from PySide6.QtWidgets import QUndoView, QWidget

from ..session import EditorSession


class HistoryPanel(QUndoView):
    def __init__(self, session: EditorSession, parent: QWidget | None = None) -> None:
        super().__init__(session.undo_stack, parent)
        self.setEmptyLabel("<opened>")
        self.setToolTip("Click an entry to undo or redo up to it")
