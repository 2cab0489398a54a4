"""Adds the tuning panel to a MainWindow: a dock, a Search menu and a View toggle.
``MainWindow`` calls :func:`install_tuning` once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMenu

from ..docks import add_dock, bring_forward
from ..menus import add_entries, install_menu
from ..seams import PanelHost
from .panel import TuningPanel

DOCK_SHORTCUT = "Ctrl+Alt+9"


class _StopOnClose(QObject):
    """Closing the window stops a running study (its trial is queued again)."""

    def __init__(self, panel: TuningPanel, parent: QObject) -> None:
        super().__init__(parent)
        self.panel = panel

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close:
            self.panel.shutdown()
        return False


def install_tuning(window: PanelHost) -> TuningPanel:
    """Create the tuning dock (``window.docks["tuning"]``) and Search menu on ``window``;
    returns the panel."""
    panel = TuningPanel(window.session, parent=window)
    dock = add_dock(window, "Search", "tuningDock", panel,
                    Qt.DockWidgetArea.BottomDockWidgetArea, DOCK_SHORTCUT,
                    what="hyperparameter search", tab_with=window.docks["training"])
    dock.toggleViewAction().setText("Search (hyperparameters)")
    window.docks["tuning"] = dock
    _add_menu(window, panel, dock)
    panel.message.connect(lambda text: window.statusBar().showMessage(text, 5000))
    # a front point is compared on the window's canvas (File → Compare With…'s colours)
    panel.pareto.find_comparison = lambda: getattr(window, "comparison", None)
    window.installEventFilter(_StopOnClose(panel, window))
    return panel


def _add_menu(window: PanelHost, panel: TuningPanel, dock: QDockWidget) -> QMenu:
    menu = QMenu("&Search", window)
    menu.setObjectName("searchMenu")

    def showing(slot: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            bring_forward(window, dock)
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
        ("Open dashboard", showing(panel.open_dashboard),
         "Start optuna-dashboard on the study's storage and show its address"),
    ]
    actions: dict[str, QAction] = add_entries(window, menu, entries)
    stop, apply_ = actions["Stop study"], actions["Apply best trial"]
    stop.setEnabled(False)
    apply_.setEnabled(False)
    panel.running_changed.connect(stop.setEnabled)
    panel.can_apply_changed.connect(apply_.setEnabled)
    menu.addSeparator()
    menu.addAction(dock.toggleViewAction())
    install_menu(window.menuBar(), menu, dock)
    return menu
