"""The frame the code and diagnostics panels share: a status line and its one button above
the panel's body."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


def lay_out(panel: QWidget, status: QLabel, button: QPushButton, body: QWidget) -> None:
    bar = QHBoxLayout()
    bar.addWidget(status, 1)
    bar.addWidget(button)
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.addLayout(bar)
    layout.addWidget(body)
