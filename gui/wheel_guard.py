"""The mouse wheel scrolls a form instead of changing the spin box or list under the pointer.

Qt gives a spin box or combo box every wheel event over it, focused or not, so scrolling the
Training dock's settings quietly changed the batch size, one undoable edit per notch. As in
most desktop apps, a field takes the wheel only once the user has clicked into it; otherwise
the wheel goes to the scroll area around it.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent, QObject
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QComboBox, QWidget


class WheelGuard(QObject):
    """An application-wide event filter; see the module docstring."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Wheel:
            return False
        if not isinstance(watched, QAbstractSpinBox | QComboBox) or watched.hasFocus():
            return False
        area = _scroll_area_around(watched)
        if area is not None:
            QCoreApplication.sendEvent(area.viewport(), event)
        return True


def _scroll_area_around(widget: QWidget) -> QAbstractScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QAbstractScrollArea):
        parent = parent.parentWidget()
    return parent


def install_wheel_guard(app: QObject) -> WheelGuard:
    guard = WheelGuard(app)
    app.installEventFilter(guard)
    return guard
