"""The Summary dock shows what the model costs: FLOPs per layer and per sample and the memory
of the weights, live after an edit in the inspector; "Measure latency" asks the warm worker
and shows its answer; View → Colour Nodes By → FLOPs share colours each layer by its share.

Hand counts (1 multiply-add = 2 FLOPs, bias and relu 1 per output, softmax 3): the
sequential-mlp template is 64 -> Dense(32, relu) -> Dense(32, relu) -> Dense(10, softmax).
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtTest import QTest

from layerforge.core.document.document import Document
from layerforge.gui.canvas.colouring import install_colouring
from layerforge.gui.panels.cost_colouring import NAME, install_cost, install_flops_colouring
from layerforge.gui.panels.warm_worker import WorkerFailure

DENSE = 2 * 64 * 32 + 32 + 32
DENSE_1 = 2 * 32 * 32 + 32 + 32
PREDICTIONS = 2 * 32 * 10 + 10 + 3 * 10


class FakeWorker(QObject):
    """What the panel uses of the warm worker: submit, and replied(kind, id, result)."""

    replied = Signal(str, int, object)

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[int, str, Document, dict[str, Any]]] = []

    def submit(self, kind: str, doc: Document, payload: dict[str, Any] | None = None) -> int:
        self.requests.append((len(self.requests) + 1, kind, doc, dict(payload or {})))
        return len(self.requests)


def rows(window: Any) -> dict[str, list[str]]:
    tree = window.summary.tree
    return {tree.topLevelItem(i).text(0): [tree.topLevelItem(i).text(c) for c in range(4)]
            for i in range(tree.topLevelItemCount())}


def type_into(widget: Any, text: str) -> None:
    widget.setFocus()
    widget.selectAll()
    QTest.keyClicks(widget, text)
    QTest.keyClick(widget, Qt.Key.Key_Return)


def test_summary_shows_flops_and_weights_memory_and_follows_an_edit(window: Any,
                                                                     qtbot: Any) -> None:
    assert window.open_template("sequential-mlp")
    window.session.analyze()
    summary = window.summary
    qtbot.waitUntil(lambda: summary.memory.text().startswith("Weights memory: 13.5 KiB"))
    assert summary.memory.text() == f"Weights memory: 13.5 KiB ({3466 * 4:,} bytes)"
    assert summary.flops.text() == "FLOPs per sample: 6.95 KFLOPs"
    assert DENSE + DENSE_1 + PREDICTIONS == 6952
    shown = rows(window)
    assert shown["dense (Dense)"][3] == f"{DENSE:,}"
    assert shown["predictions (Dense)"][3] == f"{PREDICTIONS:,}"
    assert "1 multiply-add = 2 FLOPs" in summary.flops.toolTip()

    graph = window.session.doc.graph
    first = next(n.id for n in graph.calls() if graph.layer_of(n.id).name == "dense")
    window.view.canvas_scene.clearSelection()
    window.view.canvas_scene.nodes[first].setSelected(True)
    qtbot.waitUntil(lambda: window.inspector.node_id == first)
    type_into(window.inspector.editors["units"].lineEdit(), "10")
    assert graph.layer_of(first).params["units"] == 10
    window.session.analyze()
    dense, dense_1 = 2 * 64 * 10 + 10 + 10, 2 * 10 * 32 + 32 + 32
    params = (64 * 10 + 10) + (10 * 32 + 32) + (32 * 10 + 10)
    qtbot.waitUntil(lambda: summary.memory.text()
                    == f"Weights memory: 5.2 KiB ({params * 4:,} bytes)")
    assert summary.flops.text() == \
        f"FLOPs per sample: {(dense + dense_1 + PREDICTIONS) / 1000:.3g} KFLOPs"
    assert rows(window)["dense (Dense)"][3] == f"{dense:,}"


def test_measure_latency_asks_the_worker_and_shows_its_answer(window: Any, qtbot: Any) -> None:
    assert window.open_template("sequential-mlp")
    summary = window.summary
    summary.set_worker(None)
    assert not summary.measure.isEnabled()  # no worker: nothing to measure with
    worker = FakeWorker()
    summary.set_worker(worker)
    assert summary.measure.isEnabled()
    qtbot.mouseClick(summary.measure, Qt.MouseButton.LeftButton)
    assert summary.latency.text() == "Measuring latency…"
    assert not summary.measure.isEnabled()
    request_id, kind, doc, payload = worker.requests[-1]
    assert kind == "latency" and doc is window.session.doc
    assert payload == {"batch_size": 32, "repeats": 10}
    worker.replied.emit("preview", request_id, {"median_ms": 1.0})  # another kind: not ours
    assert summary.latency.text() == "Measuring latency…"
    worker.replied.emit("latency", request_id, {
        "median_ms": 12.3, "min_ms": 11.0, "median_ms_per_sample": 12.3 / 32,
        "min_ms_per_sample": 11.0 / 32, "batch_size": 32, "repeats": 10, "device": "CPU"})
    assert summary.latency.text() == \
        "12.3 ms per batch of 32 (0.38 ms per sample), CPU, median of 10"
    assert summary.measure.isEnabled()

    graph = window.session.doc.graph  # an edit now: the time shown is the earlier model's
    first = next(n.id for n in graph.calls() if graph.layer_of(n.id).name == "dense")
    window.view.canvas_scene.nodes[first].setSelected(True)
    qtbot.waitUntil(lambda: window.inspector.node_id == first)
    type_into(window.inspector.editors["units"].lineEdit(), "10")
    assert summary.latency.text() == ("Before the last edit: 12.3 ms per batch of 32 "
                                      "(0.38 ms per sample), CPU, median of 10")

    qtbot.mouseClick(summary.measure, Qt.MouseButton.LeftButton)
    worker.replied.emit("latency", worker.requests[-1][0],
                        WorkerFailure("expected a model that builds"))
    assert summary.latency.text() == "Latency not measured: expected a model that builds"


def test_nodes_coloured_by_their_share_of_flops(window: Any, qtbot: Any) -> None:
    assert window.open_template("sequential-mlp")
    window.session.analyze()
    install_cost(window, FakeWorker())  # what the window does with its warm worker
    assert window.summary.measure.isEnabled()
    colouring = install_colouring(window)
    next(a for a in colouring.menu.actions() if a.text() == NAME).trigger()
    scene = window.view.canvas_scene
    assert scene.colouring is not None
    graph = window.session.doc.graph
    total = DENSE + DENSE_1 + PREDICTIONS
    expected = {"dense": (DENSE, "59.8 % of FLOPs (4.16 KFLOPs)"),
                "dense_1": (DENSE_1, "30.4 % of FLOPs (2.11 KFLOPs)"),
                "predictions": (PREDICTIONS, "9.78 % of FLOPs (680 FLOPs)")}
    for name, (flops, label) in expected.items():
        node = next(n.id for n in graph.calls() if graph.layer_of(n.id).name == name)
        assert math.isclose(scene.colouring.values[node], flops / total)
        item = scene.nodes[node]
        assert item.fill is not None and label in item.toolTip()  # what hovering shows
    fills = {scene.nodes[n.id].fill.name() for n in graph.calls()}
    assert len(fills) == 3  # three shares, three colours


def test_layers_with_unknown_flops_are_marked_not_counted_as_zero(window: Any,
                                                                  qtbot: Any) -> None:
    """question-answering's texts have an open length: its LSTMs cannot be counted."""
    assert window.open_template("question-answering")
    window.session.analyze()
    summary = window.summary
    qtbot.waitUntil(lambda: summary.flops.text().startswith("FLOPs per sample: ≥"))
    assert summary.flops.text().endswith(
        "(2 layers unknown); not counted: encoded_question, encoded_text")
    unknown = [name for name, row in rows(window).items() if row[3] == "?"]
    assert sorted(unknown) == ["encoded_question (LSTM)", "encoded_text (LSTM)"]
    install_flops_colouring(window)
    next(a for a in install_colouring(window).menu.actions() if a.text() == NAME).trigger()
    scene = window.view.canvas_scene
    graph = window.session.doc.graph
    lstm = next(n.id for n in graph.calls() if graph.layer_of(n.id).name == "encoded_text")
    assert math.isnan(scene.colouring.values[lstm])
    assert scene.nodes[lstm].hatched and "FLOPs unknown" in scene.nodes[lstm].toolTip()


