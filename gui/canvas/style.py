"""Canvas colours and sizes, derived from the QPalette so light and dark themes both read well."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QPalette

NODE_WIDTH = 184.0
LINE_HEIGHT = 15.0
NODE_PADDING = 6.0
PORT_RADIUS = 5.0
GRID = 20.0
SNAP = 10.0
# Below these zoom levels text is skipped: it would be unreadable and costs most of a frame.
TEXT_LOD = 0.5
# Below this zoom the scene draws one recorded overview instead of painting every item.
OVERVIEW_ZOOM = 0.5
OVERVIEW_MAX_PIXELS = 4096  # the overview image's longest side
EDGE_DETAIL_LOD = 0.3
# Shape labels show wherever node text does: a graph fitted to the window (a reopened
# project, often at 50-70 %) must show its shapes. Measured on a 2,000-node graph at
# 1920x1080: the first frame after a zoom costs the same with labels from 50 % as from 70 %.
EDGE_LABEL_LOD = TEXT_LOD
FLAG_RADIUS = 6.5  # a training-health flag's badge, on a node's top-left corner


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    def channel(x: int, y: int) -> int:
        return round(x * (1 - t) + y * t)

    return QColor(channel(a.red(), b.red()), channel(a.green(), b.green()),
                  channel(a.blue(), b.blue()))


@dataclass
class CanvasStyle:
    dark: bool
    background: QColor
    grid_minor: QColor
    grid_major: QColor
    node_fill: QColor
    header_fill: QColor
    node_border: QColor
    text: QColor
    dim_text: QColor
    selection: QColor
    edge: QColor
    label_fill: QColor
    port: QColor
    legal: QColor
    illegal: QColor
    error: QColor
    warning: QColor
    flag: QColor  # training-health flags: apart from the diagnostics' red and amber
    font: QFont
    small_font: QFont
    bold_font: QFont

    @classmethod
    def from_palette(cls, palette: QPalette) -> CanvasStyle:
        window = palette.color(QPalette.ColorRole.Window)
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        dark = window.lightness() < 128
        background = _mix(window, base, 0.5)
        font = QFont()
        font.setPointSizeF(8.5)
        small = QFont(font)
        small.setPointSizeF(7.5)
        bold = QFont(font)
        bold.setBold(True)
        return cls(
            dark=dark, background=background,
            grid_minor=_mix(background, text, 0.06), grid_major=_mix(background, text, 0.13),
            node_fill=base, header_fill=_mix(base, text, 0.09),
            node_border=_mix(base, text, 0.45), text=text, dim_text=_mix(base, text, 0.65),
            selection=palette.color(QPalette.ColorRole.Highlight),
            edge=_mix(background, text, 0.55), label_fill=_mix(base, background, 0.3),
            port=_mix(base, text, 0.55),
            legal=QColor("#66bb6a") if dark else QColor("#2e7d32"),
            illegal=QColor("#ff6b6b") if dark else QColor("#d32f2f"),
            error=QColor("#ff6b6b") if dark else QColor("#d32f2f"),
            warning=QColor("#ffb74d") if dark else QColor("#e65100"),
            flag=QColor("#f0266f") if dark else QColor("#c2185b"),
            font=font, small_font=small, bold_font=bold,
        )


def shared_colour(layer_id: str, dark: bool) -> QColor:
    """A stable colour per shared layer instance, readable on the node's fill."""
    hue = zlib.crc32(layer_id.encode()) % 360
    return QColor.fromHsv(hue, 150 if dark else 190, 235 if dark else 200)
