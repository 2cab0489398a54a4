"""Training from the window, driven like a user: Train and Stop with the mouse, the run folder,
live curves, progress, errors shown in the panel, settings edited with undo, saved with the
project, data bindings (CSV preview), quitting mid-run and the worker's batch throttle."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest

from layerforge.core.document.document import Document
from layerforge.core.editing.settings_commands import SetTrainingSettings
from layerforge.core.schema.settings import DataSource, TrainingSettings
from layerforge.gui import files
from layerforge.gui.training import data_editor
from layerforge.gui.training.plots import PlotData
from layerforge.gui.training.worker import TrainingWorker, _Reporter

RUN_TIMEOUT_MS = 120_000  # TensorFlow traces the step function on a shared, busy machine


@pytest.fixture
def mlp(window: Any, isolated: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The window with sequential-mlp saved in tmp_path (runs go beside it), tiny settings."""
    assert window.open_template("sequential-mlp")
    monkeypatch.setattr(files, "choose_save_path", lambda *a: str(isolated.path / "mlp.json"))
    assert window.files.save()
    bind(window, samples=64, epochs=2)
    return window


def bind(window: Any, samples: int, epochs: int, **data: DataSource) -> None:
    settings = TrainingSettings(batch_size=16, epochs=epochs, validation_split=0.25, seed=1,
                                data={"features": DataSource("synthetic",
                                                             {"samples": samples}), **data})
    assert window.session.push(SetTrainingSettings(settings))


def click(button: Any) -> None:
    assert button.isVisible() and button.isEnabled(), f"{button.text()} cannot be clicked"
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def click_check_box(box: Any) -> None:
    """On the box itself: a check box's label is narrower than its row."""
    assert box.isVisible() and box.isEnabled()
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def show_tab(window: Any, index: int) -> None:
    """Bring the training dock forward on one of its tabs: Curves, Settings, Data."""
    window.docks["training"].raise_()
    window.training.tabs.setCurrentIndex(index)


def toolbar_button(window: Any, action: Any) -> Any:
    from PySide6.QtWidgets import QToolBar

    bar = window.findChild(QToolBar, "mainToolbar")
    return bar.widgetForAction(action)


def test_train_button_records_the_run_and_draws_the_curves(mlp: Any, qtbot: Any) -> None:
    panel = mlp.training
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        click(toolbar_button(mlp, mlp.act_train))
    result = finished.args[0]
    assert result.status == "completed", result.message
    assert result.run_dir.parent == Path(mlp.session.path).with_suffix(".runs")
    history = json.loads((result.run_dir / "history.json").read_text())
    assert history["epoch"] == [1, 2] and len(history["val_loss"]) == 2
    assert (result.run_dir / "best.keras").is_file()
    steps = 3  # 48 training samples (a quarter held out) in batches of 16
    assert panel.progress.maximum() == 2 * steps and panel.progress.value() == 2 * steps
    assert panel.device_label.text() == f"Device: {result.device}"
    assert mlp.docks["training"].isVisible() and panel.plot is not None
    panel.plot.refresh(force=True)
    assert {"loss", "val_loss", "loss (batch avg)"} <= set(panel.plot.line_labels())
    assert list(panel.plot.line("val_loss").get_xdata()) == [1.0, 2.0]
    assert np.allclose(panel.plot.line("loss").get_ydata(), history["loss"])
    assert "Completed 2 epoch(s)" in panel.progress_label.text()
    assert panel.train_button.isEnabled() and not panel.stop_button.isEnabled()


def test_a_second_run_starts_fresh_curves(mlp: Any, qtbot: Any) -> None:
    panel = mlp.training
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS):
        click(toolbar_button(mlp, mlp.act_train))
    assert "val_loss" in panel.plot.line_labels()
    no_validation = copy.deepcopy(mlp.session.doc.training)
    no_validation.validation_split = 0.0
    assert mlp.session.push(SetTrainingSettings(no_validation))
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        click(toolbar_button(mlp, mlp.act_train))
    assert finished.args[0].status == "completed"
    panel.plot.refresh(force=True)
    assert "val_loss" not in panel.plot.line_labels(), "the last run had no validation"
    assert list(panel.plot.line("loss").get_xdata()) == [1.0, 2.0]
    assert panel.progress.value() == panel.progress.maximum() == 2 * 4  # 64 samples / 16


