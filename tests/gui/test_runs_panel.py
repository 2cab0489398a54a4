"""The runs panel driven like a user: real runs trained into a project's run folder, listed
with their status, compared as curves, activations shown for the layer clicked on the
canvas, a run's model and snapshot reopened, TensorBoard started on a run's logs."""

from __future__ import annotations

import re
import shutil
import sys
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.io.project import save
from layerforge.core.schema.settings import CallbackSpec, DataSource, TrainingSettings
from layerforge.core.training.runs import (
    finish_run,
    list_runs,
    load_activations,
    new_run_dir,
    runs_folder,
    start_run,
    write_history,
)
from layerforge.gui import files
from layerforge.gui.runs import panel as panel_module
from layerforge.gui.runs import tensorboard
from layerforge.gui.runs.install import install_runs
from layerforge.gui.runs.panel import RunsPanel
from layerforge.gui.runs.tensorboard import TensorBoardLauncher
from layerforge.gui.session import EditorSession

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier
LAYERS = [("Conv2D", {"filters": 3, "kernel_size": 3, "activation": "relu"}),
          ("Reshape", {"target_shape": [16, 3]}), ("Flatten", {}),
          ("Dense", {"units": 4, "activation": "relu"}), ("Dense", {"units": 1})]


def tiny_doc() -> Document:
    """image (6, 6, 1) -> Conv2D (4, 4, 3) -> Reshape (16, 3) -> Flatten -> Dense 4 -> Dense 1."""
    from layerforge.core.catalog.catalog import get_catalog

    doc = Document(get_catalog())
    stack = UndoStack(doc)
    ids = [stack.push(edits.add_input(doc, [6, 6, 1], name="image")).node.id]
    for i, (class_name, params) in enumerate(LAYERS, start=1):
        ids.append(stack.push(edits.add_layer(doc, class_name, params,
                                              position=(0.0, 140.0 * i))).node.id)
        stack.push(edits.connect(doc, ids[-2], ids[-1]))
    out = stack.push(edits.add_output(doc, name="y", loss="mse", position=(0.0, 140.0 * 6)))
    stack.push(edits.connect(doc, ids[-1], out.node.id))
    return doc


def settings(epochs: int, *callbacks: str, **fields: Any) -> TrainingSettings:
    return TrainingSettings(batch_size=4, epochs=epochs, seed=epochs, callbacks=[
        CallbackSpec(kind) for kind in callbacks], data={
        "image": DataSource("synthetic", {"samples": 12})}, **fields)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, keras_loaded: Any) -> SimpleNamespace:
    """A saved project with three runs: logged (activations + TensorBoard), plain, failed."""
    from layerforge.core.training.fit import train

    folder = tmp_path_factory.mktemp("project")
    path = folder / "model.json"
    doc = tiny_doc()
    save(doc, path)
    logged = train(doc, settings(2, "ActivationLogger", "TensorBoard"),
                   run_dir=new_run_dir(runs_folder(path)))
    plain = train(doc, settings(3), run_dir=new_run_dir(runs_folder(path)))
    np.save(folder / "bad.npy", np.zeros((12, 5), np.float32))
    bad = settings(1)
    bad.data["image"] = DataSource("npy", {"path": str(folder / "bad.npy")})
    failed = train(doc, bad, run_dir=new_run_dir(runs_folder(path)))
    assert logged.status == plain.status == "completed", (logged.message, plain.message)
    assert failed.status == "failed" and failed.message
    return SimpleNamespace(path=path, doc=doc, logged=logged.run_dir, plain=plain.run_dir,
                           failed=failed.run_dir, failure=failed.message)


@pytest.fixture
def win(window: Any, project: SimpleNamespace, qtbot: Any) -> Any:
    """The main window with the runs panel installed, the project open, the runs dock shown."""
    panel = install_runs(window)
    assert window.files.open_path(project.path)
    window.docks["runs"].show()
    window.docks["runs"].raise_()
    qtbot.waitUntil(lambda: len(panel.items()) == 3, timeout=5000)
    return window


