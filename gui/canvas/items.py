"""Dumb graphics items: nodes, ports, edges, shared-layer links, the connection being dragged.

Items draw what the scene tells them and forward gestures to the scene's controller;
they never edit the document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFontMetricsF,
    QImage,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QStaticText,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QStyleOptionGraphicsItem,
    QWidget,
)

from layerforge.core.schema.records import Slot

from .labels import LOST_PORT, NodeText
from .style import (
    EDGE_DETAIL_LOD,
    EDGE_LABEL_LOD,
    FLAG_RADIUS,
    LINE_HEIGHT,
    NODE_PADDING,
    NODE_WIDTH,
    OVERVIEW_MAX_PIXELS,
    OVERVIEW_ZOOM,
    PORT_RADIUS,
    SNAP,
    TEXT_LOD,
    CanvasStyle,
)

if TYPE_CHECKING:
    from .scene import CanvasScene

NODE_HEIGHT = 4 * LINE_HEIGHT + 2 * NODE_PADDING
_NO_CONTENTS = QGraphicsItem.GraphicsItemFlag.ItemHasNoContents
_PORT_LABEL_SPACE = 14.0
# Room left of a node for the labels of its call-argument ports (mask, initial_state[0]).
_SIDE_LABEL_SPACE = 96.0
# Room left and right of a node. Kept tight: a wider node's cached pixmap is enough to make
# a 1920x1080 canvas's node caches overflow QPixmapCache (pans at 100 % then cost 2x).
_EDGE_ROOM = 4.0
_SPARK_WIDTH = 48.0


def _static(text: str) -> QStaticText:
    static = QStaticText(text)
    static.setTextFormat(Qt.TextFormat.PlainText)
    return static


def _lod(painter: QPainter, option: QStyleOptionGraphicsItem) -> float:
    return option.levelOfDetailFromTransform(painter.worldTransform())


def _luminance(colour: QColor) -> float:
    return (0.2126 * colour.redF() + 0.7152 * colour.greenF() + 0.0722 * colour.blueF())


def paint_port(painter: QPainter, style: CanvasStyle, at: QPointF, state: str,
               connected: bool, hovered: bool) -> None:
    colour = {"legal": style.legal, "illegal": style.illegal}.get(state, style.port)
    radius = PORT_RADIUS + (2 if hovered or state != "normal" else 0)
    painter.setPen(QPen(colour, 1.5))
    filled = connected or state != "normal"
    painter.setBrush(QBrush(colour) if filled else QBrush(style.node_fill))
    painter.drawEllipse(at, radius, radius)


class PortItem(QGraphicsItem):
    """An input slot (top edge), a call argument (left edge) or an output index (bottom
    edge) of a node.

    The node paints its ports into its own cache; a port paints itself only while it
    is highlighted (hovered, or a legal/illegal target of a dragged connection).
    """

    def __init__(self, node: NodeItem, is_output: bool, key: Slot, label: str,
                 side: bool = False) -> None:
        super().__init__(node)
        self.node = node
        self.is_output = is_output
        self.key = key
        self.label = label
        self.side = side  # a call argument's port, on the left edge
        if side and label.startswith(LOST_PORT):
            self.setToolTip(f"{key}: the layer as configured now does not take this tensor; "
                            "remove the connection, or choose a layer that takes it")
        elif side:
            self.setToolTip(f"{label}: optional tensor passed to the layer's call as "
                            f"{str(key).split('[')[0]}=")
        self.state = "normal"  # "legal" / "illegal" while a connection is dragged
        self._connected = False
        self.fan_out: set[str] = set()  # edge ids leaving this output port
        self.hovered = False
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setZValue(1)
        self.setFlag(_NO_CONTENTS, True)

    @property
    def connected(self) -> bool:
        return self._connected

    @connected.setter
    def connected(self, value: bool) -> None:
        if value != self._connected:
            self._connected = value
            self.node.update()

    @property
    def active(self) -> bool:
        return self.hovered or self.state != "normal"

    def sync(self) -> None:
        shown = self.active and self.node.detail
        self.setFlag(_NO_CONTENTS, not shown)
        self.update()
        scene = self.scene()
        if not shown and scene is not None:
            # Qt repaints nothing for an item without contents, so the highlight it drew
            # would stay on screen: repaint its area (the node below draws the port plain).
            scene.update(self.sceneBoundingRect())

    def boundingRect(self) -> QRectF:
        r = PORT_RADIUS + 4
        return QRectF(-r, -r, 2 * r, 2 * r)

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.sync()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        paint_port(painter, self.node.style, QPointF(0, 0), self.state, self.connected,
                   self.hovered)

    # gestures go to the controller
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            event.ignore()
            return
        self.canvas().controller.begin_connect(self)
        event.accept()

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        self.canvas().controller.drag_connect(event.scenePos())

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        self.canvas().controller.end_connect(event.scenePos())

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = True
        self.sync()

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = False
        self.sync()

    def canvas(self) -> CanvasScene:
        return self.scene()  # type: ignore[return-value]


class NodeItem(QGraphicsItem):
    """One node: a header with the layer class, then name, key parameters, parameter count."""

    def __init__(self, node_id: str, kind: str, style: CanvasStyle) -> None:
        super().__init__()
        self.node_id = node_id
        self.kind = kind
        self.style = style
        self.text = NodeText("", ())
        self.elided: list[str] = []
        self.inputs: list[PortItem] = []
        self.outputs: list[PortItem] = []
        self.edges: set[EdgeItem] = set()
        self.links: list[SharedLinkItem] = []
        self.severity: str | None = None
        self.badge: QColor | None = None
        self.badge_count = 0
        self.search_names: tuple[str, ...] = ()  # the layer's searched parameters (a tag)
        self._problems = ""  # the diagnostics' tooltip text
        self.is_block = False
        self.detail = True  # False while the scene draws the overview instead of items
        # An overlay's colour (View → Colour Nodes By); hatched: the overlay has no value here.
        self.fill: QColor | None = None
        self.hatched = False
        self.ink: QColor | None = None  # text colour readable on ``fill``
        self.colour_note = ""  # the overlay's value, for the tooltip
        self.flags: list[str] = []  # training-health flags: a badge, messages in the tooltip
        self.spark_heights: list[float] = []  # activation histogram, bin heights 0..1
        self.sparkline: list[QRectF] = []  # its bars, in item coordinates
        self.rect = QRectF(-NODE_WIDTH / 2, -NODE_HEIGHT / 2, NODE_WIDTH, NODE_HEIGHT)
        self._bounds = self.rect.adjusted(-_EDGE_ROOM, -_PORT_LABEL_SPACE, _EDGE_ROOM,
                                          _PORT_LABEL_SPACE)
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    # ------------------------------------------------------------- content
    def set_text(self, text: NodeText) -> None:
        if text == self.text:
            return
        self.text = text
        self._elide()
        self.update()

    def _elide(self) -> None:
        width = NODE_WIDTH - 2 * NODE_PADDING
        bold = QFontMetricsF(self.style.bold_font)
        plain = QFontMetricsF(self.style.font)
        title_room = width - (22 if self.badge is not None else 0) - 12
        self.elided = [bold.elidedText(self.text.title, Qt.TextElideMode.ElideRight, title_room)]
        self.elided += [plain.elidedText(line, Qt.TextElideMode.ElideRight, width)
                        for line in self.text.lines]
        # Laid out once: drawing a QStaticText skips the text layout on every repaint.
        self.static = [_static(line) for line in self.elided]
        if self.spark_heights:
            self._elide_last()

    def _elide_last(self) -> None:
        """The last line (the parameter count) again: the sparkline takes its right end."""
        if len(self.elided) < 4:
            return
        room = NODE_WIDTH - 2 * NODE_PADDING
        if self.spark_heights:
            room = self.sparkline_rect().left() - self.rect.left() - NODE_PADDING - 3
        plain = QFontMetricsF(self.style.font)
        self.elided[-1] = plain.elidedText(self.text.lines[-1], Qt.TextElideMode.ElideRight, room)
        self.static[-1] = _static(self.elided[-1])

    def set_ports(self, inputs: list[tuple[Slot, str]], outputs: int,
                  side: list[tuple[Slot, str]] | None = None) -> bool:
        """Rebuild the ports when they differ; returns whether they changed. ``side``: the
        ports of the call's extra tensors (mask, initial_state[0]...), on the left edge."""
        side = side or []
        same_in = [(p.key, p.label) for p in self.inputs] == inputs + side
        if same_in and len(self.outputs) == outputs:
            return False
        for port in self.inputs + self.outputs:
            port.setParentItem(None)
            if port.scene() is not None:
                port.scene().removeItem(port)
        main = [PortItem(self, False, slot, label) for slot, label in inputs]
        extra = [PortItem(self, False, slot, label, side=True) for slot, label in side]
        self.inputs = main + extra
        self.outputs = [PortItem(self, True, i, str(i) if outputs > 1 else "")
                        for i in range(outputs)]
        self._place(main, self.rect.top())
        self._place(self.outputs, self.rect.bottom())
        for i, port in enumerate(extra):
            port.setPos(self.rect.left(), self.rect.top() + self.rect.height() * (i + 1)
                        / (len(extra) + 1))
        self.prepareGeometryChange()
        room = _SIDE_LABEL_SPACE if extra else _EDGE_ROOM
        self._bounds = self.rect.adjusted(-room, -_PORT_LABEL_SPACE, _EDGE_ROOM,
                                          _PORT_LABEL_SPACE)
        self.update()
        return True

    def _place(self, ports: list[PortItem], y: float) -> None:
        for i, port in enumerate(ports):
            port.setPos(self.rect.left() + self.rect.width() * (i + 1) / (len(ports) + 1), y)

    def set_detail(self, detail: bool) -> None:
        """Items skip painting (in C++, no Python call) while the overview draws the graph."""
        self.detail = detail
        self.setFlag(_NO_CONTENTS, not detail)

    def input_port(self, slot: Slot) -> PortItem | None:
        return next((p for p in self.inputs if p.key == slot), None)

    def output_port(self, index: int) -> PortItem | None:
        return next((p for p in self.outputs if p.key == index), None)

    def set_severity(self, severity: str | None, message: str) -> None:
        if severity != self.severity or message != self._problems:
            self.severity = severity
            self._problems = message
            self._update_tooltip()
            self.update()

    def set_search(self, names: tuple[str, ...]) -> None:
        """Show a "⚙n" tag while the layer has search dimensions (names in the tooltip)."""
        if names != self.search_names:
            self.search_names = names
            if self.spark_heights:  # the sparkline moves left of the tag
                self._place_sparkline()
                self._elide_last()
            self._update_tooltip()
            self.update()

    def _update_tooltip(self) -> None:
        search = f"Searched: {', '.join(self.search_names)}" if self.search_names else ""
        flags = "\n".join(f"⚠ {message}" for message in self.flags)
        parts = (flags, self._problems, self.colour_note, search)
        self.setToolTip("\n".join(t for t in parts if t))

    def set_colour(self, fill: QColor | None, hatched: bool = False, note: str = "") -> None:
        """Fill the node with an overlay's colour (None: the plain fill); ``hatched``: the
        overlay has no value for this node. ``note`` goes in the tooltip."""
        if (fill, hatched, note) == (self.fill, self.hatched, self.colour_note):
            return
        self.fill, self.hatched, self.colour_note = fill, hatched, note
        self.ink = None
        if fill is not None and not hatched:
            self.ink = QColor("black") if _luminance(fill) > 0.45 else QColor("white")
        self._update_tooltip()
        self.update()

    def set_flags(self, messages: list[str]) -> None:
        """Training-health flags (dead units, vanishing gradient, NaN/Inf): a badge on the
        node, the messages in its tooltip; [] removes them."""
        if messages != self.flags:
            self.flags = list(messages)
            self._update_tooltip()
            self.update()

    def set_sparkline(self, heights: list[float] | None) -> None:
        """A small histogram (bin heights 0..1) in the node's bottom line; None removes it."""
        heights = [float(h) for h in heights or []]
        if heights == self.spark_heights and len(self.sparkline) == len(heights):
            return
        had = bool(self.spark_heights)
        self.spark_heights = heights
        self._place_sparkline()
        if had != bool(heights):
            self._elide_last()
        self.update()

    def _place_sparkline(self) -> None:
        bars: list[QRectF] = []
        heights = self.spark_heights
        if heights:
            box = self.sparkline_rect()
            width = box.width() / len(heights)
            for i, h in enumerate(heights):
                h = min(1.0, max(0.0, float(h))) if h == h else 0.0
                tall = max(h * box.height(), 0.6 if h > 0 else 0.0)
                bars.append(QRectF(box.left() + i * width, box.bottom() - tall,
                                   max(width - 0.5, 0.5), tall))
        self.sparkline = bars

    def sparkline_rect(self) -> QRectF:
        """Bottom right, on the parameter-count line, left of the search tag."""
        right = self.rect.right() - NODE_PADDING - (34 if self.search_names else 0)
        top = self.rect.bottom() - NODE_PADDING - LINE_HEIGHT + 3
        return QRectF(right - _SPARK_WIDTH, top, _SPARK_WIDTH, LINE_HEIGHT - 5)

    def shows_sparkline(self, lod: float) -> bool:
        """Whether the activation sparkline is drawn at this zoom (with the text)."""
        return bool(self.sparkline) and self.shows_text(lod)

    def set_badge(self, colour: QColor | None, count: int) -> None:
        if colour != self.badge or count != self.badge_count:
            room_changed = (colour is None) != (self.badge is None)
            self.badge, self.badge_count = colour, count
            if room_changed:
                self._elide()
            self.update()

    # ------------------------------------------------------------- drawing
    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        style = self.style
        border, width = self._border()
        painter.setPen(QPen(border, width))
        fill = self.fill if self.fill is not None else style.node_fill
        painter.setBrush(QBrush(fill))
        header = style.header_fill if self.fill is None else fill.darker(112)
        lod = _lod(painter, option)
        if not self.shows_text(lod):
            painter.drawRect(self.rect)
            painter.fillRect(self._header(), header)
            if self.hatched:
                painter.fillRect(self.rect, QBrush(style.dim_text, Qt.BrushStyle.BDiagPattern))
            if self.flags:
                self._draw_flag(painter)
            return
        painter.drawRoundedRect(self.rect, 5, 5)
        painter.fillRect(self._header(), header)
        if self.hatched:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(style.dim_text, Qt.BrushStyle.BDiagPattern))
            painter.drawRoundedRect(self.rect, 5, 5)
            painter.setPen(QPen(border, width))
        if self.is_block:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(self.rect.adjusted(3, 3, -3, -3), 3, 3)
        self._draw_text(painter)
        self._draw_marks(painter)
        if self.search_names:
            self._draw_search_tag(painter)
        if self.sparkline:
            self._draw_sparkline(painter)
        if self.flags:
            self._draw_flag(painter)
        self._draw_port_labels(painter)
        for port in self.inputs + self.outputs:
            paint_port(painter, style, port.pos(), "normal", port.connected, False)

    def shows_text(self, lod: float) -> bool:
        """Whether the node's text is drawn at this zoom (not while a zoom gesture runs)."""
        return lod >= TEXT_LOD and not getattr(self.scene(), "zooming", False)

    def _header(self) -> QRectF:
        return QRectF(self.rect.left() + 1, self.rect.top() + 1, self.rect.width() - 2,
                      LINE_HEIGHT + NODE_PADDING - 1)

    def _border(self) -> tuple[QColor, float]:
        style = self.style
        if self.severity == "error":
            return style.error, 2.5 if not self.isSelected() else 3.5
        if self.severity == "warning":
            return style.warning, 2.5 if not self.isSelected() else 3.5
        if self.isSelected():
            return style.selection, 2.5
        return style.node_border, 1.0

    def _draw_text(self, painter: QPainter) -> None:
        style = self.style
        left = self.rect.left() + NODE_PADDING
        top = self.rect.top() + NODE_PADDING / 2
        for i, line in enumerate(self.static):
            font = style.bold_font if i == 0 else style.font
            painter.setFont(font)
            if self.ink is not None:
                painter.setPen(self.ink)
            else:
                painter.setPen(style.text if i < 2 else style.dim_text)
            y = top + i * LINE_HEIGHT + (NODE_PADDING / 2 if i else 0)
            y += (LINE_HEIGHT - QFontMetricsF(font).height()) / 2
            painter.drawStaticText(QPointF(left, y), line)

    def _draw_marks(self, painter: QPainter) -> None:
        style = self.style
        right = self.rect.right() - NODE_PADDING
        y = self.rect.top() + NODE_PADDING / 2 + LINE_HEIGHT / 2
        if self.severity is not None:
            colour = style.error if self.severity == "error" else style.warning
            painter.setPen(QPen(colour, 1))
            painter.setBrush(QBrush(colour))
            painter.drawEllipse(QPointF(right - 5, y), 5, 5)
            painter.setPen(style.node_fill)
            painter.setFont(style.small_font)
            painter.drawText(QRectF(right - 10, y - 6, 10, 12), Qt.AlignmentFlag.AlignCenter, "!")
            right -= 14
        if self.badge is not None:
            painter.setPen(QPen(self.badge.darker(140), 1))
            painter.setBrush(QBrush(self.badge))
            box = QRectF(right - 18, y - 6, 18, 12)
            painter.drawRoundedRect(box, 6, 6)
            painter.setPen(QColor("black"))
            painter.setFont(style.small_font)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, f"×{self.badge_count}")

    def _draw_flag(self, painter: QPainter) -> None:
        """A round "!" badge on the top-left corner: visible at any zoom, over any fill."""
        centre = QPointF(self.rect.left() + FLAG_RADIUS - _EDGE_ROOM,
                         self.rect.top() - FLAG_RADIUS + _EDGE_ROOM)
        painter.setPen(QPen(QColor("white"), 1.0))
        painter.setBrush(QBrush(self.style.flag))
        painter.drawEllipse(centre, FLAG_RADIUS, FLAG_RADIUS)
        painter.setFont(self.style.bold_font)
        painter.drawText(QRectF(centre.x() - FLAG_RADIUS, centre.y() - FLAG_RADIUS,
                                2 * FLAG_RADIUS, 2 * FLAG_RADIUS),
                         Qt.AlignmentFlag.AlignCenter, "!")

    def _draw_sparkline(self, painter: QPainter) -> None:
        box = self.sparkline_rect()
        ink = self.ink or self.style.dim_text
        back = QColor(self.style.node_fill)
        back.setAlpha(170)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(back))
        painter.drawRect(box.adjusted(-1, -1, 1, 1))
        painter.setBrush(QBrush(self.style.selection))
        painter.drawRects(self.sparkline)
        painter.setPen(QPen(ink, 0.6))
        painter.drawLine(QLineF(box.bottomLeft(), box.bottomRight()))

    def search_tag_rect(self) -> QRectF:
        """Bottom right, on the parameter-count line (short text on the left)."""
        return QRectF(self.rect.right() - NODE_PADDING - 30, self.rect.bottom() - NODE_PADDING
                      - LINE_HEIGHT + 2, 30, LINE_HEIGHT - 2)

    def _draw_search_tag(self, painter: QPainter) -> None:
        box = self.search_tag_rect()
        painter.setPen(QPen(self.style.selection.darker(130), 1))
        painter.setBrush(QBrush(self.style.selection.lighter(170)))
        painter.drawRoundedRect(box, 5, 5)
        painter.setPen(QColor("black"))
        painter.setFont(self.style.small_font)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, f"⚙{len(self.search_names)}")

    def _draw_port_labels(self, painter: QPainter) -> None:
        painter.setFont(self.style.small_font)
        painter.setPen(self.style.dim_text)
        for port in self.inputs + self.outputs:
            if not port.label:
                continue
            if port.side:  # left of the port, just above the edge that comes in level
                room = _SIDE_LABEL_SPACE - PORT_RADIUS - 6
                painter.drawText(QRectF(port.pos().x() - PORT_RADIUS - 3 - room,
                                        port.pos().y() - 15, room, 14),
                                 Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                                 port.label)
                continue
            y = port.pos().y() + (-_PORT_LABEL_SPACE if not port.is_output else 2)
            painter.drawText(QRectF(port.pos().x() + 6, y, 50, 12),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             port.label)

    # ------------------------------------------------------------- changes
    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        scene = self.scene()
        if (change == QGraphicsItem.GraphicsItemChange.ItemPositionChange
                and scene is not None and getattr(scene, "snapping", False)):
            return QPointF(round(value.x() / SNAP) * SNAP, round(value.y() / SNAP) * SNAP)
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.update_path()
            for link in self.links:
                link.update_path()
            if not self.detail and scene is not None:
                scene.overview_changed()  # type: ignore[attr-defined]
        return super().itemChange(change, value)

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        scene = self.scene()
        if scene is not None:
            scene.node_double_clicked(self)  # type: ignore[attr-defined]
        event.accept()


