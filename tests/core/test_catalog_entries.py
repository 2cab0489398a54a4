"""Layers that build only on inputs of their own (HashedCrossing: two scalar features;
STFTSpectrogram: audio) and TFSMLayer (a SavedModel the user names, loaded only once
trusted): in the catalog, live shapes and parameter counts equal to Keras', generated code
that builds, .keras round trips."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from roundtrip_support import assert_round_trip

from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.catalog.catalog import Catalog
from layerforge.core.catalog.keras_objects import make_layer
from layerforge.core.cli import main as cli
from layerforge.core.codegen.loader import build_model, load_generated
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.document import Document
from layerforge.core.document.trust import trust_document, untrusted_code, untrusted_diagnostics
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.editing.renames import EditNode
from layerforge.core.io import project
from layerforge.core.schema.trust import UntrustedCodeError, code_guard

keras = pytest.importorskip("keras")
layers = keras.layers


def crossing(doc: Document, params: dict[str, Any] | None = None) -> tuple[str, str]:
    """Two integer features -> HashedCrossing -> Embedding -> Flatten -> output; the ids of
    the crossing and the embedding calls."""
    stack = UndoStack(doc)
    features = [stack.push(edits.add_input(doc, [1], dtype="int32", name=n)).node.id
                for n in ("city", "age_bucket")]
    cross = stack.push(edits.add_layer(doc, "HashedCrossing", params)).node.id
    for index, feature in enumerate(features):
        stack.push(edits.connect(doc, feature, cross, dst_slot=index))
    embed = stack.push(edits.add_layer(doc, "Embedding", {"input_dim": 16, "output_dim": 4}))
    stack.push(edits.connect(doc, cross, embed.node.id))
    flat = stack.push(edits.add_layer(doc, "Flatten")).node.id
    stack.push(edits.connect(doc, embed.node.id, flat))
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, flat, out))
    return cross, embed.node.id


# ------------------------------------------------------------------ HashedCrossing
def test_hashed_crossing_takes_two_features_and_starts_with_bins(catalog: Catalog) -> None:
    entry = catalog.get("HashedCrossing")
    assert (entry.ports.kind, entry.ports.min, entry.ports.max) == ("list", 2, 2)
    assert entry.initial_params() == {"num_bins": 16}
    assert entry.param("output_mode").choices == ("int", "one_hot")
    assert entry.example == {"inputs": [[None, 1], [None, 1]], "dtype": "int32"}


def test_hashed_crossing_live_shapes_params_and_code(doc: Document) -> None:
    cross, embed = crossing(doc)
    engine = ShapeEngine(doc)
    shapes = engine.shapes()
    assert shapes[cross].outputs == ((None, 1),)
    assert shapes[embed].outputs == ((None, 1, 4),)
    assert [d.message for d in engine.diagnostics()] == []
    model = build_model(doc)
    assert engine.total_params() == model.count_params() == 16 * 4
    source = generate(doc).source
    assert "layers.HashedCrossing(16, name='hashed_crossing')([city, age_bucket])" in source
    ids = model([np.array([[3], [3], [5]]), np.array([[1], [1], [2]])])
    assert ids.shape == (3, 4)  # flattened
    np.testing.assert_array_equal(ids[0], ids[1])


def test_hashed_crossing_one_hot_shape_equals_keras(doc: Document) -> None:
    cross, _ = crossing(doc, {"num_bins": 8, "output_mode": "one_hot"})
    assert ShapeEngine(doc).shapes()[cross].outputs == ((None, 8),)


def test_hashed_crossing_crosses_string_features(doc: Document) -> None:
    stack = UndoStack(doc)
    features = [stack.push(edits.add_input(doc, [1], dtype="string", name=n)).node.id
                for n in ("city", "tag")]
    cross = stack.push(edits.add_layer(doc, "HashedCrossing",
                                       {"num_bins": 8, "output_mode": "one_hot"})).node.id
    for feature in features:
        stack.push(edits.connect(doc, feature, cross))
    dense = stack.push(edits.add_layer(doc, "Dense", {"units": 2})).node.id
    stack.push(edits.connect(doc, cross, dense))
    stack.push(edits.connect(doc, dense, stack.push(edits.add_output(doc)).node.id))
    engine = ShapeEngine(doc)
    assert engine.shapes()[cross].outputs == ((None, 8),)
    model = build_model(doc)
    assert engine.total_params() == model.count_params() == 8 * 2 + 2
    assert model([np.array([["a"], ["b"]]), np.array([["x"], ["y"]])]).shape == (2, 2)


def test_hashed_crossing_one_hot_round_trips(tmp_path: Path) -> None:
    city = keras.Input(shape=(1,), dtype="int32", name="city")
    age = keras.Input(shape=(1,), dtype="int32", name="age_bucket")
    x = layers.HashedCrossing(num_bins=32, output_mode="one_hot")([city, age])
    doc = assert_round_trip(keras.Model([city, age], layers.Dense(1)(x)), tmp_path)
    crossings = [lay for lay in doc.graph.layers.values() if lay.class_name == "HashedCrossing"]
    assert [lay.params.get("num_bins") for lay in crossings] == [32]


def test_hashed_crossing_ids_come_back_the_same(tmp_path: Path) -> None:
    """output_mode='int' (ids for an Embedding): Keras gives the layer an int64 policy of its
    own, which the generated HashedCrossing(32) gets again, so the import warns of nothing."""
    city = keras.Input(shape=(1,), dtype="int32", name="city")
    age = keras.Input(shape=(1,), dtype="int32", name="age_bucket")
    x = layers.HashedCrossing(num_bins=32, name="crossed")([city, age])
    x = layers.Flatten()(layers.Embedding(32, 4)(x))
    model = keras.Model([city, age], layers.Dense(1)(x))
    doc = assert_round_trip(model, tmp_path)  # no warning: int64 is the class's own choice
    rebuilt = load_generated(generate(doc)).build_model()
    assert rebuilt.get_layer("crossed").dtype_policy.name == "int64"


# ------------------------------------------------------------------ STFTSpectrogram
def test_stft_spectrogram_live_shapes_params_and_code(doc: Document) -> None:
    stack = UndoStack(doc)
    audio = stack.push(edits.add_input(doc, [1000, 1], name="audio")).node.id
    stft = stack.push(edits.add_layer(doc, "STFTSpectrogram", {"frame_length": 128})).node.id
    stack.push(edits.connect(doc, audio, stft))
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, stft, out))
    engine = ShapeEngine(doc)
    reference = layers.STFTSpectrogram(frame_length=128)
    expected = reference(keras.Input((1000, 1)))
    assert engine.shapes()[stft].outputs == (tuple(expected.shape),)
    model = build_model(doc)
    assert engine.total_params() == model.count_params() == reference.count_params()
    assert "layers.STFTSpectrogram(frame_length=128, name='stft_spectrogram')(audio)" in \
        generate(doc).source


def test_stft_spectrogram_choices(catalog: Catalog) -> None:
    entry = catalog.get("STFTSpectrogram")
    assert "psd" in entry.param("mode").choices
    assert entry.param("mode").value_error("loud") is not None
    assert set(entry.param("scaling").choices) == {"density", "spectrum", None}


def test_stft_spectrogram_round_trips(tmp_path: Path) -> None:
    audio = keras.Input(shape=(512, 1), name="audio")
    x = layers.STFTSpectrogram(mode="magnitude", frame_length=64, frame_step=32,
                               fft_length=64)(audio)
    x = layers.GlobalAveragePooling1D()(x)
    assert_round_trip(keras.Model(audio, layers.Dense(2)(x)), tmp_path, length=512)


# ------------------------------------------------------------------ TFSMLayer
@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny SavedModel, written as a user writes one: ``model.export(path)``."""
    inputs = keras.Input((4,))
    path = tmp_path_factory.mktemp("exported") / "encoder"
    keras.Model(inputs, layers.Dense(3)(inputs)).export(str(path), verbose=False)
    return str(path)


