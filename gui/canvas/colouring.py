"""Colour the canvas's nodes by a number per node (View → Colour Nodes By), with a legend.

A *colouring* is a :class:`NodeColouring`: a title and a value per node id. The scene fills
each node with the value's colour on a colour-blind-safe sequential ramp (viridis),
linear or logarithmic, and hatches the nodes whose value is NaN/Inf; the view shows the
legend (title, ramp, min and max) in a bar along its bottom, fixed while the user pans
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
from PySide6.QtWidgets import QComboBox, QMenu, QWidget

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
            # One positive value on a log scale (the rest zero) is the top of its range,
            # not the bottom with the zeros.
            return 1.0 if self.log else 0.0
        return min(1.0, max(0.0, (value - low) / (high - low)))


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


# ------------------------------------------------------------ the legend
class ColourLegend(QWidget):
    """The colouring's title, ramp and range, and the flags' key: one row along the bottom
    of the canvas, fixed while the user pans and zooms.

    The view keeps room for it below its viewport (viewport margins) instead of laying it
    over the canvas: a widget over the viewport would stop Qt from scrolling the canvas's
    pixels on a pan, and every pan frame would repaint the whole canvas.
    """

    RAMP_WIDTH = 150

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.title = ""
        self.min_text = ""
        self.max_text = ""
        self.log = False
        self.has_missing = False
        self.has_flags = False
        self.coloured = False
        self.empty = False
        self.fit_width(600)
        self.hide()

    def show_state(self, colouring: NodeColouring | None, scale: ColourScale | None,
                   has_missing: bool, has_flags: bool) -> None:
        """What to show; hidden when there is neither a colouring nor a flag."""
        self.coloured = colouring is not None
        self.empty = colouring is not None and not colouring.values  # its title says why
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
            if scale.log and any(_finite(v) and v <= 0 for v in colouring.values.values()):
                # zeros have no logarithm: they share the low end, and the legend says so
                self.min_text = f"≤ {self.min_text}, incl. {colouring.format(0.0)}"
        self.setToolTip(self.text())
        self.setVisible(self.coloured or has_flags)
        self.update()

    def _notes(self) -> list[str]:
        """The keys after the ramp."""
        rows = []
        if self.coloured and not self.empty and not (self.min_text or self.max_text):
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
        return "\n".join(lines + self._notes())

    # -------------------------------------------------------- layout and drawing
    def _parts(self) -> list[list[tuple[str, str]]]:
        """What to draw, in groups kept on one row: (kind, text) with kind "title",
        "text", "dim", "ramp", "flag" (a badge) or "hatch" (a swatch)."""
        groups: list[list[tuple[str, str]]] = []
        if self.coloured:
            groups.append([("title", self.title)])
            if self.min_text or self.max_text:
                scale = [("text", self.min_text), ("ramp", ""), ("text", self.max_text)]
                groups.append(scale + ([("dim", "(log scale)")] if self.log else []))
        for note in self._notes():
            mark = "flag" if note.startswith("flagged") else \
                "hatch" if note.startswith("no value (") else ""
            groups.append(([(mark, "")] if mark else []) + [("text" if mark else "dim", note)])
        return groups

    def _width(self, kind: str, text: str) -> float:
        if kind == "ramp":
            return self.RAMP_WIDTH
        if kind in ("flag", "hatch"):
            return QFontMetricsF(self.font()).height() * 0.8
        return QFontMetricsF(self._font(kind == "title")).horizontalAdvance(text)

    def _font(self, bold: bool) -> Any:
        font = self.font()
        font.setBold(bold)
        return font

    def _rows(self, width: float) -> list[list[tuple[str, str]]]:
        """The groups flowed into rows of ``width`` (a group wider than a row stays whole)."""
        rows: list[list[tuple[str, str]]] = [[]]
        used = 8.0
        for group in self._parts():
            need = sum(self._width(k, t) + 6 for k, t in group) + 8
            if rows[-1] and used + need > width:
                rows.append([])
                used = 8.0
            rows[-1].extend([*group, ("gap", "")])
            used += need
        return rows

    def fit_width(self, width: int) -> None:
        """Take the height that ``width`` needs (one row, or more on a narrow canvas)."""
        line = QFontMetricsF(self.font()).height() + 4
        self.setFixedHeight(int(len(self._rows(width)) * line + 6))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.color(palette.ColorRole.Window))
        painter.setPen(palette.color(palette.ColorRole.Mid))
        painter.drawLine(0, 0, self.width(), 0)
        ink = palette.color(palette.ColorRole.WindowText)
        dim = palette.color(palette.ColorRole.PlaceholderText)
        line = QFontMetricsF(self.font()).height() + 4
        for r, row in enumerate(self._rows(self.width())):
            x, top = 8.0, 3.0 + r * line
            for kind, text in row:
                if kind == "gap":
                    x += 8
                    continue
                width = self._width(kind, text)
                if kind == "ramp":
                    gradient = QLinearGradient(QPointF(x, 0), QPointF(x + width, 0))
                    for i, colour in enumerate(_VIRIDIS):
                        gradient.setColorAt(i / (len(_VIRIDIS) - 1), QColor(colour))
                    painter.setPen(Qt.PenStyle.NoPen)
                    painter.setBrush(QBrush(gradient))
                    painter.drawRect(QRectF(x, top + line * 0.2, width, line * 0.55))
                elif kind in ("flag", "hatch"):
                    swatch = QRectF(x, top + (line - width) / 2, width, width)
                    if kind == "flag":
                        painter.setPen(QPen(QColor("white"), 1))
                        painter.setBrush(QBrush(_flag_colour(self)))
                        painter.drawEllipse(swatch)
                        painter.setFont(self._font(True))
                        painter.drawText(swatch, Qt.AlignmentFlag.AlignCenter, "!")
                    else:
                        painter.setPen(QPen(ink, 0.8))
                        painter.setBrush(QBrush(ink, Qt.BrushStyle.BDiagPattern))
                        painter.drawRect(swatch)
                else:
                    painter.setFont(self._font(kind == "title"))
                    painter.setPen(dim if kind == "dim" else ink)
                    room = self.width() - x - 4
                    shown = QFontMetricsF(painter.font()).elidedText(
                        text, Qt.TextElideMode.ElideRight, room)
                    painter.drawText(QRectF(x, top, room, line), Qt.AlignmentFlag.AlignVCenter,
                                     shown)
                x += width + 6
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
    #: A source was registered (the choices grew).
    sources_changed = Signal()

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
        known = name in self.actions
        action = self.actions.get(name) or self._add_action(name, tip or f"Colour nodes by {name}")
        if name == self.chosen:
            self.refresh()
        if not known:
            self.sources_changed.emit()
        return action

    def names(self) -> list[str]:
        """The choices in menu order, "None" first."""
        return list(self.actions)

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


class ColouringCombo(QComboBox):
    """The same choice as View → Colour Nodes By, as a combo box (for a dock)."""

    def __init__(self, colouring: CanvasColouring, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colouring = colouring
        self.setToolTip("Colour the canvas's nodes by this statistic (also View → Colour "
                        "Nodes By)")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self._fill()
        self.currentTextChanged.connect(self._on_text)
        colouring.chosen_changed.connect(self._show_chosen)
        colouring.sources_changed.connect(self._fill)

    def _fill(self) -> None:
        self.blockSignals(True)
        self.clear()
        for name in self.colouring.names():
            self.addItem(name)
            self.setItemData(self.count() - 1, self.colouring.actions[name].toolTip(),
                             Qt.ItemDataRole.ToolTipRole)
        self.setCurrentText(self.colouring.chosen)
        self.blockSignals(False)

    def _on_text(self, name: str) -> None:
        if name and name != self.colouring.chosen:
            self.colouring.choose(name)

    def _show_chosen(self, name: str) -> None:
        if shiboken6.isValid(self) and self.currentText() != name:
            self.blockSignals(True)
            self.setCurrentText(name)
            self.blockSignals(False)


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
