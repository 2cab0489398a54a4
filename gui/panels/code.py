"""Live generated code: read-only, Python-highlighted, regenerated shortly after edits."""

from __future__ import annotations

import keyword
import re

from PySide6.QtCore import QRegularExpression, QTimer
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QPushButton, QWidget

from ..session import EditorSession
from ..theme import is_dark
from .frame import lay_out

REGENERATE_DELAY_MS = 300


def _format(color: str, bold: bool = False, italic: bool = False) -> QTextCharFormat:
    fmt = QTextCharFormat()
    fmt.setForeground(QColor(color))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    fmt.setFontItalic(italic)
    return fmt


class PythonHighlighter(QSyntaxHighlighter):
    """Keywords, builtins, numbers, strings, comments and decorators (one line at a time)."""

    def __init__(self, document: QTextDocument, dark: bool = False) -> None:
        super().__init__(document)
        colors = ({"kw": "#c792ea", "builtin": "#82aaff", "num": "#f78c6c", "str": "#c3e88d",
                   "comment": "#7f8c98", "deco": "#ffcb6b"} if dark else
                  {"kw": "#7c3aed", "builtin": "#1d4ed8", "num": "#b45309", "str": "#15803d",
                   "comment": "#6b7280", "deco": "#a16207"})
        words = "|".join(re.escape(k) for k in keyword.kwlist)
        self.rules = [
            (QRegularExpression(rf"\b({words})\b"), _format(colors["kw"], bold=True)),
            (QRegularExpression(r"\b(print|len|range|dict|list|tuple|int|float|str|super|self)\b"),
             _format(colors["builtin"])),
            (QRegularExpression(r"\b\d+(\.\d*)?([eE][-+]?\d+)?\b"), _format(colors["num"])),
            (QRegularExpression(r"@\w+(\.\w+)*"), _format(colors["deco"])),
            (QRegularExpression(r"\"[^\"\\]*(\\.[^\"\\]*)*\"|'[^'\\]*(\\.[^'\\]*)*'"),
             _format(colors["str"])),
            (QRegularExpression(r"#[^\n]*"), _format(colors["comment"], italic=True)),
        ]
        self.docstring = _format(colors["str"], italic=True)
        self.triple = QRegularExpression(r'"""')

    def highlightBlock(self, text: str) -> None:
        for pattern, fmt in self.rules:
            matches = pattern.globalMatch(text)
            while matches.hasNext():
                match = matches.next()
                self.setFormat(match.capturedStart(), match.capturedLength(), fmt)
        self._docstrings(text)

    def _docstrings(self, text: str) -> None:
        """Triple-quoted strings may span lines: block state 1 means 'inside one'."""
        start = 0 if self.previousBlockState() == 1 else -1
        self.setCurrentBlockState(0)
        pos = 0
        while True:
            match = self.triple.match(text, pos)
            if start < 0:
                if not match.hasMatch():
                    return
                start, pos = match.capturedStart(), match.capturedEnd()
                continue
            if not match.hasMatch():
                self.setFormat(start, len(text) - start, self.docstring)
                self.setCurrentBlockState(1)
                return
            self.setFormat(start, match.capturedEnd() - start, self.docstring)
            start, pos = -1, match.capturedEnd()


class CodePanel(QWidget):
    """The project as a Keras module; Copy puts it on the clipboard."""

    def __init__(self, session: EditorSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.editor = QPlainTextEdit(readOnly=True)
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.highlighter = PythonHighlighter(self.editor.document(), is_dark())
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the generated code to the clipboard")
        self.copy_button.clicked.connect(self.copy)
        self.status = QLabel()
        lay_out(self, self.status, self.copy_button, self.editor)
        self.timer = QTimer(self, singleShot=True, interval=REGENERATE_DELAY_MS)
        self.timer.timeout.connect(self.regenerate)
        session.undo_stack.indexChanged.connect(self._schedule)
        session.document_replaced.connect(self.timer.start)
        self.regenerate()

    def _schedule(self, _index: int) -> None:
        self.timer.start()

    def regenerate(self) -> None:
        from layerforge.core.codegen.model_code import generate

        self.timer.stop()
        try:
            source = generate(self.session.doc).source
            self.status.setText("Keras 3 functional API")
        except Exception as exc:  # an unfinished graph still shows what went wrong
            source = f"# The code cannot be generated yet:\n# {exc}\n"
            self.status.setText("Incomplete graph")
        if source != self.editor.toPlainText():
            bar = self.editor.verticalScrollBar()
            position = bar.value()
            self.editor.setPlainText(source)
            bar.setValue(position)

    def source(self) -> str:
        return self.editor.toPlainText()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.source())
        self.status.setText("Copied to the clipboard")