def tfsm_chain(doc: Document) -> tuple[UndoStack, str, str]:
    """Input (4,) -> TFSMLayer -> output; the stack, the call's and its layer's ids."""
    stack = UndoStack(doc)
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    call = stack.push(edits.add_layer(doc, "TFSMLayer")).node
    stack.push(edits.connect(doc, x, call.id))
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, call.id, out))
    return stack, call.id, call.layer_id


def test_tfsm_layer_names_the_saved_model_to_load(catalog: Catalog) -> None:
    entry = catalog.get("TFSMLayer")
    assert [(p.name, p.kind, p.default) for p in entry.params] == [
        ("filepath", "str", ""), ("call_endpoint", "str", "serve"),
        ("call_training_endpoint", "any", None)]
    assert entry.param("filepath").required and "model.export" in entry.doc


def test_tfsm_layer_shapes_params_and_code_come_from_the_saved_model(
        doc: Document, saved_model: str, tmp_path: Path) -> None:
    stack, call, layer_id = tfsm_chain(doc)
    messages = [d.message for d in ShapeEngine(doc).diagnostics()]
    assert messages == ["TFSMLayer expected 'filepath', the folder of a SavedModel (written by "
                        "model.export(path)); received an empty path"]
    missing = str(tmp_path / "nowhere")
    stack.push(SetParam(layer_id, "filepath", missing))
    messages = [d.message for d in ShapeEngine(doc).diagnostics()]
    assert messages == [f"TFSMLayer expected a SavedModel folder at '{missing}' (written by "
                        "model.export(path)); received a path that does not exist"]
    stack.push(SetParam(layer_id, "filepath", saved_model))  # the node stays editable
    engine = ShapeEngine(doc)
    assert engine.shapes()[call].outputs == ((None, 3),)
    assert engine.diagnostics() == []
    reference = layers.TFSMLayer(saved_model)
    reference(keras.Input((4,)))
    model = build_model(doc)
    assert engine.total_params() == model.count_params() == reference.count_params() == 15
    # a long path wraps the call over lines (with a trailing comma)
    code = re.sub(r",\)", ")", re.sub(r"\s+", "", generate(doc).source))
    assert f"layers.TFSMLayer({saved_model!r},name='tfsm_layer')(x)" in code