def test_a_layer_that_reaches_no_output_has_no_flops_rather_than_zero(window: Any,
                                                                      qtbot: Any) -> None:
    """A stray Dense is listed with its weights but the model never runs it: its FLOPs read
    "–", and the total is the model's alone."""
    from layerforge.core.editing import edits

    assert window.open_template("sequential-mlp")
    session = window.session
    assert session.push(edits.add_layer(session.doc, "Dense", {"units": 8}, name="stray",
                                        position=(600.0, 0.0)))
    session.analyze()
    summary = window.summary
    qtbot.waitUntil(lambda: "stray (Dense)" in rows(window))
    assert rows(window)["stray (Dense)"][3] == "–"
    assert summary.flops.text() == "FLOPs per sample: 6.95 KFLOPs"


def test_the_flops_column_stays_in_view_in_the_docked_summary(window: Any, qtbot: Any) -> None:
    """Long layer names are elided, not the counts: in the window's own right column the
    FLOPs column ends inside the table, with no horizontal scrolling."""
    window.show()
    assert window.open_template("separable-convnet")
    window.session.analyze()
    tree = window.summary.tree
    qtbot.waitUntil(lambda: tree.topLevelItemCount() == 12)
    qtbot.waitUntil(lambda: window.docks["summary"].isVisible())
    header = tree.header()
    flops_end = header.sectionViewportPosition(3) + header.sectionSize(3)
    assert flops_end <= tree.viewport().width()
    assert header.sectionSize(3) >= tree.fontMetrics().horizontalAdvance("17,280,000")
    assert not tree.horizontalScrollBar().isVisible()