def shown(qtbot: Any, panel: RunsPanel) -> RunsPanel:
    qtbot.addWidget(panel)
    panel.resize(1100, 420)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def click_run(panel: RunsPanel, name: str, modifier: Qt.KeyboardModifier = NONE) -> None:
    item = panel.item_for(name)
    assert item is not None, f"expected run {name} among {[i.text(0) for i in panel.items()]}"
    rect = panel.tree.visualItemRect(item)  # all columns: wider than a narrow dock
    QTest.mouseClick(panel.tree.viewport(), LEFT, modifier, QPoint(rect.left() + 12,
                                                                   rect.center().y()))


def click_node(win: Any, node_id: str) -> None:
    item = win.view.canvas_scene.nodes[node_id]
    win.view.center_on(node_id)
    QTest.mouseClick(win.view.viewport(), LEFT, NONE,
                     win.view.mapFromScene(item.sceneBoundingRect().center()))


def node_of_layer(doc: Document, class_name: str, index: int = 0) -> str:
    layers = [lay for lay in doc.graph.layers.values() if lay.class_name == class_name]
    return doc.graph.calls_of(layers[index].id)[0].id


def click_tab(panel: RunsPanel, title: str) -> None:
    bar = panel.tabs.tabBar()
    index = next(i for i in range(bar.count()) if bar.tabText(i) == title)
    QTest.mouseClick(bar, LEFT, NONE, bar.tabRect(index).center())


# ------------------------------------------------------------ listing
def test_panel_lists_the_runs_with_status_epochs_and_best_loss(win: Any,
                                                               project: SimpleNamespace) -> None:
    panel = win.runs_panel
    on_disk = list_runs(runs_folder(project.path))
    rows = {item.text(0): item for item in panel.items()}
    assert list(rows) == [r.name for r in reversed(on_disk)], "newest first"
    for run in on_disk:
        row = rows[run.name]
        assert row.text(2) == run.status and row.text(3) == str(run.epochs)
        if run.history:
            assert row.text(4) == f"{min(run.history['val_loss']):.4g} (val_loss)"
        assert re.fullmatch(r"\d+ s|\d+ min \d+ s", row.text(5)), row.text(5)
    assert rows[project.failed.name].text(2) == "failed"
    assert project.failure in rows[project.failed.name].toolTip(2)
    assert "3 runs in model.runs" in panel.folder_label.text()
    assert "Runs" in [a.text().replace("&", "") for a in win.menuBar().actions()]


def test_a_failed_run_shows_its_message(win: Any, project: SimpleNamespace) -> None:
    panel = win.runs_panel
    click_run(panel, project.failed.name)
    assert project.failure in panel.details.text() and "failed" in panel.details.text()
    assert not panel.load_button.isEnabled(), "a failed run saved no checkpoint"


# ------------------------------------------------------------ curves
def test_selecting_two_runs_draws_one_line_each(win: Any, project: SimpleNamespace) -> None:
    panel = win.runs_panel
    click_run(panel, project.logged.name)
    assert panel.curves.plotted_runs() == [project.logged.name]
    click_run(panel, project.plain.name, CTRL)
    names = sorted([project.logged.name, project.plain.name])
    assert panel.curves.plotted_runs() == names
    assert panel.curves.metric() == "val_loss"
    metrics = [panel.curves.metric_box.itemText(i)
               for i in range(panel.curves.metric_box.count())]
    assert metrics[:2] == ["loss", "val_loss"] and "learning_rate" in metrics
    panel.curves.set_metric("loss")
    runs = {r.name: r for r in list_runs(runs_folder(project.path))}
    for line in panel.curves.axes.get_lines():
        run = runs[line.get_label()]
        assert list(line.get_xdata()) == run.history["epoch"]
        assert list(line.get_ydata()) == run.history["loss"]
    assert len(panel.curves.axes.get_lines()[1].get_xdata()) == 3  # the 3-epoch run