def test_a_folder_without_a_saved_model_is_named(doc: Document, tmp_path: Path) -> None:
    stack, _, layer_id = tfsm_chain(doc)
    stack.push(SetParam(layer_id, "filepath", str(tmp_path)))
    assert [d.message for d in ShapeEngine(doc).diagnostics()] == [
        f"TFSMLayer expected a SavedModel folder at '{tmp_path}' (written by "
        "model.export(path)); received a folder without saved_model.pb"]


def test_an_input_the_endpoint_does_not_take_is_named(doc: Document, saved_model: str) -> None:
    stack, call, layer_id = tfsm_chain(doc)
    stack.push(SetParam(layer_id, "filepath", saved_model))
    engine = ShapeEngine(doc)
    assert engine.shapes()[call].outputs == ((None, 3),)
    x = doc.graph.inputs()[0].id
    stack.push(EditNode(x, {"shape": (5,)}))
    engine.refresh()
    assert [d.message for d in engine.diagnostics()] == [
        f"TFSMLayer expected an input of shape (None, 4), which the SavedModel at "
        f"'{saved_model}' takes at 'serve'; received (None, 5)"]
    stack.push(EditNode(x, {"shape": (4,)}))
    stack.push(SetParam(layer_id, "call_endpoint", "predict"))
    (message,) = [d.message for d in ShapeEngine(doc).diagnostics()]
    assert message.startswith(f"TFSMLayer could not load the SavedModel at '{saved_model}': "
                              "The endpoint 'predict' is neither")
    assert "Available endpoints for this SavedModel: ['serve', 'serving_default']" in message


def test_a_saved_model_written_later_is_picked_up(doc: Document, tmp_path: Path) -> None:
    stack, call, layer_id = tfsm_chain(doc)
    later = tmp_path / "later"
    stack.push(SetParam(layer_id, "filepath", str(later)))
    assert ShapeEngine(doc).shapes()[call].outputs is None
    inputs = keras.Input((4,))
    keras.Model(inputs, layers.Dense(2)(inputs)).export(str(later), verbose=False)
    assert ShapeEngine(doc).shapes()[call].outputs == ((None, 2),)


def test_tfsm_layer_round_trips(saved_model: str, tmp_path: Path) -> None:
    x = keras.Input((4,), name="x")
    y = layers.Dense(2)(layers.TFSMLayer(saved_model, name="encoder")(x))
    doc = assert_round_trip(keras.Model(x, y), tmp_path)
    loaded = [lay.params for lay in doc.graph.layers.values() if lay.class_name == "TFSMLayer"]
    assert loaded == [{"filepath": saved_model}]


def test_an_untrusted_project_does_not_load_its_saved_model(doc: Document,
                                                            saved_model: str) -> None:
    """Loading a SavedModel runs its graph (Keras' safe mode refuses it too): a project from
    a file loads it only once trusted, as a Lambda's code runs."""
    stack, _, layer_id = tfsm_chain(doc)
    stack.push(SetParam(layer_id, "filepath", saved_model))
    text = project.dumps(doc)
    assert '"runs_code": true' in text
    with code_guard():
        opened = project.loads(text)
        assert [c.describe() for c in untrusted_code(opened)] == [
            f"tfsm_layer: SavedModel {saved_model}"]
        assert len(untrusted_diagnostics(opened)) == 1
        with pytest.raises(UntrustedCodeError, match=re.escape(saved_model)):
            make_layer(opened.catalog, opened.graph.layer(layer_id))
        with pytest.raises(UntrustedCodeError, match="SavedModel"):
            load_generated(generate(opened))
        trust_document(opened)
        assert untrusted_code(opened) == []
        assert build_model(opened).count_params() == 15


def test_the_command_line_loads_a_saved_model_only_with_trust(
        saved_model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = keras.Input((4,), name="x")
    encoder = layers.TFSMLayer(saved_model, name="encoder")
    keras.Model(x, layers.Dense(2)(encoder(x))).save(tmp_path / "m.keras")
    imported = str(tmp_path / "m.json")
    assert cli.main(["import", str(tmp_path / "m.keras"), "-o", imported]) == 0
    capsys.readouterr()
    cli.main(["summary", imported])  # the command line guards its process
    untrusted = capsys.readouterr()
    assert "Total params: unknown" in untrusted.out
    assert f"TFSMLayer 'encoder' (SavedModel {saved_model})" in untrusted.err
    assert cli.main(["summary", imported, "--trust"]) == 0
    assert "Total params: 23" in capsys.readouterr().out
