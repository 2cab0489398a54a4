"""Hyperparameter search and ensembles from the window, driven like a user: mark a Dense's
units as a search dimension with the inspector's ⚙ button (badge on the canvas, Ctrl+Z),
refusals shown, a 3-trial study from the Search panel (trials table, plots), Apply best
trial as one undo step, and an ensemble of two trials built and exported from its dialog."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from user_steps import action_in
from window_support import search_dense_units

from layerforge.core.document.records import to_records
from layerforge.core.document.search_space import Dimension
from layerforge.gui.tuning import ensemble_dialog
from layerforge.gui.tuning.worker import StudyWorker, _Reporter

STUDY_TIMEOUT_MS = 240_000  # three trials trace their step functions on a shared, busy machine
TASK_TIMEOUT_MS = 120_000


def panel_of(window: Any) -> Any:
    return window.tuning_panel


def search_entry(window: Any, text: str) -> Any:
    """An entry of the Search menu, as the user finds it."""
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Search")
    return action_in(menu, text)


def dense_node(window: Any, name: str = "dense") -> tuple[str, str]:
    doc = window.session.doc
    layer = next(la for la in doc.graph.layers.values() if la.name == name)
    return layer.id, doc.graph.calls_of(layer.id)[0].id


def click(widget: Any, pos: QPoint | None = None) -> None:
    assert widget.isVisible() and widget.isEnabled(), f"{widget!r} cannot be clicked"
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos or widget.rect().center())


def type_into(edit: Any, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, text)


def open_units_dialog(window: Any, qtbot: Any) -> Any:
    _layer_id, node_id = dense_node(window)
    window.view.select_nodes([node_id])
    button = window.inspector.search_buttons["units"]
    qtbot.waitUntil(button.isVisible, timeout=3000)  # the form's new row is laid out
    click(button)
    qtbot.waitUntil(lambda: button.dialog is not None and button.dialog.isVisible(),
                    timeout=3000)
    return button.dialog


def test_mark_units_in_the_inspector_shows_a_badge_and_undoes(window: Any, qtbot: Any) -> None:
    window.open_template("sequential-mlp")
    layer_id, node_id = dense_node(window)
    dialog = open_units_dialog(window, qtbot)
    assert dialog.kind.currentData() == "int", "units start as an integer range"
    type_into(dialog.low, "16")
    type_into(dialog.high, "64")
    type_into(dialog.step, "16")
    click(dialog.ok_button)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=3000)
    doc = window.session.doc
    assert list(doc.search_space) == [Dimension("units", "int", 16, 64, step=16,
                                                layer_id=layer_id)]
    item = window.view.canvas_scene.nodes[node_id]
    assert item.search_names == ("units",)
    assert "Searched: units" in item.toolTip()
    assert window.inspector.search_buttons["units"].isChecked()
    other = dense_node(window, "dense_1")[1]
    assert window.view.canvas_scene.nodes[other].search_names == ()
    # the project file keeps it
    assert to_records(doc)["search_space"][0]["param"] == "units"

    window.view.setFocus()
    QTest.keySequence(window, QKeySequence(QKeySequence.StandardKey.Undo))
    assert len(doc.search_space) == 0
    assert item.search_names == () and "Searched" not in item.toolTip()
    assert not window.inspector.search_buttons["units"].isChecked()
    QTest.keySequence(window, QKeySequence("Ctrl+Shift+Z"))
    assert item.search_names == ("units",)


def test_a_range_that_does_not_fit_is_refused_in_the_dialog(window: Any, qtbot: Any) -> None:
    window.open_template("sequential-mlp")
    dialog = open_units_dialog(window, qtbot)
    type_into(dialog.low, "64")
    type_into(dialog.high, "16")
    click(dialog.ok_button)
    assert dialog.isVisible() and dialog.message.isVisible()
    assert "expected low < high; received 64..16" in dialog.message.text()
    type_into(dialog.high, "lots")
    click(dialog.ok_button)
    assert "high expected a number" in dialog.message.text()
    assert "'lots'" in dialog.message.text()
    assert len(window.session.doc.search_space) == 0
    assert window.session.undo_stack.count() == 0
    dialog.reject()


def test_training_dimension_from_the_panel_and_unmark(window: Any, qtbot: Any) -> None:
    window.open_template("sequential-mlp")
    panel = panel_of(window)
    window.docks["tuning"].show()
    window.docks["tuning"].raise_()
    button = panel.setting_buttons["optimizer"]
    qtbot.waitUntil(button.isVisible, timeout=3000)
    click(button)
    qtbot.waitUntil(lambda: button.dialog is not None, timeout=3000)
    dialog = button.dialog
    assert dialog.kind.currentData() == "choice"
    type_into(dialog.choices, "adam, sgd, nonsense")
    click(dialog.ok_button)
    assert "expected optimizers among" in dialog.message.text()
    assert "'nonsense'" in dialog.message.text()
    type_into(dialog.choices, "adam, sgd")
    click(dialog.ok_button)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=3000)
    doc = window.session.doc
    assert list(doc.search_space) == [Dimension("optimizer", "choice", choices=("adam", "sgd"))]
    assert panel.space_table.rowCount() == 1
    assert panel.space_table.item(0, 0).text() == "optimizer"
    assert button.isChecked()
    panel.space_table.selectRow(0)
    click(panel.unmark_button)
    assert len(doc.search_space) == 0 and panel.space_table.rowCount() == 0
    assert window.session.undo_stack.count() == 2


def test_running_without_a_search_space_shows_the_error(window: Any, qtbot: Any) -> None:
    window.open_template("sequential-mlp")
    panel = panel_of(window)
    window.docks["tuning"].show()
    window.docks["tuning"].raise_()
    qtbot.waitUntil(panel.run_button.isVisible, timeout=3000)
    with qtbot.waitSignal(panel.running_changed, timeout=TASK_TIMEOUT_MS,
                          check_params_cb=lambda running: not running):
        click(panel.run_button)
    assert "expected a search space" in panel.error_text()
    assert panel.run_button.isEnabled() and not panel.stop_button.isEnabled()
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Search")
    assert [a.text() for a in menu.actions() if a.text()][:4] == [
        "Run study", "Stop study", "Apply best trial", "Build ensemble…"]
    assert not search_entry(window, "Apply best trial").isEnabled()


def test_epoch_reports_are_throttled_and_the_last_one_arrives(window: Any) -> None:
    worker = StudyWorker(window.session.doc, {})
    seen: list[tuple[int, int]] = []
    worker.epoch_ended.connect(lambda n, e, logs: seen.append((n, e)))
    reporter = _Reporter(worker, interval=60.0)
    for epoch in range(5):
        reporter.on_epoch_end(0, epoch, {"val_loss": 1.0 / (epoch + 1)})
    assert seen == [(0, 0)], "one report per interval"
    reporter.on_trial_end(SimpleNamespace(number=0, state="complete"))
    assert seen == [(0, 0), (0, 4)], "the trial's last epoch is always shown"


# ------------------------------------------------------------------ a real study
@pytest.fixture
def searched_mlp(window: Any, isolated: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Any:
    """sequential-mlp saved in tmp_path, tiny synthetic data, dense.units searched."""
    return search_dense_units(window, isolated, monkeypatch, batch_size=16, samples=96)


def check_item(widget: Any, row: int) -> None:
    """Click a list item's check box."""
    item = widget.item(row)
    rect = widget.visualItemRect(item)
    click(widget.viewport(), QPoint(rect.left() + 10, rect.center().y()))
    assert item.checkState() == Qt.CheckState.Checked, f"row {row} was not ticked"