def test_multi_output_curves_have_a_subplot_per_metric_and_a_line_per_head(
        window: Any, qtbot: Any, isolated: SimpleNamespace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Unsaved: the run goes to the app's data folder (here redirected to tmp_path)."""
    from layerforge.core.editing.renames import EditNode

    monkeypatch.setenv("LAYERFORGE_UNSAVED_RUNS_DIR", str(isolated.path / "runs"))
    assert window.open_template("social-media-multi-output")
    for output in window.session.doc.graph.outputs():
        metric = "mae" if output.loss == "mse" else "accuracy"
        assert window.session.push(EditNode(output.id, {"metrics": [metric]}))
    settings = TrainingSettings(batch_size=16, epochs=2, validation_split=0.25,
                                data={"posts": DataSource("synthetic", {"samples": 64})})
    assert window.session.push(SetTrainingSettings(settings))
    with qtbot.waitSignal(window.training.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        click(toolbar_button(window, window.act_train))
    assert finished.args[0].status == "completed", finished.args[0].message
    plot = window.training.plot
    plot.refresh(force=True)
    assert list(plot.axes) == ["loss", "mae", "accuracy"]
    labels = set(plot.line_labels())
    assert {"loss", "val_loss", "age_loss", "val_income_loss", "gender_loss"} <= labels
    assert {"age_mae", "val_age_mae", "income_accuracy", "val_gender_accuracy"} <= labels
    assert plot.line("income_accuracy").get_color() != plot.line("gender_accuracy").get_color()
    assert str(finished.args[0].run_dir).startswith(str(isolated.path / "runs"))


def test_stop_ends_the_run_early_and_keeps_the_best_checkpoint(mlp: Any, qtbot: Any) -> None:
    import keras

    bind(mlp, samples=2000, epochs=500)
    panel = mlp.training
    click(toolbar_button(mlp, mlp.act_train))
    qtbot.waitUntil(lambda: len(panel.plot_data.series.get(("val_loss", False),
                                                           SimpleNamespace(xs=[])).xs) >= 1,
                    timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        click(panel.stop_button)
    result = finished.args[0]
    assert result.status == "stopped"
    assert 1 <= result.epochs < 500
    model = keras.models.load_model(result.run_dir / "best.keras")
    assert model.output_shape == (None, 10)
    assert "Stopped after" in panel.progress_label.text()
    assert panel.progress.value() < panel.progress.maximum()


@pytest.mark.parametrize("name,array,expected", [
    ("features", np.zeros((64, 3), "float32"),
     "input 'features': expected samples of shape (64,); received (3,)"),
    ("predictions", np.full((64, 10), np.nan, "float32"),
     "output 'predictions': 480 NaN and 0 Inf of 480 values"),  # refused before a batch
])
def test_a_failing_run_shows_its_error_and_the_window_keeps_working(
        mlp: Any, qtbot: Any, isolated: SimpleNamespace, name: str, array: np.ndarray,
        expected: str) -> None:
    path = isolated.path / f"{name}.npy"
    np.save(path, array)
    bind(mlp, samples=64, epochs=2, **{name: DataSource("npy", {"path": str(path)})})
    panel = mlp.training
    show_tab(mlp, 0)
    with qtbot.waitSignal(panel.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        click(panel.train_button)
    assert finished.args[0].status == "failed"
    assert expected in panel.message_text()
    assert panel.message.isVisible() and "Training failed" in panel.progress_label.text()
    status = json.loads((finished.args[0].run_dir / "status.json").read_text())
    assert expected in status["message"]
    # The window still edits and trains.
    assert panel.train_button.isEnabled() and mlp.act_train.isEnabled()
    QTest.keySequence(mlp, QKeySequence.StandardKey.Undo)
    assert mlp.session.doc.training.source_of(name).kind == "synthetic"


def test_outputs_without_a_loss_train_with_a_warning(mlp: Any, qtbot: Any) -> None:
    from layerforge.core.editing.renames import EditNode

    output = mlp.session.doc.graph.outputs()[0]
    assert mlp.session.push(EditNode(output.id, {"loss": None}))
    show_tab(mlp, 0)
    with qtbot.waitSignal(mlp.training.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        click(mlp.training.train_button)
    assert finished.args[0].status == "completed"
    assert "Warning: output 'predictions' had no loss; trained with mse" in \
        mlp.training.message_text()


def test_settings_edits_are_undoable_with_ctrl_z(mlp: Any, qtbot: Any) -> None:
    editor = mlp.training.settings_editor
    show_tab(mlp, 1)
    assert mlp.session.doc.training.epochs == 2
    editor.epochs.setFocus()
    editor.epochs.selectAll()
    QTest.keyClicks(editor.epochs, "7")
    QTest.keyClick(editor.epochs, Qt.Key.Key_Return)
    assert mlp.session.doc.training.epochs == 7
    editor.learning_rate.setFocus()
    editor.learning_rate.selectAll()
    QTest.keyClicks(editor.learning_rate, "0.01")
    QTest.keyClick(editor.learning_rate, Qt.Key.Key_Return)
    assert mlp.session.doc.compile.learning_rate == 0.01
    QTest.keySequence(mlp, QKeySequence.StandardKey.Undo)
    assert mlp.session.doc.compile.learning_rate is None and editor.learning_rate.text() == ""
    QTest.keySequence(mlp, QKeySequence.StandardKey.Undo)
    assert mlp.session.doc.training.epochs == 2 and editor.epochs.value() == 2
    editor.learning_rate.setText("fast")
    editor.learning_rate.editingFinished.emit()
    assert "Learning rate: expected a number such as 0.001" in editor.error_label.text()
    assert mlp.session.doc.compile.learning_rate is None


def test_callbacks_are_added_edited_checked_and_removed(mlp: Any) -> None:
    editor = mlp.training.settings_editor
    show_tab(mlp, 1)
    editor.callback_kind.setCurrentText("EarlyStopping")
    click(editor.add_callback_button)
    assert [c.kind for c in mlp.session.doc.training.callbacks] == ["EarlyStopping"]
    names = [editor.param_table.item(r, 0).text() for r in range(editor.param_table.rowCount())]
    assert "patience" in names and "monitor" in names
    row = names.index("patience")
    editor.param_table.item(row, 1).setText("3")
    assert mlp.session.doc.training.callbacks[0].params == {"patience": 3}
    assert editor.callback_list.item(0).text() == "EarlyStopping (patience=3)"
    editor.param_table.item(row, 1).setText("soon")
    assert "'patience' expects an integer (default 0); received \"soon\"" in \
        editor.error_label.text()
    assert mlp.session.doc.training.callbacks[0].params == {"patience": 3}
    assert editor.param_table.item(row, 1).text() == "3"
    click(editor.remove_callback_button)
    assert mlp.session.doc.training.callbacks == []
    mlp.session.undo_stack.undo()
    assert mlp.session.doc.training.callbacks[0].params == {"patience": 3}


def test_settings_survive_save_and_reopen(mlp: Any, isolated: SimpleNamespace) -> None:
    editor = mlp.training.settings_editor
    show_tab(mlp, 1)
    editor.optimizer.setEditText("adam")
    editor.optimizer.lineEdit().editingFinished.emit()
    editor.callback_kind.setCurrentText("ReduceLROnPlateau")
    click(editor.add_callback_button)
    click_check_box(editor.shuffle)
    click_check_box(editor.shuffle_split)
    click_check_box(editor.allow_nan)
    assert editor.health.isChecked()  # on by default
    click_check_box(editor.health)
    data = mlp.training.data_editor
    data.select("predictions")
    data.choose_kind("sklearn")
    saved_training = mlp.session.doc.training
    assert not saved_training.shuffle and saved_training.callbacks[0].kind == "ReduceLROnPlateau"
    assert not saved_training.shuffle_split and saved_training.allow_nan
    assert not saved_training.health
    assert saved_training.data["predictions"] == DataSource("sklearn",
                                                            {"name": "digits", "part": "y"})
    assert mlp.files.save()
    assert mlp.new_project()
    assert editor.optimizer.currentText() == "rmsprop"
    assert mlp.open_path(str(isolated.path / "mlp.json"))
    doc = mlp.session.doc
    assert doc.training == saved_training and doc.compile.optimizer == "adam"
    assert editor.optimizer.currentText() == "adam" and not editor.shuffle.isChecked()
    assert not editor.shuffle_split.isChecked() and editor.allow_nan.isChecked()
    assert not editor.health.isChecked()
    assert editor.callback_list.item(0).text() == "ReduceLROnPlateau"
    rows = {data.table.item(r, 0).text(): data.table.item(r, 2).text()
            for r in range(data.table.rowCount())}
    assert rows == {"features": "synthetic: samples 64", "predictions": "sklearn: digits y"}


def test_csv_binding_shows_a_preview_and_applies_once_complete(
        mlp: Any, qtbot: Any, isolated: SimpleNamespace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    csv_path = isolated.path / "table.csv"
    csv_path.write_text("a,b,label\n1,2,0\n3,4,1\n5,6,0\n", encoding="utf-8")
    monkeypatch.setattr(data_editor, "choose_path", lambda *args: str(csv_path))
    editor = mlp.training.data_editor
    show_tab(mlp, 2)
    editor.select("features")
    editor.kind_combo.setCurrentIndex(editor.kind_combo.findData("csv"))
    editor.kind_combo.activated.emit(editor.kind_combo.currentIndex())
    assert mlp.session.doc.training.data["features"].kind == "synthetic", "not complete yet"
    assert "Not applied yet: set path, columns" in editor.status.text()
    qtbot.waitUntil(editor.browse_button.isVisible)  # new form rows show on the next loop
    click(editor.browse_button)
    preview = editor.preview_table
    assert preview.isVisibleTo(editor) and preview.rowCount() == 3
    assert [preview.horizontalHeaderItem(c).text() for c in range(3)] == ["a", "b", "label"]
    columns = editor.fields["columns"]
    columns.setText("a")
    columns.editingFinished.emit()
    assert mlp.session.doc.training.data["features"] == DataSource(
        "csv", {"path": str(csv_path), "columns": ["a"]})
    preview.horizontalHeader().sectionClicked.emit(1)  # a click on the header of column b
    assert mlp.session.doc.training.data["features"].params["columns"] == ["a", "b"]
    assert editor.fields["columns"].text() == "a, b"
    mlp.session.undo_stack.undo()
    mlp.session.undo_stack.undo()
    assert mlp.session.doc.training.data["features"].kind == "synthetic"


def test_quitting_mid_run_stops_the_run(mlp: Any, qtbot: Any) -> None:
    bind(mlp, samples=2000, epochs=500)
    panel = mlp.training
    show_tab(mlp, 0)
    click(panel.train_button)
    qtbot.waitUntil(lambda: panel.plot_data.last_step > 0, timeout=RUN_TIMEOUT_MS)
    worker = panel.worker
    mlp.close()
    assert not worker.is_running(), "closing the window waits for the run to stop"
    assert worker.result.status == "stopped"


def test_reports_of_a_worker_that_is_not_the_current_one_are_ignored(qtbot: Any) -> None:
    from layerforge.gui.session import EditorSession
    from layerforge.gui.training.panel import TrainingPanel

    panel = TrainingPanel(EditorSession(Document()))
    qtbot.addWidget(panel)
    old, current = (TrainingWorker(Document(), TrainingSettings(), Path("unused"))
                    for _ in range(2))
    for worker in (old, current):  # as start_training connects each run's worker
        worker.batch_ended.connect(panel._on_batch)
        worker.epoch_ended.connect(panel._on_epoch)
        worker.finished.connect(panel._on_finished)
    panel.worker = current
    old.batch_ended.emit(9, {"loss": 5.0}, {"loss": 5.0})
    old.epoch_ended.emit(2, {"loss": 5.0})
    old.finished.emit(SimpleNamespace(status="completed"))
    assert panel.plot_data.series == {} and panel.worker is current, "a late report of run 1"
    current.batch_ended.emit(1, {"loss": 1.0}, {"loss": 1.0})
    assert panel.plot_data.last_step == 1


def test_the_app_window_keeps_a_spare_training_process_and_quitting_kills_it(
        isolated: SimpleNamespace, keras_loaded: Any, qtbot: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from layerforge.core.training.process import SpareProcesses
    from layerforge.gui.main_window import MainWindow
    from layerforge.gui.training import panel as panel_module

    pool = SpareProcesses()
    monkeypatch.setattr(panel_module, "spares", pool)
    plain = MainWindow()  # as tests make windows: no training process started ahead
    qtbot.addWidget(plain)
    app_window = MainWindow(spare_process=True)  # as `layerforge gui` makes it
    qtbot.addWidget(app_window)
    for win in (plain, app_window):
        win.show()
        qtbot.waitUntil(lambda w=win: w.session.keras_ready, timeout=20_000)
    qtbot.waitUntil(lambda: pool.started == 1, timeout=10_000)
    spare = pool._spare
    plain.close()
    assert spare.is_alive(), "closing another window leaves the app's spare alone"
    start = time.perf_counter()
    app_window.close()  # Ctrl+Q
    assert time.perf_counter() - start < 1.5, "quitting does not wait for the spare"
    qtbot.waitUntil(lambda: not spare.is_alive(), timeout=5000)
    assert pool.started == 1 and not pool.enabled


def test_batch_signals_are_throttled_and_the_last_batch_is_flushed() -> None:
    worker = TrainingWorker(Document(), TrainingSettings(), Path("unused"), interval=0.05)
    reporter = _Reporter(worker, worker.interval)
    batches: list[tuple[int, dict[str, float], dict[str, float]]] = []
    worker.batch_ended.connect(lambda *args: batches.append(args))
    start = time.perf_counter()
    for step in range(1, 20_001):
        reporter.on_batch_end(step, {"loss": float(step % 2)})
    took = time.perf_counter() - start
    reporter.on_epoch_end(0, {"loss": 0.5})
    assert len(batches) <= 2 + took / 0.05, f"{len(batches)} signals in {took:.3f}s"
    assert batches[-1][0] == 20_000, "the epoch's last batch reaches the UI"
    assert abs(batches[-1][2]["loss"] - 0.5) < 0.06, "the moving average of 0, 1, 0, 1..."
    assert took / 20_000 < 20e-6, f"{took / 20_000 * 1e6:.1f} µs per batch on the training thread"


def test_plot_data_groups_metrics_by_family_and_head() -> None:
    data = PlotData()
    data.reset(["age", "income", "gender"], steps_per_epoch=4)
    data.add_batch(4, {"loss": 3.0, "age_loss": 1.0, "age_mae": 0.5, "income_accuracy": 0.2})
    data.add_epoch(0, {"loss": 3.0, "val_loss": 3.5, "age_mae": 0.5, "val_age_mae": 0.6,
                       "income_accuracy": 0.2, "gender_accuracy": 0.5, "learning_rate": 0.001})
    assert data.families() == ["loss", "mae", "accuracy"]
    heads = {(s.key, s.per_batch): (s.family, s.head, s.validation) for s in data.shown()}
    assert heads[("val_age_mae", False)] == ("mae", "age", True)
    assert heads[("loss", True)] == ("loss", "", False)
    assert ("learning_rate", False) not in heads, "a constant learning rate is not plotted"
    assert data.head_colour("age") != data.head_colour("income")


def shown_live_plot(qtbot: Any) -> tuple[Any, PlotData]:
    """A live plot of one output (10 steps per epoch, 5 epochs), shown on screen."""
    from layerforge.gui.training.plots import LivePlot

    data = PlotData()
    data.reset(["predictions"], steps_per_epoch=10, epochs=5)
    plot = LivePlot(data)
    qtbot.addWidget(plot)
    plot.resize(600, 300)
    plot.show()
    qtbot.waitExposed(plot)
    return plot, data


def test_live_plot_blits_new_points_and_redraws_when_limits_move(qtbot: Any) -> None:
    plot, data = shown_live_plot(qtbot)
    data.add_batch(1, {"loss": 2.0})
    plot.refresh()
    assert plot.full_draws >= 1 and plot.axes["loss"].get_xlim() == (0.0, 5.0)
    full = plot.full_draws
    data.add_batch(2, {"loss": 1.5})  # inside the limits: only the curve is drawn again
    plot.refresh()
    assert (plot.full_draws, plot.blits) == (full, 1)
    assert list(plot.line("loss", per_batch=True).get_ydata()) == [2.0, 1.5]
    assert list(plot.line("loss", per_batch=True).get_xdata()) == [0.1, 0.2]
    data.add_batch(3, {"loss": 9.0})  # above the top: the axes move, a full draw
    plot.refresh()
    assert plot.full_draws == full + 1 and plot.axes["loss"].get_ylim()[1] > 9.0


def test_live_plot_follows_a_run_within_half_a_second_and_a_new_run_clears_it(
        qtbot: Any) -> None:
    """Once the canvas fills the plot (the hint label hidden), points still show within
    0.5 s of their signal, and a new run's reset empties the chart at once."""
    plot, data = shown_live_plot(qtbot)
    data.add_batch(1, {"loss": 2.0})
    plot.schedule()
    qtbot.waitUntil(lambda: plot.line("loss", per_batch=True) is not None, timeout=2000)
    qtbot.waitUntil(lambda: plot.canvas.geometry() == plot.rect(), timeout=2000)
    for step in range(2, 6):
        data.add_batch(step, {"loss": 2.0 - step / 10})
        plot.schedule()
        qtbot.waitUntil(lambda s=step: len(plot.line("loss", per_batch=True).get_xdata()) == s,
                        timeout=500)
    data.add_epoch(0, {"loss": 1.5})
    plot.schedule()
    qtbot.waitUntil(lambda: plot.line("loss") is not None, timeout=500)
    data.reset([], None)  # Train clicked again
    plot.schedule()
    assert not plot.lines and not plot.axes, "the last run's curves are gone at once"


def test_matplotlib_is_imported_only_when_the_training_dock_shows(tmp_path: Path) -> None:
    script = """
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from layerforge.gui.main_window import MainWindow
win = MainWindow(load_keras=False, restore=False)
win.show()
app.processEvents()
print("before", "matplotlib" in sys.modules)
win.docks["training"].raise_()
win.training.tabs.setCurrentIndex(0)
for _ in range(5):
    app.processEvents()
print("after", "matplotlib" in sys.modules, win.training.plot is not None)
"""
    env = {"QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120, check=True).stdout
    assert "before False" in out and "after True True" in out, out


def test_a_runs_folder_that_cannot_be_created_is_shown_not_raised(
        mlp: Any, isolated: SimpleNamespace, monkeypatch: Any) -> None:
    blocker = isolated.path / "blocker"
    blocker.write_text("a file where the runs folder would go")
    panel = mlp.training
    monkeypatch.setattr(panel, "runs_folder", lambda: blocker / "mlp.runs")
    assert not panel.start_training()
    assert "cannot create a run folder in" in panel.message_text()
    assert str(blocker / "mlp.runs") in panel.message_text()
    assert panel.train_button.isEnabled() and panel.worker is None
