"""Light and dark palettes that follow the system colour scheme, plus a few shared colours."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

_DARK = {
    QPalette.ColorRole.Window: "#1f2329", QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#181b20", QPalette.ColorRole.AlternateBase: "#22262d",
    QPalette.ColorRole.ToolTipBase: "#2b3038", QPalette.ColorRole.ToolTipText: "#e6e6e6",
    QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#2a2f37",
    QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: "#3b82f6", QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#93c5fd", QPalette.ColorRole.PlaceholderText: "#8a919c",
}
_LIGHT = {
    QPalette.ColorRole.Window: "#f4f5f7", QPalette.ColorRole.WindowText: "#1f2329",
    QPalette.ColorRole.Base: "#ffffff", QPalette.ColorRole.AlternateBase: "#f0f2f5",
    QPalette.ColorRole.ToolTipBase: "#ffffe8", QPalette.ColorRole.ToolTipText: "#1f2329",
    QPalette.ColorRole.Text: "#1f2329", QPalette.ColorRole.Button: "#e9ebef",
    QPalette.ColorRole.ButtonText: "#1f2329", QPalette.ColorRole.BrightText: "#c0392b",
    QPalette.ColorRole.Highlight: "#2563eb", QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#1d4ed8", QPalette.ColorRole.PlaceholderText: "#7a818c",
}

ERROR_COLOR = "#d9534f"
WARNING_COLOR = "#d68910"


def is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def make_palette(dark: bool) -> QPalette:
    palette = QPalette()
    for role, color in (_DARK if dark else _LIGHT).items():
        palette.setColor(role, QColor(color))
    disabled = QColor("#6b7280")
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def apply_theme(app: QApplication) -> None:
    """Fusion with a palette matching the system scheme, re-applied when the system changes."""
    app.setStyle("Fusion")
    app.setPalette(make_palette(is_dark()))
    app.styleHints().colorSchemeChanged.connect(
        lambda scheme: app.setPalette(make_palette(scheme == Qt.ColorScheme.Dark)))