@pytest.mark.slow
def test_study_apply_best_and_ensemble(searched_mlp: Any, isolated: SimpleNamespace,
                                       qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    window = searched_mlp
    panel = panel_of(window)
    window.docks["tuning"].show()
    window.docks["tuning"].raise_()
    qtbot.waitUntil(panel.run_button.isVisible, timeout=3000)
    type_into(panel.n_trials.lineEdit(), "3")
    panel.sampler.setCurrentText("random")
    assert panel.options()["n_trials"] == 3
    with qtbot.waitSignal(panel.study_finished, timeout=STUDY_TIMEOUT_MS) as finished:
        click(panel.run_button)
        assert panel.stop_button.isEnabled() and not panel.run_button.isEnabled()
    summary = finished.args[0]
    assert panel.error_text() == ""
    assert panel.trials.rowCount() == 3
    assert [panel.trials.item(r, 0).text() for r in range(3)] == ["0", "1", "2"]
    assert all(v for v in panel.trial_values()), panel.trial_values()
    assert [float(v) for v in panel.trial_values()] == pytest.approx(
        [t.value for t in summary.trials], rel=1e-3)
    assert (isolated.path / "mlp.optuna.db").exists()
    trial_dirs = sorted((isolated.path / "mlp.runs" / "study-mlp").iterdir())
    assert [d.name for d in trial_dirs] == ["trial-0000", "trial-0001", "trial-0002"]
    assert len(panel.history_plot.points) == 3
    units = {t.params["dense.units"] for t in summary.trials}
    if len(units) > 1:
        assert set(panel.importance_plot.importances) == {"dense.units"}

    # Apply best trial: exactly the searched parameter changes, as one undo step
    doc = window.session.doc
    before = to_records(doc)
    count = window.session.undo_stack.count()
    best = summary.best
    click(panel.apply_button)
    assert window.session.undo_stack.count() == count + 1
    after = to_records(doc)
    expected = json.loads(json.dumps(before))
    for layer in expected["graph"]["layers"]:
        if layer["name"] == "dense":
            layer["params"]["units"] = best.params["dense.units"]
    assert after == expected
    window.view.setFocus()
    QTest.keySequence(window, QKeySequence(QKeySequence.StandardKey.Undo))
    assert to_records(doc) == before

    # an ensemble of two trials, built and exported from the dialog
    click(panel.ensemble_button)
    dialog = panel.ensemble_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=3000)
    assert dialog.runs.count() == 3
    assert not dialog.build_button.isEnabled()
    check_item(dialog.runs, 0)
    check_item(dialog.runs, 1)
    click(dialog.build_button)
    assert not dialog.build_button.isEnabled(), "no second build while one runs"
    qtbot.waitUntil(lambda: dialog.ensemble is not None or dialog.error.isVisible(),
                    timeout=TASK_TIMEOUT_MS)
    assert not dialog.error.isVisible(), dialog.error.text()
    assert dialog.results.rowCount() == 3
    weights = dialog.weights_shown()
    assert len(weights) == 2 and all(w >= 0 for w in weights)
    assert sum(weights) == pytest.approx(1.0, abs=2e-3)
    assert sum(dialog.ensemble.weights) == pytest.approx(1.0)
    assert dialog.results.item(2, 0).text() == "ensemble"

    target = isolated.path / "ensemble.keras"
    monkeypatch.setattr(ensemble_dialog, "choose_export_path", lambda *a: str(target))
    click(dialog.with_code, QPoint(8, dialog.with_code.height() // 2))
    click(dialog.export_button)
    qtbot.waitUntil(lambda: dialog.exported is not None or dialog.error.isVisible(),
                    timeout=TASK_TIMEOUT_MS)
    assert not dialog.error.isVisible(), dialog.error.text()
    assert target.exists() and target.with_suffix(".py").exists()
    import keras

    model = keras.models.load_model(target)
    x = np.random.default_rng(0).normal(size=(4, *model.inputs[0].shape[1:])).astype("float32")
    assert model.predict(x, verbose=0).shape[0] == 4
    dialog.reject()

    # the study is stored: Show study reads it back, Run study resumes it up to 4 trials
    panel._clear_trials()
    click(panel.load_button)
    qtbot.waitUntil(lambda: panel.trials.rowCount() == 3, timeout=TASK_TIMEOUT_MS)
    type_into(panel.n_trials.lineEdit(), "4")
    with qtbot.waitSignal(panel.study_finished, timeout=STUDY_TIMEOUT_MS) as resumed:
        click(panel.run_button)
    assert [t.number for t in resumed.args[0].trials] == [0, 1, 2, 3]
    assert search_entry(window, "Apply best trial").isEnabled()
    assert panel.trials.rowCount() == 4 and panel.error_text() == ""
