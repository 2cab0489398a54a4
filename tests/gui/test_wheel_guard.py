"""Scrolling the Training dock's settings with the mouse wheel scrolls them: a spin box under
the pointer changes (one undoable edit per notch) only once the user has clicked into it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from user_steps import LEFT

from layerforge.gui.app import make_application
from layerforge.gui.wheel_guard import WheelGuard


@pytest.fixture
def guarded_app() -> Iterator[Any]:
    """The app as `layerforge` makes it (the guard installed), as before afterwards."""
    app = make_application()
    yield app
    for guard in app.findChildren(WheelGuard):
        app.removeEventFilter(guard)
        guard.setParent(None)


def wheel_down(widget: Any, notches: int = 3) -> None:
    centre = QPointF(widget.rect().center())
    for _ in range(notches):
        event = QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                            QPoint(0, -120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_past_a_spin_box_until_it_is_clicked(guarded_app: Any, window: Any,
                                                                qtbot: Any) -> None:
    window.docks["training"].show()
    window.docks["training"].raise_()
    window.training.tabs.setCurrentIndex(1)
    batch = window.training.settings_editor.batch_size
    qtbot.waitUntil(batch.isVisible)
    window.view.setFocus()
    before = window.session.doc.training.batch_size
    wheel_down(batch)
    assert batch.value() == before
    assert window.session.doc.training.batch_size == before
    assert window.session.undo_stack.count() == 0
    # Clicked into, the field takes the wheel as Qt's spin boxes do.
    qtbot.mouseClick(batch.lineEdit(), LEFT)
    qtbot.waitUntil(batch.hasFocus)
    wheel_down(batch, 2)
    qtbot.waitUntil(lambda: batch.value() == before - 2)