class EdgeItem(QGraphicsItem):
    """A tensor from an output port to an input port, labelled with its shape."""

    def __init__(self, edge_id: str, src: PortItem, dst: PortItem, style: CanvasStyle) -> None:
        super().__init__()
        self.edge_id = edge_id
        self.src = src
        self.dst = dst
        self.style = style
        self.label = ""
        self.static_label = _static("")
        self.error: str | None = None
        self.path = QPainterPath()
        self.mid = QPointF()
        self._label_size = (0.0, 0.0)
        self._bounds = QRectF()
        self._shape: QPainterPath | None = None
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(-1)
        self.update_path()

    def update_path(self) -> None:
        p1, p2 = self.src.scenePos(), self.dst.scenePos()
        bend = max(40.0, abs(p2.y() - p1.y()) * 0.5)
        c1, c2 = QPointF(p1.x(), p1.y() + bend), QPointF(p2.x(), p2.y() - bend)
        if self.dst.side:  # a call argument's port is entered from the left
            c2 = QPointF(p2.x() - bend, p2.y())
        self.prepareGeometryChange()
        self.path = QPainterPath(p1)
        self.path.cubicTo(c1, c2, p2)
        # Edges fanning out of one port share their start: label them where they diverge.
        t = 0.5 if len(self.src.fan_out) < 2 else 0.72
        u = 1 - t
        self.mid = u ** 3 * p1 + 3 * u * u * t * c1 + 3 * u * t * t * c2 + t ** 3 * p2
        self._shape = None
        self._update_bounds()
        # Short edges cache their pixels (pans blit them); a long one would need a huge pixmap.
        small = self._bounds.width() < 1000 and self._bounds.height() < 1000
        mode = (QGraphicsItem.CacheMode.DeviceCoordinateCache if small
                else QGraphicsItem.CacheMode.NoCache)
        if self.cacheMode() != mode:
            self.setCacheMode(mode)

    def label_rect(self) -> QRectF:
        w, h = self._label_size
        return QRectF(self.mid.x() - w / 2, self.mid.y() - h / 2, w, h)

    def _update_bounds(self) -> None:
        bounds = self.path.controlPointRect().adjusted(-3, -3, 3, 3)
        self._bounds = bounds.united(self.label_rect()) if self.label else bounds

    def set_label(self, text: str) -> None:
        if text == self.label:
            return
        self.prepareGeometryChange()
        self.label = text
        self.static_label = _static(text)
        metrics = QFontMetricsF(self.style.small_font)
        self._label_size = (metrics.horizontalAdvance(text) + 8, metrics.height() + 2)
        self._update_bounds()
        self.update()

    def shows_label(self, lod: float) -> bool:
        """Whether the shape label is drawn at this zoom (not while a zoom gesture runs)."""
        return bool(self.label) and lod >= EDGE_LABEL_LOD and not getattr(
            self.scene(), "zooming", False)

    def set_error(self, message: str | None) -> None:
        if message != self.error:
            self.error = message
            self.setToolTip(message or "")
            self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._shape is None:
            stroker = QPainterPathStroker()
            stroker.setWidth(8)
            self._shape = stroker.createStroke(self.path)
            if self.label:
                self._shape.addRect(self.label_rect())
        return self._shape

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        style = self.style
        colour = style.error if self.error else (
            style.selection if self.isSelected() else style.edge)
        pen = QPen(colour, 2.5 if self.isSelected() else 1.5)
        pen.setCosmetic(True)  # stroked by the rasterizer directly: far cheaper on long curves
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        lod = _lod(painter, option)
        if lod < EDGE_DETAIL_LOD:
            painter.drawLine(QLineF(self.path.elementAt(0), self.path.currentPosition()))
            return
        painter.drawPath(self.path)
        if self.shows_label(lod):
            rect = self.label_rect()
            painter.setPen(QPen(colour, 0.8))
            painter.setBrush(QBrush(style.label_fill))
            painter.drawRoundedRect(rect, 4, 4)
            painter.setFont(style.small_font)
            painter.setPen(style.error if self.error else style.text)
            painter.drawStaticText(QPointF(rect.left() + 4, rect.top() + 1), self.static_label)


