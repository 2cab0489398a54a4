"""Training health on the canvas, driven like a user: reports arriving while a run trains
colour the nodes by the statistic picked in View → Colour Nodes By, with a legend and a
flag on layers in trouble; the Runs dock's Health tab replays a finished run per epoch;
activation sparklines drawn in the nodes."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QImage
from PySide6.QtTest import QTest

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.editing.settings_commands import SetTrainingSettings
from layerforge.core.schema.settings import DataSource, TrainingSettings
from layerforge.core.training import process
from layerforge.core.training.runs import finish_run, new_run_dir, start_run
from layerforge.gui.canvas.colouring import (
    MENU_TITLE,
    CanvasColouring,
    ColouringCombo,
    NodeColouring,
    ramp_colour,
)
from layerforge.gui.runs.health import HOW_TO_GET

LEFT = Qt.MouseButton.LeftButton
SHOT = Path("/tmp/h2_canvas.png")
RUN_TIMEOUT_MS = 120_000  # a child process imports TensorFlow on a shared, busy machine


def health_doc() -> Document:
    """x (8,) -> hidden (Dense relu) -> shared (Dense, called twice) -> head (Dense 1) -> y."""
    doc = Document(get_catalog())
    stack = UndoStack(doc)
    ids = [stack.push(edits.add_input(doc, [8], name="x")).node.id]
    for i, (name, params) in enumerate([("hidden", {"units": 8, "activation": "relu"}),
                                        ("shared", {"units": 8}), ("head", {"units": 1})]):
        ids.append(stack.push(edits.add_layer(doc, "Dense", params, name=name,
                                              position=(0.0, 150.0 * (i + 1)))).node.id)
        stack.push(edits.connect(doc, ids[-2], ids[-1]))
        if name == "shared":  # its second call, between the first and head
            ids.append(stack.push(edits.call_again(doc, ids[-1], position=(230.0, 300.0)))
                       .node.id)
            stack.push(edits.connect(doc, ids[-2], ids[-1]))
    out = stack.push(edits.add_output(doc, name="y", loss="mse", position=(0.0, 600.0)))
    stack.push(edits.connect(doc, ids[-1], out.node.id))
    return doc


def report(epoch: int, grads: dict[str, float | None], dead: float = 0.1,
           flags: list[dict[str, str]] | None = None) -> dict[str, Any]:
    layers = {name: {"weight_norm": 1.0 + i, "grad_norm": grad, "update_ratio": 1e-3,
                     "dead_fraction": dead if name == "hidden" else None, "nonfinite": 0}
              for i, (name, grad) in enumerate(grads.items())}
    return {"epoch": epoch, "layers": layers, "flags": flags or []}


DEAD_FLAG = {"layer": "hidden", "kind": "dead",
             "message": "96 % of units output 0 on the whole sample batch (dead ReLU)"}
EPOCHS = [report(0, {"hidden": 1e-2, "shared": 1e-1, "head": 1.0}),
          report(1, {"hidden": 1e-9, "shared": 5e-1, "head": 2.0}, dead=0.96,
                 flags=[DEAD_FLAG])]


@pytest.fixture
def win(window: Any, isolated: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LAYERFORGE_UNSAVED_RUNS_DIR", str(isolated.path / "runs"))
    window.session.replace_document(health_doc(), None)
    window.view.fit_all()
    return window


def nodes(win: Any, name: str) -> list[Any]:
    """The canvas items of the calls of the layer named ``name``."""
    graph = win.session.doc.graph
    layer = next(lay for lay in graph.layers.values() if lay.name == name)
    return [win.view.canvas_scene.nodes[call.id] for call in graph.calls_of(layer.id)]


def colour_menu_action(win: Any, text: str) -> QAction:
    """The item ``text`` of View → Colour Nodes By, as the menu bar shows it."""
    view_menu = next(a.menu() for a in win.menuBar().actions()
                     if a.text().replace("&", "") == "View")
    sub = next(a.menu() for a in view_menu.actions() if a.text() == MENU_TITLE)
    action = next(a for a in sub.actions() if a.text() == text)
    assert action.isVisible() and action.isEnabled() and action.isCheckable()
    return action


def pick(win: Any, text: str) -> None:
    colour_menu_action(win, text).trigger()
    assert colour_menu_action(win, text).isChecked()


def fake_training(epochs: list[dict[str, Any]], gate: threading.Event | None = None) -> Any:
    """A ``train_in_child`` that reports ``epochs`` from the training thread, as the child's
    relay does, after ``gate`` opens."""

    def train(doc: Document, settings: Any, run_dir: Path, reporter: Any,
              stop_event: Any) -> Any:
        reporter.on_train_begin({"epochs": len(epochs), "steps": 1, "batch_size": 4,
                                 "run_dir": str(run_dir), "outputs": ["y"], "device": "CPU"})
        if gate is not None:
            gate.wait(20)
        for health in epochs:
            reporter.on_batch_end(1, {"loss": 1.0})
            reporter.on_epoch_end(health["epoch"], {"loss": 1.0})
            reporter.on_health(health)
        reporter.on_train_end(None)
        return SimpleNamespace(status="completed", run_dir=run_dir, device="CPU", warnings=[],
                               history={"epoch": [0, 1], "loss": [1.0, 0.9]}, message="",
                               traceback="")

    return train


# ------------------------------------------------------------ live, while training
def test_health_reports_while_training_colour_the_canvas_and_flag_the_dead_layer(
        win: Any, monkeypatch: pytest.MonkeyPatch, qtbot: Any) -> None:
    monkeypatch.setattr(process, "train_in_child", fake_training(EPOCHS))
    panel, scene, legend = win.training, win.view.canvas_scene, win.view.legend
    QTest.mouseClick(panel.train_button, LEFT)
    qtbot.waitUntil(lambda: panel.worker is None, timeout=10_000)

    # The flag shows at once (the statistic is still None): on the node, with its message.
    hidden = nodes(win, "hidden")[0]
    assert hidden.flags and "dead ReLU" in hidden.toolTip()
    assert all(not item.flags for item in nodes(win, "shared") + nodes(win, "head"))
    assert "Health after epoch 2" in panel.health_label.text()
    assert "hidden: 96 % of units output 0" in panel.health_label.text()
    assert legend.isVisible() and "flagged" in legend.text()
    assert all(item.fill is None for item in scene.nodes.values())

    pick(win, "Gradient norm")
    head, shared = nodes(win, "head")[0], nodes(win, "shared")
    assert hidden.fill is not None and head.fill is not None
    assert hidden.fill != head.fill  # 1e-9 against 2.0 on a log scale: opposite ends
    assert len(shared) == 2 and shared[0].fill == shared[1].fill != head.fill
    assert "Gradient norm (epoch 2, training)" in legend.text()
    assert "1e-09" in legend.text() and "2" in legend.text().split("…")[-1]
    assert "(log scale)" in legend.text()
    assert "grad" in hidden.toolTip().lower() and "1e-09" in hidden.toolTip()
    output = scene.nodes[win.session.doc.graph.outputs()[0].id]
    assert output.fill is None  # not a Keras layer of the report: left plain

    combo = panel.findChild(ColouringCombo)  # the same choice in the Training dock
    assert combo.isVisible() and combo.currentText() == "Gradient norm"
    combo.setFocus()
    QTest.keyClick(combo, Qt.Key.Key_Down)
    QTest.keyClick(combo, Qt.Key.Key_Down)
    assert combo.currentText() == "Dead units" and colour_menu_action(win, "Dead units").isChecked()
    assert hidden.fill is not None and "96 %" in hidden.toolTip()
    assert shared[0].hatched  # no ReLU: no value, drawn hatched
    assert "0 %" in legend.text() and "100 %" in legend.text()

    # The next run's start clears the last run's health.
    gate = threading.Event()
    monkeypatch.setattr(process, "train_in_child", fake_training(EPOCHS[:1], gate))
    QTest.mouseClick(panel.train_button, LEFT)
    assert not hidden.flags and all(item.fill is None for item in scene.nodes.values())
    assert not panel.health_label.isVisible()
    assert legend.text().startswith("Dead units: no training health shown yet")
    gate.set()
    qtbot.waitUntil(lambda: panel.worker is None, timeout=10_000)
    assert hidden.fill is not None and not hidden.flags  # epoch 1 flags nothing
    monkeypatch.setattr(process, "train_in_child", fake_training(EPOCHS))

    QTest.mouseClick(panel.train_button, LEFT)  # a third run: its epoch 2 flags again
    qtbot.waitUntil(lambda: panel.worker is None, timeout=10_000)
    assert hidden.flags
    pick(win, "None")
    assert all(item.fill is None and not item.flags for item in scene.nodes.values())
    assert not legend.isVisible() and combo.currentText() == "None"
    win.view.select_nodes([head.node_id])
    win.view.call_again()  # an edit: the flags stay hidden until the next report
    qtbot.waitUntil(lambda: not win.view.canvas_scene.awaiting_analysis, timeout=5000)
    assert all(not item.flags for item in scene.nodes.values()) and not legend.isVisible()


def test_a_registered_colouring_follows_edits_and_marks_nan_values(win: Any,
                                                                   qtbot: Any) -> None:
    """Another source (FLOPs share...) registered by name; NaN is hatched, the legend says
    so; the chosen source is computed again after an edit."""
    colouring = win.findChild(CanvasColouring)
    calls: list[int] = []

    def compute() -> NodeColouring:
        calls.append(1)
        graph = win.session.doc.graph
        values = {call.id: float(i) for i, call in enumerate(graph.calls())}
        values[graph.calls()[0].id] = float("nan")
        return NodeColouring("Call order", values)

    colouring.register_colouring("Call order", compute)
    pick(win, "Call order")
    scene = win.view.canvas_scene
    items = [scene.nodes[c.id] for c in win.session.doc.graph.calls()]
    assert items[0].hatched and len({i.fill.name() for i in items[1:]}) == len(items) - 1
    assert "no value" in win.view.legend.text() and "1 … 3" in win.view.legend.text()
    before = len(calls)
    win.view.select_nodes([items[-1].node_id])
    win.view.call_again()
    qtbot.waitUntil(lambda: len(calls) > before, timeout=5000)
    assert len(scene.nodes) == len(items) + 3 and "1 … 4" in win.view.legend.text()


def colour_by_norms(win: Any, norms: list[float]) -> list[Any]:
    """Colour the first calls by ``norms`` on a log scale (View → Colour Nodes By); their
    canvas items, in order."""
    calls = win.session.doc.graph.calls()
    values = {call.id: norm for call, norm in zip(calls, norms, strict=False)}
    win.findChild(CanvasColouring).register_colouring(
        "Norms", lambda: NodeColouring("Norms", values, log_scale=True))
    pick(win, "Norms")
    return [win.view.canvas_scene.nodes[call.id] for call in calls[:len(norms)]]


def test_zeros_on_a_log_scale_share_its_low_end_and_the_legend_says_so(win: Any) -> None:
    """A dead layer's gradient norm is 0, which has no logarithm: it is drawn at the low end
    and the legend's low label says the zeros are there."""
    dead, low, _high = colour_by_norms(win, [0.0, 0.5, 2.0])
    assert dead.fill == low.fill
    assert "≤ 0.5, incl. 0 … 2" in win.view.legend.text()


