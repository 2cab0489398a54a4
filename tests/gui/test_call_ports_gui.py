"""Call arguments on the canvas and in the inspector: an LSTM node shows labelled
initial_state and mask ports that take a drag like any input, and a call's training=
is chosen in the inspector."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox
from session_fixtures import add

from layerforge.core.analysis.validation import validate
from layerforge.core.codegen import model_code as codegen
from layerforge.core.editing import edits
from layerforge.gui.canvas.view import CanvasView
from layerforge.gui.inspector import Inspector

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier


def port_point(view: CanvasView, node_id: str, output: bool, key: Any = 0) -> QPoint:
    item = view.canvas_scene.nodes[node_id]
    port = item.output_port(key) if output else item.input_port(key)
    assert port is not None, f"no port {key!r} on the node"
    return view.mapFromScene(port.scenePos())


def drag(view: CanvasView, start: QPoint, end: QPoint) -> None:
    viewport = view.viewport()
    QTest.mousePress(viewport, LEFT, NONE, start)
    for step in (0.3, 0.7, 1.0):
        QTest.mouseMove(viewport, start + (end - start) * step)
    QTest.mouseRelease(viewport, LEFT, NONE, end)


def test_an_lstm_node_shows_initial_state_ports_that_take_a_drag(session, view):
    doc = session.doc
    enc_in = add(session, edits.add_input(doc, [None, 5], name="enc_in", position=(0.0, 0.0)))
    dec_in = add(session, edits.add_input(doc, [None, 6], name="dec_in",
                                          position=(300.0, 0.0)))
    encoder = add(session, edits.add_layer(doc, "LSTM", {"units": 4, "return_state": True},
                                           name="encoder", position=(0.0, 160.0)))
    decoder = add(session, edits.add_layer(doc, "LSTM", {"units": 4, "return_sequences": True},
                                           name="decoder", position=(300.0, 320.0)))
    out = add(session, edits.add_output(doc, name="decoder", position=(300.0, 480.0)))
    for src, dst in ((enc_in, encoder), (dec_in, decoder), (decoder, out)):
        assert session.push(edits.connect(doc, src, dst))
    session.analyze()
    item = view.canvas_scene.nodes[decoder]
    side = [(p.key, p.label) for p in item.inputs if p.side]
    assert side == [("initial_state[0]", "initial_state[0]"),
                    ("initial_state[1]", "initial_state[1]"), ("mask", "mask")]
    assert all(p.pos().x() == item.rect.left() for p in item.inputs if p.side)
    before = session.engine().results[decoder].outputs

    drag(view, port_point(view, encoder, True, 1), port_point(view, decoder, False,
                                                               "initial_state[0]"))
    drag(view, port_point(view, encoder, True, 2), port_point(view, decoder, False,
                                                               "initial_state[1]"))
    slots = {e.dst_slot: (e.src, e.src_index) for e in doc.graph.in_edges(decoder)}
    assert slots == {0: (dec_in, 0), "initial_state[0]": (encoder, 1),
                     "initial_state[1]": (encoder, 2)}
    assert [d.message for d in validate(doc) if d.severity == "error"] == []
    session.analyze()
    assert session.engine().results[decoder].outputs == before
    assert item.input_port("initial_state[0]").connected
    assert "(dec_in, initial_state=[encoder[1], encoder[2]])" in codegen.generate(doc).source
    session.undo_stack.undo()
    assert "initial_state[1]" not in {e.dst_slot for e in doc.graph.in_edges(decoder)}


def test_a_calls_training_setting_is_chosen_in_the_inspector(session, qtbot):
    doc = session.doc
    x = add(session, edits.add_input(doc, [8], name="x"))
    dropout = add(session, edits.add_layer(doc, "Dropout", {"rate": 0.5}, name="drop"))
    out = add(session, edits.add_output(doc, name="drop"))
    assert session.push(edits.connect(doc, x, dropout))
    assert session.push(edits.connect(doc, dropout, out))
    inspector = Inspector(session)
    qtbot.addWidget(inspector)
    inspector.show()
    inspector.set_target("main", dropout)
    box = inspector.editors["training"]
    assert isinstance(box, QComboBox) and box.currentText() == "default"
    assert [box.itemText(i) for i in range(box.count())] == ["default", "True", "False"]
    box.setCurrentIndex(1)
    box.activated.emit(1)
    assert doc.graph.node(dropout).call_kwargs == {"training": True}
    assert "(x, training=True)" in codegen.generate(doc).source
    session.undo_stack.undo()
    assert doc.graph.node(dropout).call_kwargs == {}
    assert box.currentText() == "default"
    inspector.set_target("main", x)
    assert "training" not in inspector.editors


def test_a_call_without_training_offers_no_training_setting(session, qtbot):
    doc = session.doc
    flatten = add(session, edits.add_layer(doc, "Flatten"))
    inspector = Inspector(session)
    qtbot.addWidget(inspector)
    inspector.set_target("main", flatten)
    assert "training" not in inspector.editors and "data_format" in inspector.editors


def test_a_seq2seq_opened_in_the_window_shows_its_wired_state_ports(window, isolated):
    import keras

    layers = keras.layers
    encoder_inputs = keras.Input(shape=(None, 5), name="encoder_inputs")
    _, h, c = layers.LSTM(4, return_state=True, name="encoder")(encoder_inputs)
    decoder_inputs = keras.Input(shape=(None, 6), name="decoder_inputs")
    decoded = layers.LSTM(4, return_sequences=True, name="decoder")(decoder_inputs,
                                                                   initial_state=[h, c])
    path = isolated.path / "seq2seq.keras"
    keras.Model([encoder_inputs, decoder_inputs], decoded).save(path)
    assert window.open_path(str(path))
    window.session.analyze()
    graph = window.session.doc.graph
    decoder = next(n.id for n in graph.calls() if graph.layer(n.layer_id).name == "decoder")
    item = window.view.canvas_scene.nodes[decoder]
    wired = {p.key for p in item.inputs if p.side and p.connected}
    assert wired == {"initial_state[0]", "initial_state[1]"}
    assert not item.input_port("mask").connected
    edges = [e for e in window.view.canvas_scene.edges.values() if e.dst.side]
    assert sorted(e.label for e in edges) == ["(None, 4)", "(None, 4)"]
