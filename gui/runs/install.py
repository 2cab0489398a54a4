"""Adds the runs panel to a MainWindow: a dock under the canvas, a Runs menu, and the canvas
selection wired to the activation viewer. ``MainWindow`` calls :func:`install_runs` once."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMenu

from ..canvas.colouring import ColouringCombo, install_colouring
from ..compare import Comparison
from ..docks import add_dock, bring_forward
from ..menus import add_entries, install_menu
from ..seams import PanelHost
from .health import HealthOverlay
from .panel import RunsPanel

DOCK_SHORTCUT = "Ctrl+Alt+8"


def install_runs(window: PanelHost) -> RunsPanel:
    """Create the runs dock (``window.docks["runs"]``) and menu on ``window``; returns the
    panel.

    The training panel's ``run_started(run_dir)`` / ``run_finished(result)`` signals are
    connected to ``panel.show_run``, so a new run is listed, selected and followed as it
    trains; other sources call ``show_run`` themselves. Its ``health_reported(report)``
    colours the canvas (View → Colour Nodes By, made here if the window has none yet).
    """
    # The window's File → Compare With… colouring (a child of the window), reused by the
    # architecture diff's "Show on canvas".
    comparison = window.findChild(Comparison)  # type: ignore[attr-defined]
    panel = RunsPanel(window.session, files=window.files, parent=window,
                      comparison=comparison)
    dock = add_dock(window, "Runs", "runsDock", panel, Qt.DockWidgetArea.BottomDockWidgetArea,
                    DOCK_SHORTCUT, tab_with=window.docks["diagnostics"])
    window.docks["runs"] = dock
    _add_menu(window, panel, dock)
    panel.message.connect(lambda text: window.statusBar().showMessage(text, 5000))
    window.training.run_started.connect(panel.show_run)
    window.training.run_finished.connect(panel.show_run)
    view = window.view
    view.selection_changed.connect(lambda ids: panel.show_node(ids, view.graph_key))
    view.graph_key_changed.connect(lambda key: panel.show_node([], key))
    _install_health(window, panel)
    return panel


def _install_health(window: PanelHost, panel: RunsPanel) -> HealthOverlay:
    """Training health on the canvas: each epoch's report while a run trains (gone when
    the next run starts), or the epoch on the Health tab's slider for a listed run. One
    overlay per window, whichever runs panel replays."""
    overlay = window.findChild(HealthOverlay)  # type: ignore[attr-defined]
    if overlay is None:
        colouring = install_colouring(window)
        overlay = HealthOverlay(window.view, colouring, parent=window)  # type: ignore[arg-type]
        window.training.add_colouring_choice(ColouringCombo(colouring))
        window.training.health_reported.connect(overlay.show_live)
        window.training.run_started.connect(lambda _run_dir: overlay.clear())
    panel.health.report_chosen.connect(overlay.show_report)
    panel.health_overlay = overlay
    return overlay


def _add_menu(window: PanelHost, panel: RunsPanel, dock: QDockWidget) -> QMenu:
    menu = QMenu("&Runs", window)
    entries = [
        ("Show runs", lambda: bring_forward(window, dock),
         "List the training runs of the project"),
        ("Refresh", panel.refresh, "Read the run folder again"),
        ("Choose run folder…", panel.choose_folder, "List the runs of another folder"),
        None,
        ("Load run's best model", panel.load_model,
         "Open the selected run's best checkpoint with its weights as a new document"),
        ("Open run's project snapshot", panel.open_snapshot,
         "Open the project as it was when the selected run started"),
        ("Open run in TensorBoard", panel.open_tensorboard,
         "Start TensorBoard on the selected run's logs and open the browser"),
        ("Compare architectures of two runs", panel.compare_architectures,
         "List what changed in the model between the two selected runs"),
    ]
    add_entries(window, menu, entries)
    install_menu(window.menuBar(), menu, dock)
    return menu