def test_one_positive_value_among_zeros_on_a_log_scale_is_the_hot_end(win: Any) -> None:
    """Gradient norms 0, 0, 0.165 (two dead layers, one alive): the live one is drawn at
    the top of the ramp, not in the zeros' colour."""
    dead, _dead, alive = colour_by_norms(win, [0.0, 0.0, 0.165])
    assert dead.fill == ramp_colour(0.0)
    assert alive.fill == ramp_colour(1.0)


def test_a_real_run_flags_the_dead_relu_on_the_canvas_and_in_the_runs_dock(
        window: Any, isolated: SimpleNamespace, monkeypatch: pytest.MonkeyPatch,
        qtbot: Any) -> None:
    """The whole path: the training child measures health, the relay reports it, the
    Training dock forwards it, the canvas flags the Dense whose bias of -10 kills its ReLU."""
    monkeypatch.setenv("LAYERFORGE_UNSAVED_RUNS_DIR", str(isolated.path / "runs"))
    assert window.open_template("sequential-mlp")  # features -> dense -> dense_1 -> predictions
    doc = window.session.doc
    dense_1 = next(lay for lay in doc.graph.layers.values() if lay.name == "dense_1")
    window.session.push(SetParam(dense_1.id, "bias_initializer",
                                 {"class_name": "Constant", "config": {"value": -10.0}}))
    window.session.push(SetTrainingSettings(TrainingSettings(
        batch_size=8, epochs=1, seed=1,
        data={"features": DataSource("synthetic", {"samples": 24})})))
    QTest.mouseClick(window.training.train_button, LEFT)
    qtbot.waitUntil(lambda: window.training.worker is None, timeout=RUN_TIMEOUT_MS)
    assert window.training.result.status == "completed", window.training.result.message
    flagged = nodes(window, "dense_1")[0]
    assert flagged.flags and "dead ReLU" in flagged.toolTip()
    assert not nodes(window, "predictions")[0].flags
    pick(window, "Dead units")
    assert "Dead units (epoch 1, training)" in window.view.legend.text()
    assert "100 %" in flagged.toolTip()

    runs = window.runs_panel  # the run is listed and selected: its Health tab replays it
    qtbot.waitUntil(lambda: runs.health.reports != [], timeout=5000)
    assert "dense_1" in runs.health.flagged_rows()
    assert "predictions" not in runs.health.flagged_rows()


