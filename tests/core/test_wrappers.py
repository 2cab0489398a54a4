"""Wrapper and nested layers (Bidirectional, TimeDistributed, SpectralNormalization, RNN with
a cell, StackedRNNCells, Pipeline): the catalog, value checks, live shapes and parameter
counts equal to Keras', generated code as a person writes it, project files and .keras
round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from roundtrip_support import assert_cli_round_trip, assert_round_trip, copy_weights

from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.catalog.catalog import Catalog
from layerforge.core.cli import main as cli
from layerforge.core.codegen.loader import build_model
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io import project
from layerforge.core.io.keras_import.files import import_file
from layerforge.core.schema.errors import LayerForgeError, ModelImportError, ProjectFileError

keras = pytest.importorskip("keras")
layers = keras.layers

GRU_32 = {"class_name": "GRU", "params": {"units": 32, "return_sequences": True}}


def chain(doc: Document, shape: list[int | None], specs: list[tuple[str, dict[str, Any]]],
          dtype: str = "float32") -> list[str]:
    """Input -> the layers in order -> output; the call node ids."""
    stack = UndoStack(doc)
    previous = stack.push(edits.add_input(doc, shape, dtype=dtype, name="x")).node.id
    calls = []
    for class_name, params in specs:
        node = stack.push(edits.add_layer(doc, class_name, params)).node.id
        stack.push(edits.connect(doc, previous, node))
        calls.append(node)
        previous = node
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, previous, out))
    return calls


def text_classifier(doc: Document) -> list[str]:
    return chain(doc, [20], [
        ("Embedding", {"input_dim": 100, "output_dim": 8}),
        ("Bidirectional", {"layer": GRU_32}),
        ("Bidirectional", {"layer": {"class_name": "LSTM", "params": {"units": 16}}}),
        ("Dense", {"units": 1, "activation": "sigmoid"}),
    ], dtype="int32")


# ------------------------------------------------------------------ catalog
def test_wrappers_are_in_the_catalog_with_fitting_choices(catalog: Catalog) -> None:
    layer = catalog.get("Bidirectional").param("layer")
    assert layer.kind == "layer" and layer.required
    assert {"GRU", "LSTM", "SimpleRNN", "RNN"} <= set(layer.choices)
    assert "Dense" not in layer.choices
    backward = catalog.get("Bidirectional").param("backward_layer")
    assert backward.default is None and None in backward.choices
    assert catalog.get("Bidirectional").param("merge_mode").choices[:2] == ("concat", "sum")
    assert not catalog.get("Bidirectional").has_param("weights")
    assert {"Conv2D", "Dense", "GlobalAveragePooling2D"} <= set(
        catalog.get("TimeDistributed").param("layer").choices)
    spectral = set(catalog.get("SpectralNormalization").param("layer").choices)
    assert {"Dense", "Conv2D", "Embedding"} <= spectral and "Dropout" not in spectral
    assert set(catalog.get("RNN").param("cell").choices) == {
        "LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells"}
    assert catalog.get("Pipeline").param("layers").kind == "layers"
    for cell in ("LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells"):
        assert cell not in catalog and cell not in catalog.excluded, "chosen inside an RNN"
        assert cell in catalog.nested
    for placed in ("Bidirectional", "TimeDistributed", "SpectralNormalization", "RNN",
                   "Pipeline"):
        assert placed not in catalog.excluded


def test_every_layer_that_holds_layers_or_is_held_has_a_place(catalog: Catalog) -> None:
    """Every public keras.layers class is on the palette, chosen inside another layer, or
    left out with a reason (none of the wrappers or cells is left out)."""
    public = {name for name in dir(layers) if isinstance(getattr(layers, name), type) and
              issubclass(getattr(layers, name), layers.Layer) and
              getattr(layers, name).__name__ == name}
    placed = set(catalog.entries) | set(catalog.nested) | set(catalog.excluded)
    assert public - placed == set()
    assert not {"Bidirectional", "TimeDistributed", "SpectralNormalization", "RNN",
                "StackedRNNCells", "Pipeline", "LSTMCell", "GRUCell",
                "SimpleRNNCell"} & set(catalog.excluded)


@pytest.mark.parametrize(("value", "message"), [
    ({"class_name": "Dense", "params": {"units": 4}},
     "'layer' expected a layer of class one of 'ConvLSTM1D'"),
    ({"class_name": "GRU", "params": {"units": "32"}},
     "'layer' (GRU): 'units' expected an integer; received '32' (str)"),
    ({"class_name": "GRU", "params": {"unitz": 3}},
     "expected a parameter among units, activation"),
    ({"class_name": "GRU", "params": {}}, "expected a value for 'units'; received none"),
    ("GRU", "'layer' expected a layer such as"),
    ({"class_name": "GRU", "params": {"units": 3}, "weights": []},
     "expected only the keys class_name, params and name; received 'weights'"),
])
def test_a_bad_nested_layer_is_refused_naming_expected_and_received(
        catalog: Catalog, value: Any, message: str) -> None:
    problem = catalog.get("Bidirectional").param("layer").value_error(value)
    assert problem is not None and message in problem


# ------------------------------------------------------------------ live pass and code
def test_bidirectional_text_classifier_shapes_params_and_code(doc: Document) -> None:
    calls = text_classifier(doc)
    engine = ShapeEngine(doc)
    shapes = engine.shapes()
    assert [shapes[c].outputs for c in calls] == [
        ((None, 20, 8),), ((None, 20, 64),), ((None, 32),), ((None, 1),)]
    model = build_model(doc)
    assert engine.total_params() == model.count_params()
    for call in calls[1:3]:
        layer = doc.graph.layer(doc.graph.nodes[call].layer_id)
        assert engine.layer_params(layer.id) == model.get_layer(layer.name).count_params()
    source = generate(doc).source
    assert "layers.Bidirectional(layers.GRU(32, return_sequences=True), name=" in source or \
        "layers.Bidirectional(\n        layers.GRU(32, return_sequences=True),\n" in source
    assert "layers.Bidirectional(layers.LSTM(16), name='bidirectional_1')" in source


def test_generated_code_reads_as_written_by_hand(doc: Document) -> None:
    chain(doc, [10, 4], [("Bidirectional", {"layer": GRU_32}), ("Flatten", {})])
    assert "layers.Bidirectional(layers.GRU(32, return_sequences=True)" in \
        generate(doc).source.replace("\n        ", "").replace(",\n    ", ", ")


def test_rnn_with_stacked_cells_and_spectral_normalization(doc: Document) -> None:
    cells = {"class_name": "StackedRNNCells", "params": {"cells": [
        {"class_name": "LSTMCell", "params": {"units": 8}},
        {"class_name": "GRUCell", "params": {"units": 4}}]}}
    calls = chain(doc, [6, 3], [
        ("RNN", {"cell": cells}),
        ("SpectralNormalization", {"layer": {"class_name": "Dense", "params": {"units": 5}}}),
    ])
    engine = ShapeEngine(doc)
    assert engine.shapes()[calls[1]].outputs == ((None, 5),)
    model = build_model(doc)
    assert engine.total_params() == model.count_params()
    source = generate(doc).source
    assert "layers.RNN(layers.StackedRNNCells([layers.LSTMCell(8), layers.GRUCell(4)])" in \
        source


def test_choosing_another_nested_class_is_one_undoable_edit(doc: Document) -> None:
    calls = chain(doc, [10, 4], [("Bidirectional", {})])
    layer = doc.graph.layer(doc.graph.nodes[calls[0]].layer_id)
    assert layer.params["layer"] == {"class_name": "LSTM", "params": {"units": 32}}
    stack = UndoStack(doc)
    stack.push(SetParam(layer.id, "layer", GRU_32))
    assert ShapeEngine(doc).shapes()[calls[0]].outputs == ((None, 10, 64),)
    with pytest.raises(LayerForgeError, match="'units' expected an integer"):
        stack.push(SetParam(layer.id, "layer", {"class_name": "GRU",
                                                "params": {"units": 2.5}}))
    stack.undo()
    assert doc.graph.layer(layer.id).params["layer"]["class_name"] == "LSTM"


# ------------------------------------------------------------------ project files
def test_nested_layers_survive_project_files(doc: Document, tmp_path: Path) -> None:
    text_classifier(doc)
    path = tmp_path / "text.json"
    project.save(doc, path)
    assert project.dumps(project.load(path)) == project.dumps(doc)
    assert generate(project.load(path)).source == generate(doc).source


def test_a_file_with_a_bad_nested_layer_names_it(doc: Document, tmp_path: Path) -> None:
    text_classifier(doc)
    path = tmp_path / "bad.json"
    path.write_text(project.dumps(doc).replace('"class_name": "GRU"', '"class_name": "Dense"'))
    with pytest.raises(ProjectFileError, match=r"'layer' expected a layer of class one of .*"
                                               r"received 'Dense'"):
        project.load(path)


# ------------------------------------------------------------------ .keras round trips
def test_time_distributed_video_classifier_round_trips(tmp_path: Path) -> None:
    """In the style of keras.io's video classification: frames -> per-frame CNN -> LSTM,
    through `layerforge import` and `layerforge export --format py`."""
    frames = keras.Input(shape=(4, 16, 16, 3), name="frames")
    x = layers.TimeDistributed(layers.Conv2D(8, 3, activation="relu"))(frames)
    x = layers.TimeDistributed(layers.MaxPooling2D())(x)
    x = layers.TimeDistributed(layers.GlobalAveragePooling2D())(x)
    x = layers.LSTM(16)(x)
    outputs = layers.Dense(5, activation="softmax")(x)
    exported = assert_cli_round_trip(keras.Model(frames, outputs), tmp_path)
    doc = project.load(tmp_path / "imported.json")
    wrapped = [layer.params["layer"]["class_name"] for layer in doc.graph.layers.values()
               if layer.class_name == "TimeDistributed"]
    assert wrapped == ["Conv2D", "MaxPooling2D", "GlobalAveragePooling2D"]
    code = exported.read_text(encoding="utf-8")
    assert "layers.TimeDistributed(\n        layers.Conv2D(8, 3, activation='relu', name=" in code


@pytest.mark.parametrize("mask_zero", [False, True])
def test_bidirectional_gru_lstm_text_classifier_round_trips(tmp_path: Path,
                                                            mask_zero: bool) -> None:
    """In the style of keras.io's bidirectional LSTM example; with mask_zero, padding (0)
    is masked through both recurrent layers, in the original and in the rebuilt model."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = layers.Embedding(50, 8, mask_zero=mask_zero)(tokens)
    x = layers.Bidirectional(layers.GRU(8, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(4), merge_mode="sum")(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(tokens, outputs)
    doc = assert_round_trip(model, tmp_path)
    if mask_zero:
        rebuilt = build_model(doc)
        copy_weights(model, rebuilt)
        padded = np.array([[5, 7, 9, 0, 0, 0]], dtype="int32")
        np.testing.assert_allclose(rebuilt(padded), model(padded), atol=1e-5)
        np.testing.assert_allclose(rebuilt(padded), rebuilt(padded[:, :3]), atol=1e-5,
                                   err_msg="the padding is masked")
    bidirectional = [layer for layer in doc.graph.layers.values()
                     if layer.class_name == "Bidirectional"]
    assert bidirectional[0].params["layer"]["params"] == {"units": 8, "return_sequences": True}
    assert "backward_layer" not in bidirectional[0].params, "Keras derives it"
    assert bidirectional[1].params["merge_mode"] == "sum"


def test_wrapped_wrappers_round_trip(tmp_path: Path) -> None:
    """A hierarchical text model: a bidirectional GRU per sentence, then one over them."""
    words = keras.Input(shape=(3, 5, 4), name="words")
    x = layers.TimeDistributed(layers.Bidirectional(layers.GRU(3)))(words)
    x = layers.Bidirectional(layers.GRU(2))(x)
    doc = assert_round_trip(keras.Model(words, x), tmp_path)
    (wrapper,) = [layer for layer in doc.graph.layers.values()
                  if layer.class_name == "TimeDistributed"]
    assert wrapper.params["layer"]["class_name"] == "Bidirectional"
    assert wrapper.params["layer"]["params"]["layer"]["class_name"] == "GRU"


def test_imported_weights_of_wrapped_layers_survive_save_and_keras_export(
        tmp_path: Path) -> None:
    """Imported with its weights, saved as a project, exported with `layerforge export
    --format keras`: the same outputs (SpectralNormalization's power-iteration vector too)."""
    frames = keras.Input(shape=(4, 8, 8, 3), name="frames")
    x = layers.TimeDistributed(layers.Conv2D(4, 3))(frames)
    x = layers.TimeDistributed(layers.GlobalAveragePooling2D())(x)
    x = layers.Bidirectional(layers.LSTM(3))(x)
    model = keras.Model(frames, layers.SpectralNormalization(layers.Dense(2))(x))
    model.save(tmp_path / "video.keras")
    project.save(import_file(tmp_path / "video.keras", keep_weights=True).doc,
                 tmp_path / "video.json")
    assert cli.main(["export", str(tmp_path / "video.json"), "--format", "keras",
                     "-o", str(tmp_path / "exported.keras")]) == 0
    exported = keras.saving.load_model(tmp_path / "exported.keras", compile=False)
    batch = np.random.default_rng(0).random((2, 4, 8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(exported(batch), model(batch), atol=1e-6)


def test_a_saved_wrapper_holding_a_class_that_does_not_fit_is_refused_by_name(
        tmp_path: Path) -> None:
    x_in = keras.Input(shape=(6, 3), name="x")
    model = keras.Model(x_in, layers.Bidirectional(layers.GRU(2), name="both")(x_in))
    path = tmp_path / "model.json"
    path.write_text(model.to_json().replace('"class_name": "GRU"', '"class_name": "Conv2D"'))
    with pytest.raises(ModelImportError, match=r"layer 'both' \(layer\): 'layer' expected a "
                                               r"layer of class one of .*received 'Conv2D'"):
        import_file(path)


def test_other_wrappers_round_trip(tmp_path: Path) -> None:
    """RNN with stacked cells, an explicit backward layer, SpectralNormalization, Pipeline."""
    x_in = keras.Input(shape=(6, 3), name="x")
    cells = layers.StackedRNNCells([layers.LSTMCell(4), layers.GRUCell(3)])
    x = layers.RNN(cells, return_sequences=True)(x_in)
    x = layers.Bidirectional(layers.SimpleRNN(4, return_sequences=True),
                             backward_layer=layers.GRU(4, go_backwards=True,
                                                       return_sequences=True))(x)
    x = layers.RNN(layers.SimpleRNNCell(5))(x)
    x = layers.SpectralNormalization(layers.Dense(4))(x)
    outputs = layers.Pipeline([layers.Dense(3), layers.Rescaling(0.5)])(x)
    assert_round_trip(keras.Model(x_in, outputs), tmp_path)
