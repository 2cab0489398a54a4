"""Call arguments as ports: a layer's extra call tensors (initial_state, mask, attention
masks) are labelled input ports that validation, live shapes, the generated code and the
importer all understand; masks Keras propagates by itself round-trip untouched."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from roundtrip_support import assert_cli_round_trip, assert_round_trip

from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.analysis.validation import validate
from layerforge.core.codegen import model_code as codegen
from layerforge.core.codegen.loader import load_generated
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.renames import EditNode
from layerforge.core.io.keras_import.files import import_file
from layerforge.core.io.project import dumps, loads
from layerforge.core.schema.errors import ArityError

keras = pytest.importorskip("keras")
layers = keras.layers


# ------------------------------------------------------------------ the catalog
def test_ports_come_from_each_layers_call_signature(catalog):
    lstm, gru = catalog.get("LSTM").ports, catalog.get("GRU").ports
    assert lstm.extras == ("initial_state[0]", "initial_state[1]", "mask")
    assert gru.extras == ("initial_state[0]", "mask")
    assert catalog.get("ConvLSTM2D").ports.extras[:2] == ("initial_state[0]", "initial_state[1]")
    mha = catalog.get("MultiHeadAttention").ports
    assert "key" in mha.names and "attention_mask" in mha.extras and "query_mask" in mha.extras
    assert catalog.get("GlobalAveragePooling1D").ports.extras == ("mask",)
    assert catalog.get("Dense").ports.extras == ()
    assert lstm.training and catalog.get("Dropout").ports.training
    assert not catalog.get("Flatten").ports.training


# ------------------------------------------------------------------ a seq2seq in the app
def _seq2seq(doc: Document, stack: UndoStack) -> dict[str, str]:
    ids = {
        "enc_in": stack.push(edits.add_input(doc, [None, 5], name="enc_in")).node.id,
        "dec_in": stack.push(edits.add_input(doc, [None, 6], name="dec_in")).node.id,
        "encoder": stack.push(edits.add_layer(doc, "LSTM", {"units": 4, "return_state": True},
                                              name="encoder")).node.id,
        "decoder": stack.push(edits.add_layer(doc, "LSTM", {"units": 4,
                                                            "return_sequences": True},
                                              name="decoder")).node.id,
        "out": stack.push(edits.add_output(doc, name="decoder")).node.id,
    }
    stack.push(edits.connect(doc, ids["enc_in"], ids["encoder"]))
    stack.push(edits.connect(doc, ids["dec_in"], ids["decoder"]))
    stack.push(edits.connect(doc, ids["decoder"], ids["out"]))
    return ids


def test_initial_state_ports_are_validated_shaped_and_exported(doc, stack):
    ids = _seq2seq(doc, stack)
    stack.push(edits.connect(doc, ids["encoder"], ids["decoder"], src_index=1,
                             dst_slot="initial_state[0]"))
    problems = [d.message for d in validate(doc) if d.target == ids["decoder"]]
    assert problems == ["unconnected input: expected initial_state[1] (initial_state takes 2 "
                        "tensors, 1 connected)"]
    stack.push(edits.connect(doc, ids["encoder"], ids["decoder"], src_index=2,
                             dst_slot="initial_state[1]"))
    assert [d for d in validate(doc) if d.severity == "error"] == []
    engine = ShapeEngine(doc)
    assert engine.shapes()[ids["decoder"]].outputs == ((None, None, 4),)
    assert engine.total_params() == 2 * 4 * 4 * (5 + 4 + 1) + 4 * 4 * (6 - 5)
    code = codegen.generate(doc)
    assert "(dec_in, initial_state=[encoder[1], encoder[2]])" in code.source
    model = load_generated(code).build_model()
    assert model.count_params() == engine.total_params()


def test_call_ports_and_settings_are_kept_in_the_project_file(doc, stack, catalog):
    ids = _seq2seq(doc, stack)
    for index in (1, 2):
        stack.push(edits.connect(doc, ids["encoder"], ids["decoder"], src_index=index,
                                 dst_slot=f"initial_state[{index - 1}]"))
    stack.push(EditNode(ids["decoder"], {"call_kwargs": {"training": True}}))
    again = loads(dumps(doc), catalog=catalog)
    slots = {e.dst_slot: e.src_index for e in again.graph.in_edges(ids["decoder"])}
    assert slots == {0: 0, "initial_state[0]": 1, "initial_state[1]": 2}
    assert again.graph.node(ids["decoder"]).call_kwargs == {"training": True}
    assert "initial_state=[encoder[1], encoder[2]], training=True)" in \
        codegen.generate(again).source


def test_a_state_of_the_wrong_size_is_an_error_on_the_node(doc, stack):
    ids = _seq2seq(doc, stack)
    other = stack.push(edits.add_layer(doc, "Dense", {"units": 3})).node.id
    stack.push(edits.connect(doc, ids["enc_in"], other))
    for slot in ("initial_state[0]", "initial_state[1]"):
        stack.push(edits.connect(doc, other, ids["decoder"], dst_slot=slot))
    error = ShapeEngine(doc).shapes()[ids["decoder"]].error
    assert error is not None and error.target == ids["decoder"]
    assert "expected initial_state[0] of shape (None, 4); received (None, None, 3)" \
        in error.message


def test_a_port_the_call_does_not_take_is_refused_with_the_ports_it_has(doc, stack):
    ids = _seq2seq(doc, stack)
    with pytest.raises(ArityError, match=r"initial_state\[0\], initial_state\[1\], mask; "
                                         r"received 'initial_state\[2\]'"):
        edits.connect(doc, ids["enc_in"], ids["decoder"], dst_slot="initial_state[2]")


# ------------------------------------------------------------------ import round trips
def _char_seq2seq() -> keras.Model:
    """keras.io's character-level seq2seq, small: the decoder starts from the encoder's
    states."""
    encoder_inputs = keras.Input(shape=(None, 7), name="encoder_inputs")
    _, state_h, state_c = layers.LSTM(8, return_state=True, name="encoder")(encoder_inputs)
    decoder_inputs = keras.Input(shape=(None, 9), name="decoder_inputs")
    decoded = layers.LSTM(8, return_sequences=True, name="decoder")(
        decoder_inputs, initial_state=[state_h, state_c])
    outputs = layers.Dense(9, activation="softmax", name="dense")(decoded)
    return keras.Model([encoder_inputs, decoder_inputs], outputs)


def test_a_character_seq2seq_round_trips_with_its_initial_state(tmp_path: Path):
    doc = assert_round_trip(_char_seq2seq(), tmp_path, length=5)
    decoder = next(n for n in doc.graph.calls() if doc.graph.layer(n.layer_id).name == "decoder")
    slots = {e.dst_slot for e in doc.graph.in_edges(decoder.id)}
    assert slots == {0, "initial_state[0]", "initial_state[1]"}
    assert "initial_state=[encoder[1], encoder[2]]" in codegen.generate(doc).source


def test_a_character_seq2seq_round_trips_through_the_command_line(tmp_path: Path):
    exported = assert_cli_round_trip(_char_seq2seq(), tmp_path, length=5)
    assert "(decoder_inputs, initial_state=[encoder[1], encoder[2]])" in exported.read_text()


def test_an_embedding_with_mask_zero_round_trips_and_keeps_masking(tmp_path: Path):
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = layers.Embedding(50, 8, mask_zero=True)(tokens)
    x = layers.LSTM(6, return_sequences=True)(x)
    x = layers.LSTM(6)(x)
    model = keras.Model(tokens, layers.Dense(1, activation="sigmoid")(x))
    doc = assert_round_trip(model, tmp_path, length=6)
    assert not any(isinstance(e.dst_slot, str) for e in doc.graph.edges.values())
    rebuilt = load_generated(codegen.generate(doc)).build_model()
    rebuilt.set_weights(model.get_weights())
    padded = np.array([[3, 4, 0, 0], [5, 0, 0, 0]], "int32")
    longer = np.array([[3, 4, 0, 0, 0, 0], [5, 0, 0, 0, 0, 0]], "int32")
    # the mask works: more padding changes nothing, as in the original
    np.testing.assert_allclose(rebuilt(longer), rebuilt(padded), atol=1e-6)
    np.testing.assert_allclose(rebuilt(padded), model(padded), atol=1e-6)


def test_a_masking_layer_round_trips(tmp_path: Path):
    inputs = keras.Input(shape=(5, 3), name="frames")
    x = layers.LSTM(4)(layers.Masking(mask_value=0.0)(inputs))
    assert_round_trip(keras.Model(inputs, layers.Dense(2)(x)), tmp_path)


def test_a_transformer_encoder_block_round_trips(tmp_path: Path):
    inputs = keras.Input(shape=(6, 16), name="tokens")
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=8)(inputs, inputs, key=inputs)
    x = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([inputs, attended]))
    hidden = layers.Dense(32, activation="relu")(x)
    hidden = layers.Dense(16)(hidden)
    outputs = layers.LayerNormalization(epsilon=1e-6)(layers.Add()([x, hidden]))
    doc = assert_round_trip(keras.Model(inputs, outputs), tmp_path)
    source = codegen.generate(doc).source
    assert "(query=tokens, value=tokens, key=tokens)" in source


def test_an_explicit_mask_and_attention_mask_are_wired_into_their_ports(tmp_path: Path):
    tokens = keras.Input(shape=(4, 3), name="tokens")
    keep = keras.Input(shape=(4,), dtype="bool", name="keep")
    pairs = keras.Input(shape=(4, 4), dtype="bool", name="pairs")
    attended = layers.MultiHeadAttention(num_heads=1, key_dim=2, name="mha")(
        tokens, tokens, attention_mask=pairs)
    summary = layers.GRU(3, name="gru")(attended, mask=keep)
    model = keras.Model([tokens, keep, pairs], summary)
    path = tmp_path / "masked.keras"
    model.save(path)
    result = import_file(path)
    assert result.warnings == []
    source = codegen.generate(result.doc).source
    assert "attention_mask=pairs" in source and "(mha, mask=keep)" in source
    rebuilt = load_generated(codegen.generate(result.doc)).build_model()
    rebuilt.set_weights(model.get_weights())
    rng = np.random.default_rng(3)
    batch = [rng.random((2, 4, 3), dtype=np.float32), np.array([[1, 1, 0, 0], [1, 0, 1, 0]], bool),
             rng.random((2, 4, 4)) > 0.3]
    np.testing.assert_allclose(rebuilt(batch), model(batch), atol=1e-6)


def test_a_mask_computed_by_ops_imports_as_lambda_expressions(tmp_path: Path):
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    frames = keras.Input(shape=(4, 3), name="frames")
    embedded = layers.Embedding(30, 4, name="embedding")(tokens)  # no mask_zero: explicit
    words = layers.LSTM(3, name="words")(embedded, mask=keras.ops.not_equal(tokens, 0))
    valid = keras.ops.any(keras.ops.not_equal(frames, 0.0), axis=-1)
    steps = layers.GRU(3, name="steps")(frames, mask=valid)
    model = keras.Model([tokens, frames], layers.Concatenate(name="both")([words, steps]))
    path = tmp_path / "ops_mask.keras"
    model.save(path)
    result = import_file(path)
    assert result.warnings == []
    expressions = sorted(layer.params["expression"] for layer in result.doc.graph.layers.values()
                         if layer.class_name == "Lambda")
    assert expressions == ["ops.any(x, axis=-1)", "ops.not_equal(x, 0)", "ops.not_equal(x, 0.0)"]
    source = codegen.generate(result.doc).source
    assert re.search(r"\(embedding, mask=not_equal(_\d+)?\)", source)  # Keras numbers ops
    rebuilt = load_generated(codegen.generate(result.doc)).build_model()
    for layer in model.layers:
        if layer.weights:
            rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
    batch = [np.array([[3, 4, 0, 0], [5, 0, 0, 0]], "int32"),
             np.random.default_rng(1).random((2, 4, 3)).astype("float32")]
    batch[1][:, 2:] = 0.0
    np.testing.assert_allclose(rebuilt(batch), model(batch), atol=1e-6)


def test_a_mask_of_the_wrong_shape_is_an_error_on_the_node(doc, stack):
    ids = _seq2seq(doc, stack)
    flags = stack.push(edits.add_input(doc, [7, 2], name="flags", dtype="bool")).node.id
    stack.push(edits.connect(doc, flags, ids["decoder"], dst_slot="mask"))
    error = ShapeEngine(doc).shapes()[ids["decoder"]].error
    assert error is not None
    assert "expected a mask of shape (None, None) (batch, timesteps); received (None, 7, 2)" \
        in error.message


def test_a_bidirectional_layer_offers_a_mask_but_no_state_ports(catalog):
    # its states depend on the layer it wraps, which the class alone does not tell
    assert catalog.get("Bidirectional").ports.extras == ("mask",)


def test_a_rank_fix_goes_on_the_main_input_not_on_a_call_port(doc, stack):
    flags = stack.push(edits.add_input(doc, [8], name="flags", dtype="bool")).node.id
    x = stack.push(edits.add_input(doc, [8], name="x")).node.id
    lstm = stack.push(edits.add_layer(doc, "LSTM", {"units": 4})).node.id
    stack.push(edits.connect(doc, flags, lstm, dst_slot="mask"))  # wired first
    main = stack.push(edits.connect(doc, x, lstm)).edge
    error = ShapeEngine(doc).shapes()[lstm].error
    assert error is not None and error.fix is not None
    assert error.fix.edge_id == main.id


def test_a_masked_transformer_classifier_round_trips(tmp_path: Path):
    """The padding mask reaches the pooling through ops Keras records (not_equal, and the
    merge's logical_or): they are left to Keras, which computes them again."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = layers.Embedding(50, 8, mask_zero=True)(tokens)
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=4)(x, x)
    x = layers.LayerNormalization()(layers.Add()([x, attended]))
    x = layers.GlobalAveragePooling1D()(x)
    doc = assert_round_trip(keras.Model(tokens, layers.Dense(1)(x)), tmp_path, length=6)
    assert not any(layer.class_name == "Lambda" for layer in doc.graph.layers.values())