# ------------------------------------------------------------ activations
def test_clicking_layers_shows_their_activations(win: Any, project: SimpleNamespace) -> None:
    panel = win.runs_panel
    doc = win.session.doc
    click_run(panel, project.logged.name)
    click_tab(panel, "Activations")
    view = panel.activations
    assert view.epochs == [1, 2] and view.epoch() == 2
    click_node(win, node_of_layer(doc, "Dense"))
    assert view.kind == "histogram", view.message.text()
    click_node(win, node_of_layer(doc, "Conv2D"))
    assert view.kind == "grid" and view.maps_shown == 3  # one map per filter
    shown = view.canvas.figure.axes[0].get_images()[0].get_array()
    expected = load_activations(project.logged, 2)["conv2d"][0, :, :, 0]
    assert np.allclose(shown, expected)
    view.set_epoch(1)
    assert view.epoch_label.text() == "Epoch 1 of 2"
    first = view.canvas.figure.axes[0].get_images()[0].get_array()
    assert np.allclose(first, load_activations(project.logged, 1)["conv2d"][0, :, :, 0])
    panel.refresh()  # the folder re-read (a run elsewhere ended): the epoch stays
    assert view.epoch() == 1 and view.kind == "grid"
    click_node(win, node_of_layer(doc, "Reshape"))
    assert view.kind == "heatmap"
    click_node(win, doc.graph.inputs()[0].id)
    assert view.kind == "" and "'image' is an input" in view.message.text()


def test_a_run_without_activations_says_how_to_log_them(win: Any,
                                                         project: SimpleNamespace) -> None:
    panel = win.runs_panel
    click_run(panel, project.plain.name)
    click_tab(panel, "Activations")
    click_node(win, node_of_layer(win.session.doc, "Dense"))
    assert panel.activations.kind == ""
    text = panel.activations.message.text()
    assert "logged no activations" in text and "ActivationLogger" in text


# ------------------------------------------------------------ reopening runs
def assert_checkpoint_weights(doc: Document, run_dir: Path) -> None:
    """Every layer of ``doc`` holds exactly the weights of the run's best.keras."""
    import keras

    model = keras.saving.load_model(run_dir / "best.keras", compile=False)
    for layer in doc.graph.layers.values():
        kept = doc.weights.get(layer.id, [])
        trained = model.get_layer(layer.name).get_weights()
        assert len(kept) == len(trained) and all(
            np.array_equal(a, b) for a, b in zip(kept, trained, strict=True)), layer.name
    assert sum(a.size for arrays in doc.weights.values() for a in arrays) == \
        model.count_params() > 0


def test_load_model_opens_the_best_checkpoint_with_its_weights(win: Any,
                                                               project: SimpleNamespace) -> None:
    panel = win.runs_panel
    click_run(panel, project.logged.name)
    QTest.mouseClick(panel.load_button, LEFT)
    doc = win.session.doc
    assert doc is not project.doc and win.session.path is None
    assert doc.meta.title == f"Run {project.logged.name} (best model)"
    original = [(lay.name, lay.class_name) for lay in project.doc.graph.layers.values()]
    assert [(lay.name, lay.class_name) for lay in doc.graph.layers.values()] == original
    assert [o.loss for o in doc.graph.outputs()] == ["mse"], "the loss comes along"
    assert_checkpoint_weights(doc, project.logged)
    assert len(win.view.canvas_scene.nodes) == len(doc.graph.nodes)
    assert panel.folder == win.training.runs_folder(), "the new document's runs are listed"


