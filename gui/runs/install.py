"""Adds the runs panel to a MainWindow: a dock under the canvas, a Runs menu, and the canvas
selection wired to the activation viewer. ``MainWindow`` calls :func:`install_runs` once."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDockWidget, QMenu

from ..menus import add_entries, install_menu
from .panel import RunsPanel

DOCK_SHORTCUT = "Ctrl+Alt+8"
DOCK_HEIGHT = 320  # plots need room; the diagnostics strip it shares the area with is low


def install_runs(window: Any) -> RunsPanel:
    """Create the runs dock and menu on ``window``; returns the panel (``window.runs_panel``).

    A training panel at ``window.training`` with ``run_started(run_dir)`` /
    ``run_finished(result)`` signals is connected to ``panel.show_run``, so a new run is
    listed, selected and followed as it trains; other sources call ``show_run`` themselves.
    """
    panel = RunsPanel(window.session, files=window.files, parent=window)
    dock = _make_dock(window, panel)
    window.docks["runs"] = dock
    window.runs_panel = panel
    _add_menu(window, panel, dock)
    panel.message.connect(lambda text: window.statusBar().showMessage(text, 5000))
    training = getattr(window, "training", None)
    for name in ("run_started", "run_finished"):
        signal = getattr(training, name, None)
        if signal is not None:
            signal.connect(panel.show_run)
    if getattr(window, "has_canvas", False):
        view = window.view
        view.selection_changed.connect(lambda ids: panel.show_node(ids, view.graph_key))
        view.graph_key_changed.connect(lambda key: panel.show_node([], key))
    return panel


def _make_dock(window: Any, panel: RunsPanel) -> QDockWidget:
    dock = QDockWidget("Runs", window)
    dock.setObjectName("runsDock")
    dock.setWidget(panel)
    window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    diagnostics = window.docks.get("diagnostics")
    if diagnostics is not None:
        window.tabifyDockWidget(diagnostics, dock)
        diagnostics.raise_()
    toggle = dock.toggleViewAction()
    toggle.setShortcut(QKeySequence(DOCK_SHORTCUT))
    toggle.setToolTip(f"Show or hide the runs panel ({DOCK_SHORTCUT})")
    dock.visibilityChanged.connect(lambda visible: _make_room(window, dock, visible))
    return dock


def _make_room(window: Any, dock: QDockWidget, visible: bool) -> None:
    if visible and not dock.isFloating() and dock.height() < DOCK_HEIGHT * 3 // 4:
        window.resizeDocks([dock], [DOCK_HEIGHT], Qt.Orientation.Vertical)


def show_runs(window: Any, dock: QDockWidget) -> None:
    dock.show()
    dock.raise_()
    _make_room(window, dock, True)


def _add_menu(window: Any, panel: RunsPanel, dock: QDockWidget) -> QMenu:
    menu = QMenu("&Runs", window)
    entries = [
        ("Show runs", lambda: show_runs(window, dock), "List the training runs of the project"),
        ("Refresh", panel.refresh, "Read the run folder again"),
        ("Choose run folder…", panel.choose_folder, "List the runs of another folder"),
        None,
        ("Load run's best model", panel.load_model,
         "Open the selected run's best.keras with its weights as a new document"),
        ("Open run's project snapshot", panel.open_snapshot,
         "Open the project as it was when the selected run started"),
        ("Open run in TensorBoard", panel.open_tensorboard,
         "Start TensorBoard on the selected run's logs and open the browser"),
    ]
    window.runs_actions = add_entries(window, menu, entries)
    install_menu(window, menu, dock)
    return menu
