"""Light and dark palettes that follow the system colour scheme, plus a few shared colours."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

_ROLE = QPalette.ColorRole
# Each role's colour in the dark theme and in the light one.
_COLOURS = {
    _ROLE.Window: ("#1f2329", "#f4f5f7"),
    _ROLE.WindowText: ("#e6e6e6", "#1f2329"),
    _ROLE.Base: ("#181b20", "#ffffff"),
    _ROLE.AlternateBase: ("#22262d", "#f0f2f5"),
    _ROLE.ToolTipBase: ("#2b3038", "#ffffe8"),
    _ROLE.ToolTipText: ("#e6e6e6", "#1f2329"),
    _ROLE.Text: ("#e6e6e6", "#1f2329"),
    _ROLE.Button: ("#2a2f37", "#e9ebef"),
    _ROLE.ButtonText: ("#e6e6e6", "#1f2329"),
    _ROLE.BrightText: ("#ff6b6b", "#c0392b"),
    _ROLE.Highlight: ("#3b82f6", "#2563eb"),
    _ROLE.HighlightedText: ("#ffffff", "#ffffff"),
    _ROLE.Link: ("#93c5fd", "#1d4ed8"),
    _ROLE.PlaceholderText: ("#8a919c", "#7a818c"),
}

ERROR_COLOR = "#d9534f"
WARNING_COLOR = "#d68910"


def is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def make_palette(dark: bool) -> QPalette:
    palette = QPalette()
    for role, (dark_colour, light_colour) in _COLOURS.items():
        color = dark_colour if dark else light_colour
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