# ------------------------------------------------------------ replay of a finished run
def write_run(folder: Path, doc: Document, reports: list[dict[str, Any]] | None) -> Path:
    run_dir = new_run_dir(folder)
    start_run(run_dir, doc, doc.training)
    if reports is not None:
        (run_dir / "health.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in reports), encoding="utf-8")
    finish_run(run_dir, "completed")
    return run_dir


def test_runs_dock_replays_a_runs_health_per_epoch(win: Any, qtbot: Any) -> None:
    runs = win.runs_panel
    folder = runs.project_folder()
    bare = write_run(folder, win.session.doc, None)
    logged = write_run(folder, win.session.doc, EPOCHS)
    runs.refresh()
    win.docks["runs"].show()
    win.docks["runs"].raise_()
    bar = runs.tabs.tabBar()
    index = next(i for i in range(bar.count()) if bar.tabText(i) == "Health")
    QTest.mouseClick(bar, LEFT, Qt.KeyboardModifier.NoModifier, bar.tabRect(index).center())
    health = runs.health
    qtbot.waitUntil(health.isVisible, timeout=5000)

    runs.select_runs([bare.name])
    assert health.message.isVisible() and health.message.text() == HOW_TO_GET
    assert "train again with health reporting on" in HOW_TO_GET

    runs.select_runs([logged.name])
    assert not health.message.isVisible() and health.epoch_label.text() == "Epoch 2 of 2"
    assert health.flagged_rows() == ["hidden"]
    hidden, shared = nodes(win, "hidden")[0], nodes(win, "shared")[0]
    assert hidden.flags and "dead ReLU" in hidden.toolTip()  # the flags follow the slider
    pick(win, "Gradient norm")
    last_epoch = shared.fill  # 0.5 between 1e-9 and 2 (log): near the top
    assert f"run {logged.name}" in win.view.legend.text()

    health.slider.setFocus()
    QTest.keyClick(health.slider, Qt.Key.Key_Left)  # back to epoch 1
    assert health.epoch_label.text() == "Epoch 1 of 2" and health.flagged_rows() == []
    assert shared.fill != last_epoch  # 0.1 between 0.01 and 1: the middle
    assert not hidden.flags
    assert "Gradient norm (epoch 1" in win.view.legend.text()
    rows = {health.table.item(r, 0).text(): health.table.item(r, 2).text()
            for r in range(health.table.rowCount())}
    assert rows == {"hidden": "0.01", "shared": "0.1", "head": "1"}

    QTest.keyClick(health.slider, Qt.Key.Key_Right)  # the flagged epoch again
    assert hidden.flags
    win.session.replace_document(health_doc(), None)  # another project opens plain
    scene = win.view.canvas_scene
    assert all(item.fill is None and not item.flags for item in scene.nodes.values())


# ------------------------------------------------------------ sparklines and the picture
def viewport_region(win: Any, item: Any) -> QImage:
    rect = win.view.mapFromScene(item.mapToScene(item.sparkline_rect())).boundingRect()
    return win.view.viewport().grab(rect.adjusted(-1, -1, 1, 1)).toImage()


def test_sparklines_draw_in_the_nodes_and_the_legend_reads(win: Any, qtbot: Any) -> None:
    view, scene = win.view, win.view.canvas_scene
    view.reset_zoom()  # text (and sparklines) show from 50 %
    head = nodes(win, "head")[0]
    view.center_on(head.node_id)
    qtbot.wait(50)
    plain = viewport_region(win, head)
    scene.set_sparklines({head.node_id: [0.1, 0.4, 1.0, 0.6, 0.2, 0.05]})
    assert head.shows_sparkline(view.zoom())
    drawn = viewport_region(win, head)
    assert drawn != plain
    scene.set_sparklines({})
    assert not head.sparkline and viewport_region(win, head) == plain

    # The picture: colours, a flag, sparklines and the legend together.
    win.training.health_reported.emit(EPOCHS[1])
    pick(win, "Gradient norm")
    scene.set_sparklines({item.node_id: [0.05, 0.2, 0.7, 1.0, 0.5, 0.15, 0.05]
                          for item in scene.nodes.values() if item.kind == "call"})
    view.fit_all()
    view.reset_zoom()
    view.center_on(nodes(win, "shared")[0].node_id)
    qtbot.wait(50)
    assert view.legend.isVisible()
    assert view.grab().save(str(SHOT))

    # Far out the scene draws one overview image: the colours and the flag still show.
    view.show_view(0.1, (0.0, 300.0))
    scene._rebuild_overview()
    assert scene.overview
    image = view.viewport().grab().toImage()
    seen = {image.pixelColor(x, y).name() for x in range(0, image.width(), 2)
            for y in range(0, image.height(), 2)}
    assert scene.style.flag.name() in seen
    assert {nodes(win, "head")[0].fill.name(), nodes(win, "hidden")[0].fill.name()} <= seen
