"""Adds the tuning panel to a MainWindow: a dock, a Search menu and a View toggle.
``MainWindow`` calls :func:`install_tuning` once."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu

from ..menus import add_entries, install_menu
from .panel import TuningPanel

DOCK_SHORTCUT = "Ctrl+Alt+9"
DOCK_HEIGHT = 340


class _StopOnClose(QObject):
    """Closing the window stops a running study (its trial is queued again)."""

    def __init__(self, panel: TuningPanel, parent: QObject) -> None:
        super().__init__(parent)
        self.panel = panel

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            self.panel.shutdown()
        return False


def install_tuning(window: Any) -> TuningPanel:
    """Create the tuning dock and Search menu on ``window``; returns the panel
    (also ``window.tuning_panel``; the dock is ``window.docks["tuning"]``)."""
    panel = TuningPanel(window.session, parent=window)
    dock = _make_dock(window, panel)
    window.docks["tuning"] = dock
    window.tuning_panel = panel
    _add_menu(window, panel, dock)
    panel.message.connect(lambda text: window.statusBar().showMessage(text, 5000))
    window.installEventFilter(_StopOnClose(panel, window))
    return panel


def _make_dock(window: Any, panel: TuningPanel) -> QDockWidget:
    dock = QDockWidget("Search", window)
    dock.setObjectName("tuningDock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    neighbour = window.docks.get("training") or window.docks.get("diagnostics")
    if neighbour is not None:
        window.tabifyDockWidget(neighbour, dock)
        neighbour.raise_()
    toggle = dock.toggleViewAction()
    toggle.setText("Search (hyperparameters)")
    toggle.setShortcut(QKeySequence(DOCK_SHORTCUT))
    toggle.setToolTip(f"Show or hide the hyperparameter search panel ({DOCK_SHORTCUT})")
    return dock


def show_tuning(window: Any, dock: QDockWidget) -> None:
    dock.show()
    dock.raise_()
    if not dock.isFloating() and dock.height() < DOCK_HEIGHT * 3 // 4:
        window.resizeDocks([dock], [DOCK_HEIGHT], Qt.Orientation.Vertical)


def _add_menu(window: Any, panel: TuningPanel, dock: QDockWidget) -> QMenu:
    menu = QMenu("&Search", window)
    menu.setObjectName("searchMenu")

    def showing(slot: Any) -> Any:
        def run() -> Any:
            show_tuning(window, dock)
            return slot()
        return run

    entries = [
        ("Run study", showing(panel.run_study),
         "Run (or resume) the hyperparameter study over the search space"),
        ("Stop study", panel.stop_study, "Stop the study after the current batch"),
        ("Apply best trial", showing(panel.apply_best),
         "Write the best trial's values into the model (one undoable edit)"),
        None,
        ("Build ensemble…", panel.open_ensemble_dialog,
         "Combine two or more trained runs or trials into one model"),
    ]
    window.tuning_actions = add_entries(window, menu, entries)
    stop, apply_ = window.tuning_actions["Stop study"], window.tuning_actions["Apply best trial"]
    stop.setEnabled(False)
    apply_.setEnabled(False)
    panel.running_changed.connect(stop.setEnabled)
    panel.can_apply_changed.connect(apply_.setEnabled)
    menu.addSeparator()
    menu.addAction(dock.toggleViewAction())
    install_menu(window, menu, dock)
    return menu
