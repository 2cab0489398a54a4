"""Colour the canvas's nodes by a number per node (View → Colour Nodes By), with a legend.

A *colouring* is a :class:`NodeColouring`: a title and a value per node id. The scene fills
each node with the value's colour on a colour-blind-safe sequential ramp (viridis),
linear or logarithmic, and hatches the nodes whose value is NaN/Inf; the view draws the
legend (title, ramp, min and max) in its bottom-left corner, fixed while the user pans
and zooms. Sources of colourings (training health, FLOPs share...) are registered by name
on the window's :class:`CanvasColouring`; the user picks one in View → Colour Nodes By,
and the chosen one is computed again after each edit and whenever its source says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QBrush,
    QColor,
    QFontMetricsF,
    QLinearGradient,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QMenu, QWidget

NONE = "None"
MENU_TITLE = "Colour Nodes By"

# viridis (matplotlib), 9 stops: readable for the common colour-vision deficiencies and
# in greyscale, dark (low) to light (high).
_VIRIDIS = ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962",
            "#addc30", "#fde725")
_STEPS = 256


def _ramp_table() -> list[QColor]:
    stops = [QColor(c) for c in _VIRIDIS]
    table = []
    for i in range(_STEPS):
        at = i / (_STEPS - 1) * (len(stops) - 1)
        lo = min(int(at), len(stops) - 2)
        t = at - lo
        a, b = stops[lo], stops[lo + 1]
        table.append(QColor(round(a.red() + (b.red() - a.red()) * t),
                            round(a.green() + (b.green() - a.green()) * t),
                            round(a.blue() + (b.blue() - a.blue()) * t)))
    return table


RAMP = _ramp_table()


def ramp_colour(t: float) -> QColor:
    """The ramp's colour at ``t`` in 0..1 (clamped)."""
    return RAMP[round(min(1.0, max(0.0, t)) * (_STEPS - 1))]


@dataclass
class NodeColouring:
    """What to colour: ``values`` by node id (a node absent stays plain; NaN/Inf: hatched).

    ``labels``: per node, the text its tooltip shows. ``value_range``: a fixed (low,
    high) instead of the values' own range (e.g. 0..1 for a fraction). ``value_text``:
    how the legend writes a value (default: 4 significant digits).
    """

    title: str
    values: dict[str, float]
    labels: dict[str, str] = field(default_factory=dict)
    log_scale: bool = False
    value_range: tuple[float, float] | None = None
    value_text: Callable[[float], str] | None = None

    def format(self, value: float) -> str:
        return self.value_text(value) if self.value_text is not None else f"{value:.4g}"


@dataclass(frozen=True)
class ColourScale:
    """Maps a colouring's values to 0..1: linear, or logarithmic over the positive values."""

    low: float
    high: float
    log: bool

    @classmethod
    def of(cls, colouring: NodeColouring) -> ColourScale:
        finite = [v for v in colouring.values.values() if _finite(v)]
        if colouring.value_range is not None:
            low, high = colouring.value_range
        else:
            low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
        log = colouring.log_scale
        if log:
            positive = [v for v in finite if v > 0] if colouring.value_range is None else \
                [v for v in (low, high) if v > 0]
            if not positive:
                log = False  # nothing to take the logarithm of: plainly linear
            else:
                low, high = min(positive), max(positive)
        return cls(low, high, log)

    def position(self, value: float) -> float | None:
        """0..1 along the ramp; None for NaN/Inf (no value). Non-positive values on a log
        scale sit at the low end."""
        if not _finite(value):
            return None
        if self.log:
            if value <= 0:
                return 0.0
            low, high, value = math.log10(self.low), math.log10(self.high), math.log10(value)
        else:
            low, high = self.low, self.high
        if high <= low:
            return 0.0
        return min(1.0, max(0.0, (value - low) / (high - low)))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


