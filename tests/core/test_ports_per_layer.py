"""Ports per layer, not per class: the states a recurrent layer takes follow the cell it runs
or the layer it wraps (RNN(GRUCell): 1, StackedRNNCells: the sum, Bidirectional(LSTM): 4),
and so does how many tensors it returns; validation, live shapes, the code and the importer
agree, and a connection into a port the layer loses stays, as an error on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from roundtrip_support import assert_cli_round_trip, assert_round_trip

from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.analysis.validation import validate
from layerforge.core.codegen import model_code as codegen
from layerforge.core.codegen.loader import load_generated
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import Disconnect, SetParam
from layerforge.core.schema.errors import ParameterError
from layerforge.core.schema.records import LayerSpec

keras = pytest.importorskip("keras")
layers = keras.layers


def cell(class_name: str, units: int = 4) -> dict:
    return {"class_name": class_name, "params": {"units": units}}


def states(doc: Document, class_name: str, params: dict) -> tuple[str, ...]:
    spec = doc.port_spec_of(LayerSpec(id="l", class_name=class_name, name="l", params=params))
    return tuple(s for s in spec.extras if s.startswith("initial_state"))


def test_state_ports_follow_the_cell_or_the_wrapped_layer(doc: Document) -> None:
    assert len(states(doc, "RNN", {})) == 2  # its default LSTMCell: h and c
    assert states(doc, "RNN", {"cell": cell("GRUCell")}) == ("initial_state[0]",)
    assert len(states(doc, "RNN", {"cell": cell("SimpleRNNCell")})) == 1
    stacked = {"class_name": "StackedRNNCells",
               "params": {"cells": [cell("LSTMCell"), cell("GRUCell")]}}
    assert len(states(doc, "RNN", {"cell": stacked})) == 3
    assert len(states(doc, "Bidirectional", {"layer": cell("LSTM")})) == 4
    assert len(states(doc, "Bidirectional", {"layer": cell("GRU")})) == 2
    assert len(states(doc, "Bidirectional", {"layer": {
        "class_name": "RNN", "params": {"cell": cell("GRUCell")}}})) == 2
    # the mask port stays after the states, as in Bidirectional.call
    spec = doc.port_spec_of(LayerSpec(id="b", class_name="Bidirectional", name="b",
                                      params={"layer": cell("GRU")}))
    assert spec.extras == ("initial_state[0]", "initial_state[1]", "mask")


def _encoder_decoder(doc: Document, stack: UndoStack, encoder: dict, decoder: dict
                     ) -> dict[str, str]:
    ids = {
        "enc_in": stack.push(edits.add_input(doc, [None, 5], name="enc_in")).node.id,
        "dec_in": stack.push(edits.add_input(doc, [None, 6], name="dec_in")).node.id,
        "encoder": stack.push(edits.add_layer(doc, encoder.pop("class_name"), encoder,
                                              name="encoder")).node.id,
        "decoder": stack.push(edits.add_layer(doc, decoder.pop("class_name"), decoder,
                                              name="decoder")).node.id,
        "out": stack.push(edits.add_output(doc, name="decoder")).node.id,
    }
    stack.push(edits.connect(doc, ids["enc_in"], ids["encoder"]))
    stack.push(edits.connect(doc, ids["dec_in"], ids["decoder"]))
    stack.push(edits.connect(doc, ids["decoder"], ids["out"]))
    return ids


def test_an_rnn_of_a_gru_cell_takes_its_one_state_in_shapes_and_code(
        doc: Document, stack: UndoStack) -> None:
    ids = _encoder_decoder(doc, stack, {"class_name": "GRU", "units": 4, "return_state": True},
                           {"class_name": "RNN", "cell": cell("GRUCell"),
                            "return_sequences": True})
    stack.push(edits.connect(doc, ids["encoder"], ids["decoder"], src_index=1,
                             dst_slot="initial_state[0]"))
    assert validate(doc) == []
    assert ShapeEngine(doc).shapes()[ids["decoder"]].outputs == ((None, None, 4),)
    source = codegen.generate(doc).source
    assert "initial_state=[encoder[1]]" in source
    assert load_generated(codegen.generate(doc)).build_model().count_params() > 0


def test_a_cell_with_fewer_states_is_refused_while_the_states_are_connected(
        doc: Document, stack: UndoStack) -> None:
    """Nothing is lost: the change names the connection to remove first."""
    ids = _encoder_decoder(doc, stack, {"class_name": "LSTM", "units": 4,
                                        "return_state": True},
                           {"class_name": "RNN", "cell": cell("LSTMCell"),
                            "return_sequences": True})
    for index in (0, 1):
        stack.push(edits.connect(doc, ids["encoder"], ids["decoder"], src_index=index + 1,
                                 dst_slot=f"initial_state[{index}]"))
    assert validate(doc) == []
    rnn = doc.graph.node(ids["decoder"]).layer_id
    edges = set(doc.graph.edges)
    with pytest.raises(ParameterError, match=r"RNN 'decoder': cell: that value leaves the "
                       r"connection into initial_state\[1\] without a port .*disconnect it"):
        stack.push(SetParam(rnn, "cell", cell("GRUCell")))
    assert doc.graph.layer(rnn).params["cell"]["class_name"] == "LSTMCell"
    assert set(doc.graph.edges) == edges
    # Disconnected first, the one-state cell is taken, and the project copies and reloads.
    lost = next(e for e in doc.graph.in_edges(ids["decoder"])
                if e.dst_slot == "initial_state[1]")
    stack.push(Disconnect(lost.id))
    stack.push(SetParam(rnn, "cell", cell("GRUCell")))
    assert validate(doc) == []
    assert len(doc.copy().graph.edges) == len(doc.graph.edges)
    assert "initial_state=[encoder[1]]" in codegen.generate(doc).source


def test_a_bidirectional_lstm_with_states_in_the_app_builds(
        doc: Document, stack: UndoStack) -> None:
    """Only output 0 of a Bidirectional(LSTM(return_state=True)) used: the code still
    indexes its outputs, and the live pass shows its 5 outputs."""
    x = stack.push(edits.add_input(doc, [7, 5], name="x")).node.id
    encoder = stack.push(edits.add_layer(doc, "Bidirectional", {"layer": {
        "class_name": "LSTM", "params": {"units": 4, "return_state": True}}},
        name="encoder")).node.id
    out = stack.push(edits.add_output(doc, name="encoder")).node.id
    stack.push(edits.connect(doc, x, encoder))
    stack.push(edits.connect(doc, encoder, out))
    shapes = ShapeEngine(doc).shapes()[encoder].outputs
    assert shapes == ((None, 8), (None, 4), (None, 4), (None, 4), (None, 4))
    source = codegen.generate(doc).source
    assert "encoder[0]" in source
    model = load_generated(codegen.generate(doc)).build_model()
    assert model.output.shape == (None, 8)


# ------------------------------------------------------------------ .keras round trips
def _bidirectional_seq2seq() -> keras.Model:
    """A Bidirectional(LSTM) encoder whose four states (forward h, c, backward h, c) start a
    Bidirectional(LSTM) decoder, and whose summary feeds a second output."""
    enc_in = keras.Input(shape=(None, 5), name="enc_in")
    summary, fh, fc, bh, bc = layers.Bidirectional(
        layers.LSTM(8, return_state=True), name="encoder")(enc_in)
    dec_in = keras.Input(shape=(None, 6), name="dec_in")
    decoded = layers.Bidirectional(layers.LSTM(8, return_sequences=True), name="decoder")(
        dec_in, initial_state=[fh, fc, bh, bc])
    tokens = layers.Dense(6, name="tokens")(decoded)
    topic = layers.Dense(2, name="topic")(summary)
    return keras.Model([enc_in, dec_in], [tokens, topic])


def _gru_cell_seq2seq() -> keras.Model:
    enc_in = keras.Input(shape=(None, 5), name="enc_in")
    _, state = layers.GRU(8, return_state=True, name="encoder")(enc_in)
    dec_in = keras.Input(shape=(None, 6), name="dec_in")
    decoded = layers.RNN(layers.GRUCell(8), return_sequences=True, name="decoder")(
        dec_in, initial_state=[state])
    return keras.Model([enc_in, dec_in], layers.Dense(6, name="tokens")(decoded))


def test_a_bidirectional_lstm_seq2seq_round_trips(tmp_path: Path) -> None:
    doc = assert_round_trip(_bidirectional_seq2seq(), tmp_path, length=5)
    decoder = next(n for n in doc.graph.calls()
                   if doc.graph.layer(n.layer_id).name == "decoder")
    slots = sorted(str(e.dst_slot) for e in doc.graph.in_edges(decoder.id))
    assert slots == ["0", *(f"initial_state[{i}]" for i in range(4))]
    assert "initial_state=[encoder[1], encoder[2], encoder[3], encoder[4]]" in \
        codegen.generate(doc).source


def test_a_bidirectional_lstm_seq2seq_round_trips_through_the_command_line(
        tmp_path: Path) -> None:
    assert_cli_round_trip(_bidirectional_seq2seq(), tmp_path, length=5)


def test_an_rnn_of_a_gru_cell_with_its_state_round_trips(tmp_path: Path) -> None:
    doc = assert_round_trip(_gru_cell_seq2seq(), tmp_path, length=5)
    assert "initial_state=[encoder[1]]" in codegen.generate(doc).source
    (tmp_path / "cli").mkdir()
    assert_cli_round_trip(_gru_cell_seq2seq(), tmp_path / "cli", length=5)


def test_stacked_cells_take_each_cells_states_grouped_per_cell(tmp_path: Path) -> None:
    """Keras passes StackedRNNCells' states nested per cell ([[h, c], h2]); the import
    takes them flat into the RNN's 3 state ports, and the code groups them again (a flat
    list passes a symbolic call but fails when the model runs)."""
    enc_in = keras.Input(shape=(None, 5), name="enc_in")
    _, h, c = layers.LSTM(3, return_state=True, name="lstm_encoder")(enc_in)
    _, h2 = layers.GRU(4, return_state=True, name="gru_encoder")(enc_in)
    decoded = layers.RNN(layers.StackedRNNCells([layers.LSTMCell(3), layers.GRUCell(4)]),
                         name="decoder")(enc_in, initial_state=[[h, c], h2])
    model = keras.Model(enc_in, layers.Dense(2, name="out")(decoded))
    doc = assert_round_trip(model, tmp_path, length=5)
    assert "initial_state=[[lstm_encoder[1], lstm_encoder[2]], gru_encoder[1]]" in \
        codegen.generate(doc).source


def test_a_bidirectional_layers_states_are_checked_half_forward_half_backward(
        doc: Document, stack: UndoStack) -> None:
    ids = _encoder_decoder(doc, stack, {"class_name": "Bidirectional", "layer": {
        "class_name": "LSTM", "params": {"units": 4, "return_state": True}}},
        {"class_name": "Bidirectional", "layer": {
            "class_name": "LSTM", "params": {"units": 4, "return_sequences": True}}})
    for index in range(4):
        stack.push(edits.connect(doc, ids["encoder"], ids["decoder"], src_index=index + 1,
                                 dst_slot=f"initial_state[{index}]"))
    engine = ShapeEngine(doc)
    assert validate(doc) == [] and engine.diagnostics() == []
    assert engine.shapes()[ids["decoder"]].outputs == ((None, None, 8),)
    wide = stack.push(edits.add_input(doc, [5], name="wide")).node.id
    edge = next(e for e in doc.graph.in_edges(ids["decoder"])
                if e.dst_slot == "initial_state[3]")
    doc.graph.remove_edge(edge.id)
    stack.push(edits.connect(doc, wide, ids["decoder"], dst_slot="initial_state[3]"))
    error = ShapeEngine(doc).shapes()[ids["decoder"]].error
    assert error is not None
    assert "expected initial_state[3] of shape (None, 4); received (None, 5)" in error.message


def test_a_bidirectional_without_merging_returns_two_outputs(tmp_path: Path) -> None:
    inputs = keras.Input(shape=(6, 3), name="x")
    forward, backward = layers.Bidirectional(layers.GRU(4), merge_mode=None,
                                             name="both")(inputs)
    model = keras.Model(inputs, layers.Subtract(name="gap")([forward, backward]))
    doc = assert_round_trip(model, tmp_path)
    both = next(n for n in doc.graph.calls() if doc.graph.layer(n.layer_id).name == "both")
    assert ShapeEngine(doc).shapes()[both.id].outputs == ((None, 4), (None, 4))
    assert "layers.Subtract(name='gap')([both[0], both[1]])" in codegen.generate(doc).source
