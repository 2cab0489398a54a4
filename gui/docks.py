"""Docks of the main window: the one way to add a panel as a dock, and room for plot docks.

Every panel of the window (palette, inspector, summary, code, diagnostics, history,
training, runs, search) is added with :func:`add_dock`: a dock named for the saved layout,
with a View-menu toggle that has a shortcut and says what it shows. A plot dock shares the
bottom strip with Diagnostics; :func:`grow_when_shown` gives it room for its plots when it
comes to the front, and :func:`bring_forward` shows it from a menu.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

# Height a plot dock (training, runs, search) gets when it is brought to the front.
PLOT_DOCK_HEIGHT = 340
# A plot dock's own minimum: its plots' tall minimums must not keep the shared strip tall.
PLOT_DOCK_MIN_HEIGHT = 60


def add_dock(window: QMainWindow, title: str, name: str, widget: QWidget,
             area: Qt.DockWidgetArea, shortcut: str, *, what: str = "",
             tab_with: QDockWidget | None = None) -> QDockWidget:
    """Add ``widget`` to ``window`` in a dock titled ``title``.

    ``name`` keys the dock in the saved layout; ``shortcut`` toggles it, and its tooltip
    says it shows or hides ``what`` (the lower-cased title by default). With ``tab_with``
    the dock becomes a tab behind that one, which stays in front.
    """
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(widget)
    window.addDockWidget(area, dock)
    if tab_with is not None:
        window.tabifyDockWidget(tab_with, dock)
        tab_with.raise_()
    toggle = dock.toggleViewAction()
    toggle.setShortcut(QKeySequence(shortcut))
    toggle.setToolTip(f"Show or hide the {what or title.lower()} panel ({shortcut})")
    return dock


def grow_when_shown(window: QMainWindow, dock: QDockWidget,
                    then: Callable[[], object] | None = None) -> None:
    """Give the plot dock room for its plots each time it comes to the front (after the
    layout settles); ``then`` runs once it has grown."""
    widget = dock.widget()
    if widget is not None:
        widget.setMinimumHeight(PLOT_DOCK_MIN_HEIGHT)

    def shown(visible: bool) -> None:
        if visible and needs_room(dock):
            QTimer.singleShot(0, window, lambda: _grow(window, dock, then))

    dock.visibilityChanged.connect(shown)


def needs_room(dock: QDockWidget) -> bool:
    return not dock.isFloating() and dock.height() < PLOT_DOCK_HEIGHT * 3 // 4


def make_room(window: QMainWindow, dock: QDockWidget) -> None:
    if needs_room(dock):
        window.resizeDocks([dock], [PLOT_DOCK_HEIGHT], Qt.Orientation.Vertical)


def bring_forward(window: QMainWindow, dock: QDockWidget) -> None:
    """Show the dock in front of its tabs, with room for its plots."""
    dock.show()
    dock.raise_()
    make_room(window, dock)


def _grow(window: QMainWindow, dock: QDockWidget, then: Callable[[], object] | None) -> None:
    window.resizeDocks([dock], [PLOT_DOCK_HEIGHT], Qt.Orientation.Vertical)
    if then is not None:
        then()