# ------------------------------------------------------------ the legend
class ColourLegend(QWidget):
    """The colouring's title, ramp and range, in the canvas's bottom-left corner.

    A child of the view (not of its viewport): the view scrolls its viewport's pixels
    when the user pans, and would drag anything drawn on them along.
    """

    WIDTH = 230
    MAX_WIDTH = 420

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.title = ""
        self.min_text = ""
        self.max_text = ""
        self.log = False
        self.has_missing = False
        self.has_flags = False
        self.coloured = False
        self.hide()

    def show_state(self, colouring: NodeColouring | None, scale: ColourScale | None,
                   has_missing: bool, has_flags: bool) -> None:
        """What to show; hidden when there is neither a colouring nor a flag."""
        self.coloured = colouring is not None
        self.title = colouring.title if colouring is not None else ""
        self.log = bool(scale and scale.log)
        self.has_missing = has_missing
        self.has_flags = has_flags
        self.min_text = self.max_text = ""
        if colouring is not None and scale is not None:
            finite = any(_finite(v) for v in colouring.values.values())
            if finite or colouring.value_range is not None:
                self.min_text = colouring.format(scale.low)
                self.max_text = colouring.format(scale.high)
        bold = self.font()
        bold.setBold(True)
        wanted = QFontMetricsF(bold).horizontalAdvance(self.title) + 20
        self.setFixedSize(int(min(self.MAX_WIDTH, max(self.WIDTH, wanted))), self._height())
        self.setVisible(self.coloured or has_flags)
        self.update()

    def _lines(self) -> list[str]:
        """The text rows below the ramp (tests read them as what the legend says)."""
        rows = []
        if self.coloured and not (self.min_text or self.max_text):
            rows.append("no values for the nodes shown")
        if self.has_missing:
            rows.append("no value (NaN/Inf or none)")
        if self.has_flags:
            rows.append("flagged: hover the node for why")
        return rows

    def text(self) -> str:
        """Everything the legend writes, one line each."""
        lines = [self.title + (" (log scale)" if self.log else "")] if self.coloured else []
        if self.min_text or self.max_text:
            lines.append(f"{self.min_text} … {self.max_text}")
        return "\n".join(lines + self._lines())

    def _height(self) -> int:
        line = QFontMetricsF(self.font()).height()
        rows = len(self._lines())
        body = (line + 4 + 12 + 4 + line) if self.coloured else 0
        return int(8 + body + rows * (line + 2) + 6)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        back = QColor(palette.color(palette.ColorRole.Base))
        back.setAlpha(228)
        ink = palette.color(palette.ColorRole.Text)
        painter.setPen(QPen(palette.color(palette.ColorRole.Mid), 1))
        painter.setBrush(QBrush(back))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 5, 5)
        metrics = QFontMetricsF(self.font())
        line = metrics.height()
        left, width, y = 8.0, self.width() - 16.0, 6.0
        painter.setPen(ink)
        if self.coloured:
            bold = self.font()
            bold.setBold(True)
            painter.setFont(bold)
            painter.drawText(QRectF(left, y, width, line), Qt.AlignmentFlag.AlignLeft,
                             QFontMetricsF(bold).elidedText(self.title,
                                                            Qt.TextElideMode.ElideRight, width))
            painter.setFont(self.font())
            y += line + 4
            gradient = QLinearGradient(QPointF(left, 0), QPointF(left + width, 0))
            for i, colour in enumerate(_VIRIDIS):
                gradient.setColorAt(i / (len(_VIRIDIS) - 1), QColor(colour))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(gradient))
            painter.drawRect(QRectF(left, y, width, 12))
            y += 16
            painter.setPen(ink)
            painter.drawText(QRectF(left, y, width, line), Qt.AlignmentFlag.AlignLeft,
                             self.min_text)
            painter.drawText(QRectF(left, y, width, line), Qt.AlignmentFlag.AlignRight,
                             self.max_text)
            if self.log:
                painter.setPen(palette.color(palette.ColorRole.PlaceholderText))
                painter.drawText(QRectF(left, y, width, line), Qt.AlignmentFlag.AlignHCenter,
                                 "log scale")
                painter.setPen(ink)
            y += line
        for row in self._lines():
            y += 2
            swatch = QRectF(left, y + 2, 12, line - 4)
            if row.startswith("flagged"):
                painter.setPen(QPen(QColor("white"), 1))
                painter.setBrush(QBrush(_flag_colour(self)))
                painter.drawEllipse(swatch.center(), 6, 6)
                painter.drawText(swatch, Qt.AlignmentFlag.AlignCenter, "!")
            elif row.startswith("no value ("):
                painter.setPen(QPen(ink, 0.8))
                painter.setBrush(QBrush(ink, Qt.BrushStyle.BDiagPattern))
                painter.drawRect(swatch)
            painter.setPen(ink)
            painter.drawText(QRectF(left + 18, y, width - 18, line),
                             Qt.AlignmentFlag.AlignLeft, row)
            y += line
        painter.end()


