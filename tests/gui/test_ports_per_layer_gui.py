"""Ports per layer on the canvas: an RNN node's state ports follow the cell chosen in the
inspector (LSTMCell: 2, GRUCell: 1); a cell that lacks a connected state is refused with
why, nothing lost; a Bidirectional shows the layer it wraps as Python writes it,
and as many output ports as its layer returns."""

from __future__ import annotations

from typing import Any

from PySide6.QtTest import QTest
from session_fixtures import add

from layerforge.core.editing import edits
from layerforge.core.editing.graph_commands import SetParam
from layerforge.gui.canvas.view import CanvasView
from layerforge.gui.inspector import Inspector
from layerforge.gui.session import EditorSession


def side_labels(view: CanvasView, node_id: str) -> list[str]:
    return [p.label for p in view.canvas_scene.nodes[node_id].inputs if p.side]


def choose(combo: Any, text: str) -> None:
    """Pick an entry of a closed combo box by typing its text, as a keyboard user does."""
    combo.setFocus()
    QTest.keyClicks(combo, text)


def test_choosing_a_gru_cell_leaves_one_state_port(session: EditorSession, view: CanvasView,
                                                   inspector: Inspector, qtbot: Any) -> None:
    doc = session.doc
    x = add(session, edits.add_input(doc, (6, 3), name="x"))
    rnn = add(session, edits.add_layer(doc, "RNN"))
    assert session.push(edits.connect(doc, x, rnn))
    assert side_labels(view, rnn) == ["initial_state[0]", "initial_state[1]", "mask"]
    inspector.set_target("main", rnn)
    choose(inspector.editors["cell"].class_box, "GRUCell")
    qtbot.waitUntil(lambda: doc.graph.layer_of(rnn).params["cell"]["class_name"] == "GRUCell")
    qtbot.waitUntil(lambda: side_labels(view, rnn) == ["initial_state[0]", "mask"])
    session.undo_stack.undo()
    qtbot.waitUntil(lambda: side_labels(view, rnn) ==
                    ["initial_state[0]", "initial_state[1]", "mask"])


def test_a_cell_that_would_lose_a_connected_state_is_refused_with_why(
        session: EditorSession, view: CanvasView, inspector: Inspector, qtbot: Any) -> None:
    doc = session.doc
    x = add(session, edits.add_input(doc, (6, 3), name="x"))
    encoder = add(session, edits.add_layer(doc, "LSTM", {"units": 32, "return_state": True}))
    rnn = add(session, edits.add_layer(doc, "RNN"))
    out = add(session, edits.add_output(doc))
    for command in (edits.connect(doc, x, encoder), edits.connect(doc, x, rnn),
                    edits.connect(doc, rnn, out),
                    edits.connect(doc, encoder, rnn, src_index=1, dst_slot="initial_state[0]"),
                    edits.connect(doc, encoder, rnn, src_index=2, dst_slot="initial_state[1]")):
        assert session.push(command)
    edges = set(doc.graph.edges)
    inspector.set_target("main", rnn)
    choose(inspector.editors["cell"].class_box, "GRUCell")
    qtbot.waitUntil(lambda: inspector.message.isVisible())
    assert "connection into initial_state[1] without a port" in inspector.message.text()
    assert doc.graph.layer_of(rnn).params["cell"]["class_name"] == "LSTMCell"
    assert set(doc.graph.edges) == edges
    assert side_labels(view, rnn) == ["initial_state[0]", "initial_state[1]", "mask"]


def test_a_bidirectional_node_reads_as_python_and_shows_its_outputs(
        session: EditorSession, view: CanvasView, qtbot: Any) -> None:
    doc = session.doc
    x = add(session, edits.add_input(doc, (6, 3), name="x"))
    gru = {"class_name": "GRU", "params": {"units": 16, "return_sequences": True}}
    wrapper = add(session, edits.add_layer(doc, "Bidirectional", {"layer": gru}))
    assert session.push(edits.connect(doc, x, wrapper))
    item = view.canvas_scene.nodes[wrapper]
    assert "GRU(16, return_sequences=True)" in item.text.lines
    assert len(item.outputs) == 1
    assert side_labels(view, wrapper) == ["initial_state[0]", "initial_state[1]", "mask"]
    layer_id = doc.graph.layer_of(wrapper).id
    lstm = {"class_name": "LSTM", "params": {"units": 4, "return_state": True}}
    assert session.push(SetParam(layer_id, "layer", lstm))
    qtbot.waitUntil(lambda: len(item.outputs) == 5)  # the output, then h, c twice
    assert "LSTM(4, return_state=True)" in item.text.lines
    assert len(side_labels(view, wrapper)) == 5