def test_an_explicit_mask_on_another_branch_is_kept_beside_an_automatic_one(tmp_path: Path):
    """Both masks are not_equal(tokens, 0): the one Keras propagates from the masking
    Embedding is left to Keras, the one passed to a layer on the other branch is wired."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    masked = layers.LSTM(3, name="masked")(layers.Embedding(50, 4, mask_zero=True)(tokens))
    plain = layers.Embedding(50, 4, name="plain_embedding")(tokens)
    explicit = layers.LSTM(3, name="explicit")(plain, mask=keras.ops.not_equal(tokens, 0))
    model = keras.Model(tokens, layers.Concatenate(name="both")([masked, explicit]))
    path = tmp_path / "branches.keras"
    model.save(path)
    doc = import_file(path).doc
    graph = doc.graph
    wired = {graph.layer_of(e.dst).name: graph.layer_of(e.src).class_name
             for e in graph.edges.values() if e.dst_slot == "mask"}
    assert wired == {"explicit": "Lambda"}
    rebuilt = load_generated(codegen.generate(doc)).build_model()
    for layer in model.layers:
        if layer.weights:
            rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
    batch = np.array([[3, 4, 0, 0], [5, 0, 0, 0]], "int32")
    np.testing.assert_allclose(rebuilt(batch), model(batch), atol=1e-6)


def test_a_calls_training_argument_imports_as_its_setting(tmp_path: Path):
    inputs = keras.Input(shape=(4,), name="x")
    dropped = layers.Dropout(0.5, name="always")(inputs, training=True)  # Monte Carlo dropout
    path = tmp_path / "mc.keras"
    keras.Model(inputs, layers.Dense(2, name="out")(dropped)).save(path)
    doc = import_file(path).doc
    call = next(n for n in doc.graph.calls() if doc.graph.layer(n.layer_id).name == "always")
    assert call.call_kwargs == {"training": True}
    assert "(x, training=True)" in codegen.generate(doc).source


def test_states_that_do_not_fit_the_cell_are_refused_naming_the_ports(doc, stack):
    """An RNN's state ports follow its cell (GRUCell: one state): a second is refused with
    the ports the layer has (tests/core/test_ports_per_layer.py covers the rest)."""
    ids = _seq2seq(doc, stack)
    rnn = stack.push(edits.add_layer(doc, "RNN", {"cell": {"class_name": "GRUCell",
                                                           "params": {"units": 4}}})).node.id
    stack.push(edits.connect(doc, ids["dec_in"], rnn))
    stack.push(edits.connect(doc, ids["encoder"], rnn, src_index=1,
                             dst_slot="initial_state[0]"))
    with pytest.raises(ArityError, match=r"one of initial_state\[0\], mask; "
                                         r"received 'initial_state\[1\]'"):
        edits.connect(doc, ids["encoder"], rnn, src_index=2, dst_slot="initial_state[1]")