def _flag_colour(legend: QWidget) -> QColor:
    view = legend.parent()
    scene = getattr(view, "canvas_scene", None)
    return scene.style.flag if scene is not None else QColor("#c2185b")


# ------------------------------------------------------------ the menu and its sources
Compute = Callable[[], NodeColouring | None]


class CanvasColouring(QObject):
    """The window's colouring sources and the user's choice among them.

    ``register_colouring(name, compute)`` adds a source (a radio item in View → Colour
    Nodes By); ``compute()`` returns the colouring to show, or None when it has nothing
    (the canvas then goes plain). The chosen source is computed again after each edit,
    when another graph is shown, and when its owner calls :meth:`refresh`.
    """

    #: The chosen source's name ("None" for none), after every choice.
    chosen_changed = Signal(str)

    def __init__(self, view: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.view = view
        self.sources: dict[str, Compute] = {}
        self.chosen = NONE
        self.menu = QMenu(MENU_TITLE, parent if isinstance(parent, QWidget) else None)
        self.menu.setToolTipsVisible(True)
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.actions: dict[str, QAction] = {}
        self._add_action(NONE, "Plain nodes: no colouring, no training-health flags")
        self.actions[NONE].setChecked(True)
        self.menu.addSeparator()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self.refresh)
        session = view.canvas_scene.session
        session.analysis_changed.connect(lambda _changed: self._later())
        session.document_replaced.connect(self._later)
        view.graph_key_changed.connect(lambda _key: self._later())

    def _later(self) -> None:
        if shiboken6.isValid(self) and self.chosen != NONE:
            self._timer.start()

    def _add_action(self, name: str, tip: str) -> QAction:
        action = QAction(name, self)
        action.setCheckable(True)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False, n=name: self.choose(n))
        self.group.addAction(action)
        self.menu.addAction(action)
        self.actions[name] = action
        return action

    def register_colouring(self, name: str, compute: Compute, tip: str = "") -> QAction:
        """Add (or replace) a source; returns its menu item."""
        if not name or name == NONE:
            raise ValueError(f"a colouring needs a name other than {NONE!r}; got {name!r}")
        self.sources[name] = compute
        action = self.actions.get(name) or self._add_action(name, tip or f"Colour nodes by {name}")
        if name == self.chosen:
            self.refresh()
        return action

    def choose(self, name: str) -> None:
        """Colour by the source ``name`` ("None": plain nodes)."""
        if name != NONE and name not in self.sources:
            raise ValueError(f"no colouring named {name!r}; expected one of "
                             f"{[NONE, *self.sources]}")
        self.chosen = name
        self.actions[name].setChecked(True)
        self.refresh()
        self.chosen_changed.emit(name)

    def refresh(self, name: str | None = None) -> None:
        """Compute the chosen source again (``name``: only if it is the chosen one)."""
        if name is not None and name != self.chosen:
            return
        compute = self.sources.get(self.chosen)
        colouring = compute() if compute is not None else None
        self.view.canvas_scene.set_colouring(colouring)


def install_colouring(window: Any) -> CanvasColouring:
    """The window's :class:`CanvasColouring` (made once), its menu under View after the
    zoom entries. ``window`` needs ``view`` (the CanvasView) and ``menuBar()``."""
    existing = window.findChild(CanvasColouring)
    if existing is not None:
        return existing
    colouring = CanvasColouring(window.view, window)
    view_menu = next((a.menu() for a in window.menuBar().actions()
                      if a.text().replace("&", "") == "View" and a.menu() is not None), None)
    if view_menu is None:
        view_menu = window.menuBar().addMenu("&View")
    separator = next((a for a in view_menu.actions() if a.isSeparator()), None)
    if separator is not None:
        view_menu.insertMenu(separator, colouring.menu)
    else:
        view_menu.addMenu(colouring.menu)
    return colouring