def test_without_a_snapshot_the_checkpoint_goes_through_the_importer(
        isolated: SimpleNamespace, project: SimpleNamespace, qtbot: Any) -> None:
    folder = isolated.path / "copied.runs"
    run_dir = folder / project.logged.name
    shutil.copytree(project.logged, run_dir)
    (run_dir / "project.json").unlink()
    session = EditorSession(tiny_doc())
    panel = RunsPanel(session, launcher=TensorBoardLauncher(opener=lambda url: None))
    panel.set_folder(folder)
    shown(qtbot, panel)
    click_run(panel, run_dir.name)
    assert [r.name for r in panel.selected_runs()] == [run_dir.name], panel.size()
    assert panel.load_button.isEnabled() and not panel.snapshot_button.isEnabled()
    QTest.mouseClick(panel.load_button, LEFT)
    assert session.doc.meta.title == f"Run {run_dir.name} (best model)", isolated.notes
    imported = {(lay.name, lay.class_name) for lay in session.doc.graph.layers.values()}
    assert {(lay.name, lay.class_name) for lay in project.doc.graph.layers.values()} <= imported
    assert_checkpoint_weights(session.doc, run_dir)


def test_open_snapshot_opens_the_project_as_it_was(win: Any, project: SimpleNamespace) -> None:
    panel = win.runs_panel
    win.session.push(edits.add_layer(win.session.doc, "Dropout"))  # an unsaved edit
    click_run(panel, project.plain.name)
    QTest.mouseClick(panel.snapshot_button, LEFT)  # the discard prompt answers "discard"
    doc = win.session.doc
    assert [lay.class_name for lay in doc.graph.layers.values()] == [c for c, _ in LAYERS]
    assert win.session.path is None, "saving the snapshot must not overwrite the run's record"


