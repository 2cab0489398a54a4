"""A multi-objective study from the Search dock, driven like a user: tick "parameters",
run it, see the Pareto front plotted and listed, click a front point to see that trial's
model compared on the canvas, Apply it as one undo step; the Dashboard button names a
missing package."""

from __future__ import annotations

import os
import signal
import urllib.request
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from window_support import search_dense_units

from layerforge.core.tuning import dashboard as dashboard_module
from layerforge.gui.compare import Halo

STUDY_TIMEOUT_MS = 300_000  # trials start child processes on a shared, busy machine


def click(widget: Any, pos: QPoint | None = None) -> None:
    assert widget.isVisible() and widget.isEnabled(), f"{widget!r} cannot be clicked"
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos or widget.rect().center())


def dense(window: Any) -> Any:
    return next(la for la in window.session.doc.graph.layers.values() if la.name == "dense")


@pytest.fixture
def searched_mlp(window: Any, isolated: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Any:
    """sequential-mlp saved in tmp_path, tiny synthetic data, dense.units searched."""
    search_dense_units(window, isolated, monkeypatch, batch_size=32, samples=64)
    dock = window.docks["tuning"]
    dock.show()
    dock.setFloating(True)  # room for the plot beside the front's table
    dock.resize(1300, 650)
    dock.raise_()
    return window


def canvas_point(plot: Any, number: int) -> QPoint:
    """Where a front trial's point is on the plot's Qt widget (matplotlib counts pixels
    from the bottom, in device pixels)."""
    x, y = plot.front_position(number)
    ratio = plot.canvas.device_pixel_ratio
    return QPoint(round(x / ratio), round((plot.figure.bbox.height - y) / ratio))


def test_a_front_point_opens_its_model_as_a_comparison_and_applies(
        searched_mlp: Any, qtbot: Any) -> None:
    window = searched_mlp
    panel = window.tuning_panel
    qtbot.waitUntil(panel.run_button.isVisible, timeout=3000)
    panel.n_trials.setValue(4)
    click(panel.cost_boxes["params"], QPoint(6, panel.cost_boxes["params"].height() // 2))
    assert panel.options()["objectives"] == ["val_loss", "params"]
    with qtbot.waitSignal(panel.study_finished, timeout=STUDY_TIMEOUT_MS) as finished:
        click(panel.run_button)
    summary = finished.args[0]
    assert panel.error_text() == ""
    assert summary.objectives == ["val_loss", "params"] and summary.front_numbers
    assert sum(t.state == "complete" for t in summary.trials) == 4
    assert panel.trial_values() == [f"{t.values[0]:.4g}, {t.values[1]:.4g}"
                                    for t in summary.trials]

    # the Pareto tab: every complete trial plotted, the front highlighted and listed
    pareto = panel.pareto
    assert panel.tabs.currentWidget() is pareto
    plot = pareto.plot
    assert plot.stack.currentWidget() is plot.canvas
    assert [n for n, _, _ in plot.points] == [t.number for t in summary.trials]
    assert sorted(n for n, _, _ in plot.front) == summary.front_numbers
    assert plot.axes.get_xlabel() == "params (minimize)"
    assert plot.axes.get_ylabel() == "val_loss (minimize)"
    assert pareto.front_numbers() == summary.front_numbers

    # the front's smallest model has the fewest units: not the open model's 32
    smallest = min(summary.front, key=lambda t: t.values[1])
    units = smallest.params["dense.units"]
    assert units < 32
    qtbot.waitUntil(lambda: plot.canvas.isVisible() and plot.canvas.width() > 100,
                    timeout=3000)
    click(plot.canvas, canvas_point(plot, smallest.number))
    comparison = window.comparison
    assert comparison.active and pareto.chosen.number == smallest.number
    changed = {layer.name: layer for layer in comparison.diff.graph.changed}
    assert set(changed) == {"dense"}
    assert [(c.field, c.old, c.new) for c in changed["dense"].changes] == [
        ("units", units, 32)]
    node = window.view.canvas_scene.nodes[window.session.doc.graph.calls_of(
        dense(window).id)[0].id]
    assert any(isinstance(m, Halo) and m.parentItem() is node for m in comparison.marks)
    assert f"trial {smallest.number}" in window.compare_label.text()

    # Apply: the trial's units in the model, one undo step; the comparison is cleared
    count = window.session.undo_stack.count()
    click(pareto.apply_button)
    assert dense(window).params["units"] == units
    assert window.session.undo_stack.count() == count + 1
    assert not comparison.active and not comparison.marks
    window.session.undo_stack.undo()
    assert dense(window).params["units"] == 32


def test_the_dashboard_button_names_a_missing_package(searched_mlp: Any, qtbot: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    real = dashboard_module.importlib.util.find_spec
    monkeypatch.setattr(dashboard_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "optuna_dashboard" else real(name, *a))
    panel = searched_mlp.tuning_panel
    qtbot.waitUntil(panel.dashboard_button.isVisible, timeout=3000)
    click(panel.dashboard_button)
    qtbot.waitUntil(lambda: panel.error_text() != "", timeout=10_000)
    assert panel.error_text() == ("the dashboard needs the optuna-dashboard package, which is "
                                  "not installed: pip install optuna-dashboard")
    assert panel.dashboard_button.isEnabled() and panel.dashboard is None


def test_the_dashboard_button_shows_the_address_it_serves(searched_mlp: Any, qtbot: Any) -> None:
    panel = searched_mlp.tuning_panel
    optuna.create_study(storage=panel.options()["storage"], study_name="mlp",
                        directions=["minimize", "minimize"])
    qtbot.waitUntil(panel.dashboard_button.isVisible, timeout=3000)
    click(panel.dashboard_button)
    qtbot.waitUntil(lambda: panel.dashboard is not None or panel.error_text() != "",
                    timeout=30_000)
    assert panel.error_text() == ""
    board = panel.dashboard
    try:
        assert f'<a href="{board.url}">' in panel.status.text()
        assert f"kill {board.pid}" in panel.status.text()
        with urllib.request.urlopen(board.url + "api/studies", timeout=10) as answer:
            assert '"study_name": "mlp"' in answer.read().decode()
    finally:
        os.kill(board.pid, signal.SIGTERM)