class SharedLinkItem(QGraphicsItem):
    """A dashed line between two calls of one layer instance (they share weights)."""

    def __init__(self, a: NodeItem, b: NodeItem, colour: QColor) -> None:
        super().__init__()
        self.a, self.b = a, b
        self.colour = colour
        self.line = QLineF()
        self.setZValue(-2)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        a.links.append(self)
        b.links.append(self)
        self.update_path()

    def update_path(self) -> None:
        self.prepareGeometryChange()
        self.line = QLineF(self.a.scenePos(), self.b.scenePos())

    def detach(self) -> None:
        for node in (self.a, self.b):
            if self in node.links:
                node.links.remove(self)

    def boundingRect(self) -> QRectF:
        return QRectF(self.line.p1(), self.line.p2()).normalized().adjusted(-3, -3, 3, 3)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        pen = QPen(self.colour, 2.0, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawLine(self.line)


class DragEdgeItem(QGraphicsItem):
    """The connection being dragged, with the reason when the port under it refuses."""

    def __init__(self, start: QPointF, style: CanvasStyle) -> None:
        super().__init__()
        self.style = style
        self.start = start
        self.end = start
        self.reason = ""
        self.ok = True
        self.setZValue(10)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_end(self, end: QPointF, ok: bool, reason: str) -> None:
        self.prepareGeometryChange()
        self.end, self.ok, self.reason = end, ok, reason
        self.update()

    def boundingRect(self) -> QRectF:
        rect = QRectF(self.start, self.end).normalized().adjusted(-4, -4, 4, 4)
        if self.reason:
            rect = rect.united(QRectF(self.end.x() + 4, self.end.y() + 2, 420, 52))
        return rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        colour = self.style.selection if self.ok else self.style.illegal
        painter.setPen(QPen(colour, 2.0, Qt.PenStyle.DashLine))
        painter.drawLine(QLineF(self.start, self.end))
        if self.reason:
            painter.setFont(self.style.small_font)
            area = QRectF(self.end.x() + 12, self.end.y() + 8, 400, 40)
            box = painter.fontMetrics().boundingRect(
                area.toRect(), Qt.TextFlag.TextWordWrap, self.reason)
            box_f = QRectF(box).adjusted(-4, -2, 4, 2)
            painter.setPen(QPen(self.style.illegal, 1))
            painter.setBrush(QBrush(self.style.node_fill))
            painter.drawRoundedRect(box_f, 3, 3)
            painter.setPen(self.style.illegal)
            painter.drawText(area, Qt.TextFlag.TextWordWrap, self.reason)


class OverviewItem(QGraphicsItem):
    """The whole graph as boxes and straight lines, rendered once into an image.

    Far out, thousands of items each painted through Python cost far more than a
    frame; a zoom or pan step then only scales part of one image (in C++).
    """

    def __init__(self) -> None:
        super().__init__()
        self.image = QImage()
        self._bounds = QRectF()
        self.flagged: list[QPointF] = []  # the top-left corners of flagged nodes
        self.flag_colour = QColor()
        self.setZValue(-0.5)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setVisible(False)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def rebuild(self, style: CanvasStyle, nodes: list[NodeItem], edges: list[EdgeItem]) -> None:
        bounds = QRectF()
        for node in nodes:
            bounds = bounds.united(node.rect.translated(node.pos()))
        bounds = bounds.adjusted(-20, -20, 20, 20)
        # Sharp up to the zoom where items take over; capped so huge graphs stay in memory.
        scale = min(OVERVIEW_ZOOM, OVERVIEW_MAX_PIXELS / max(bounds.width(), bounds.height(), 1))
        image = QImage(max(1, int(bounds.width() * scale)), max(1, int(bounds.height() * scale)),
                       QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.scale(scale, scale)
        painter.translate(-bounds.topLeft())
        pen = QPen(style.edge, 1.0)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.drawLines([QLineF(e.src.scenePos(), e.dst.scenePos()) for e in edges])
        self._draw_boxes(painter, style, nodes)
        painter.end()
        self.prepareGeometryChange()
        self.image = image
        self._bounds = bounds
        # Flags are drawn at a fixed size on top: scaled into the image they would vanish.
        self.flagged = [node.rect.translated(node.pos()).topLeft() for node in nodes
                        if node.flags]
        self.flag_colour = style.flag
        self.update()

    @staticmethod
    def _draw_boxes(painter: QPainter, style: CanvasStyle, nodes: list[NodeItem]) -> None:
        groups: dict[str, list[QRectF]] = {}
        colours = {"normal": style.node_border, "selected": style.selection,
                   "error": style.error, "warning": style.warning}
        for node in nodes:
            rect = node.rect.translated(node.pos())
            kind = node.severity or ("selected" if node.isSelected() else "normal")
            if node.fill is not None and kind != "selected":  # an overlay's colour shows far out
                kind = node.fill.name()
                colours[kind] = node.fill
            groups.setdefault(kind, []).append(rect)
        for kind, rects in groups.items():
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(colours[kind]))
            painter.drawRects(rects)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(self._bounds, self.image)
        if self.flagged:
            transform = painter.worldTransform()
            painter.resetTransform()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(QColor("white"), 1.0))
            painter.setBrush(QBrush(self.flag_colour))
            for corner in self.flagged:
                painter.drawEllipse(transform.map(corner), 5.0, 5.0)
            painter.setTransform(transform)