# ------------------------------------------------------------ following the folder
def test_a_new_run_appears_and_unsaved_projects_choose_a_folder(
        isolated: SimpleNamespace, project: SimpleNamespace, qtbot: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYERFORGE_UNSAVED_RUNS_DIR", str(isolated.path / "data"))
    session = EditorSession(tiny_doc())
    panel = RunsPanel(session, launcher=TensorBoardLauncher(opener=lambda url: None))
    shown(qtbot, panel)
    unsaved = isolated.path / "data" / "unsaved-runs" / "Untitled.runs"
    assert panel.folder == unsaved, "an unsaved project's runs: where the Training dock writes"
    assert "No runs yet" in panel.details.text()
    folder = isolated.path / "elsewhere.runs"
    folder.mkdir()
    monkeypatch.setattr(panel_module, "choose_runs_folder", lambda parent, start: str(folder))
    QTest.mouseClick(panel.choose_button, LEFT)
    assert panel.folder == folder and panel.items() == []
    shutil.copytree(project.plain, folder / project.plain.name)  # a run written meanwhile
    qtbot.waitUntil(lambda: len(panel.items()) == 1, timeout=5000)
    assert panel.items()[0].text(2) == "completed"
    live = new_run_dir(folder)  # a run in progress, written as core.training writes it
    start_run(live, session.doc, settings(2))
    qtbot.waitUntil(lambda: len(panel.items()) == 2, timeout=5000)

    def row() -> Any:
        return panel.item_for(live.name)

    assert row().text(2) == "running" and row().text(3) == "0"
    write_history(live, {"epoch": [1], "loss": [0.5], "val_loss": [0.25]})
    qtbot.waitUntil(lambda: row().text(3) == "1", timeout=5000)
    assert row().text(4) == "0.25 (val_loss)"
    finish_run(live, "stopped", "stopped by the user")
    qtbot.waitUntil(lambda: row().text(2) == "stopped", timeout=5000)
    assert "stopped by the user" in row().toolTip(2)
    panel.show_run(SimpleNamespace(run_dir=project.logged))  # a RunResult elsewhere
    assert panel.folder == project.logged.parent
    assert [r.name for r in panel.selected_runs()] == [project.logged.name]


def test_the_runs_dock_follows_the_open_project_to_the_training_docks_folder(
        window: Any, isolated: SimpleNamespace, project: SimpleNamespace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Templates, then a save under a new name: the dock lists the folder Train writes to."""
    monkeypatch.setenv("LAYERFORGE_UNSAVED_RUNS_DIR", str(isolated.path / "data"))
    panel, training = window.runs_panel, window.training
    assert window.open_template("inception-module")
    assert panel.folder == training.runs_folder() and panel.items() == []
    mlp_runs = training.runs_folder().parent / "Sequential-MLP.runs"
    mlp_runs.mkdir(parents=True)
    for run in (project.logged, project.plain, project.failed):  # runs of an earlier session
        shutil.copytree(run, mlp_runs / run.name)
    assert window.open_template("sequential-mlp")
    assert panel.folder == training.runs_folder() == mlp_runs
    assert len(panel.items()) == 3, "the runs already in the template's folder are listed"
    QTest.mouseClick(panel.refresh_button, LEFT)
    assert len(panel.items()) == 3
    path = isolated.path / "saved" / "mlp.json"
    path.parent.mkdir()
    monkeypatch.setattr(files, "choose_save_path", lambda *a: str(path))
    assert window.files.save_as()
    assert panel.folder == training.runs_folder() == runs_folder(path)
    assert panel.items() == [] and "No runs yet" in panel.details.text()


def test_a_run_started_from_the_training_panel_is_selected(win: Any,
                                                          project: SimpleNamespace) -> None:
    training = getattr(win, "training", None)
    if not hasattr(training, "run_started"):
        pytest.skip("this window has no training panel with a run_started signal")
    panel = win.runs_panel
    training.run_started.emit(project.plain)
    assert [r.name for r in panel.selected_runs()] == [project.plain.name]
    assert panel.curves.plotted_runs() == [project.plain.name]


# ------------------------------------------------------------ TensorBoard
def test_tensorboard_problems_are_explained(isolated: SimpleNamespace,
                                            project: SimpleNamespace, qtbot: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    launcher = TensorBoardLauncher(opener=opened.append)
    with qtbot.waitSignal(launcher.failed) as no_logs:
        assert not launcher.launch(project.plain)
    assert "no TensorBoard logs" in no_logs.args[0] and "TensorBoard callback" in no_logs.args[0]
    broken = TensorBoardLauncher(opener=opened.append, python="/bin/false")
    with qtbot.waitSignal(broken.failed, timeout=10_000) as exited:
        assert broken.launch(project.logged)
    assert "exited with code 1" in exited.args[0]
    monkeypatch.setattr(tensorboard, "tensorboard_installed", lambda: False)
    with qtbot.waitSignal(launcher.failed) as missing:
        launcher.launch(project.logged)
    assert "not installed" in missing.args[0] and "pip install tensorboard" in missing.args[0]
    assert opened == []


def test_tensorboard_starts_on_the_run_and_opens_its_url(isolated: SimpleNamespace,
                                                         project: SimpleNamespace,
                                                         qtbot: Any) -> None:
    opened: list[str] = []
    launcher = TensorBoardLauncher(opener=opened.append, python=sys.executable)
    session = EditorSession(project.doc, project.path)
    panel = RunsPanel(session, launcher=launcher)
    shown(qtbot, panel)
    click_run(panel, project.logged.name)
    with qtbot.waitSignal(launcher.opened, timeout=30_000):
        QTest.mouseClick(panel.tensorboard_button, LEFT)
    assert len(opened) == 1 and re.fullmatch(r"http://127\.0\.0\.1:\d+/", opened[0])
    with urllib.request.urlopen(opened[0], timeout=10) as page:
        assert page.status == 200
    server = launcher.servers[Path(project.logged) / "tensorboard"]
    launcher.launch(project.logged)  # again: the running server is reused
    assert opened[1] == opened[0]
    launcher.stop_all()
    assert server.process.poll() is not None, "the server ends with the app"
