"""Importing Keras models: every graph feature becomes the matching document record, files
are checked before anything in them runs, and weights travel with the document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerforge.core.catalog.catalog import Catalog
from layerforge.core.codegen import model_code as codegen
from layerforge.core.codegen.loader import load_generated
from layerforge.core.document.document import Document
from layerforge.core.document.graph import Graph
from layerforge.core.io import project
from layerforge.core.io.keras_import.files import import_file
from layerforge.core.io.keras_import.graph import import_model
from layerforge.core.io.weights import apply_weights, capture_weights
from layerforge.core.schema.errors import (
    CustomLayerError,
    ModelImportError,
    UnsafeLambdaError,
    UnsupportedOperationError,
    WeightsError,
)
from layerforge.core.schema.records import CallNode, LayerSpec

keras = pytest.importorskip("keras")
layers = keras.layers
ops = keras.ops


def feature_model() -> Any:
    """Shared layer, nested model, MultiHeadAttention by keyword, LSTM state (index 2),
    training=False, a raw keras.ops call and three outputs."""
    seq = keras.Input((8, 4), name="seq")
    vec = keras.Input((6,), name="vec")
    sub_in = keras.Input((6,), name="sub_in")
    subnet = keras.Model(sub_in, layers.Dense(5, name="sub_dense")(sub_in), name="subnet")
    shared = layers.Dense(6, activation="relu", name="shared")
    twice = shared(shared(vec))
    attended = layers.MultiHeadAttention(2, 4, name="mha")(query=seq, value=seq)
    sequence, state_h, state_c = layers.LSTM(3, return_state=True, name="lstm")(attended)
    summed = ops.add(layers.Dense(3, name="from_c")(state_c), state_h)
    normed = layers.BatchNormalization(name="bn")(subnet(twice), training=False)
    return keras.Model({"seq": seq, "vec": vec}, [summed, normed, sequence], name="features")


@pytest.fixture(scope="module")
def features() -> Any:
    return feature_model()


def layer_named(graph: Graph, name: str) -> LayerSpec:
    return next(layer for layer in graph.layers.values() if layer.name == name)


def calls(graph: Graph, name: str) -> list[CallNode]:
    return graph.calls_of(layer_named(graph, name).id)


def build(doc: Document) -> Any:
    return load_generated(codegen.generate(doc)).build_model()


def feature_batch() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((2, 8, 4), dtype=np.float32), rng.random((2, 6), dtype=np.float32)]


def assert_same_predictions(original: Any, rebuilt: Any, batch: Any) -> None:
    expected = original.predict(batch, verbose=0)
    received = rebuilt.predict(batch, verbose=0)
    for a, b in zip(expected, received, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ graph features
def test_every_graph_feature_becomes_its_document_record(features: Any, catalog: Catalog
                                                         ) -> None:
    doc = import_model(features, catalog=catalog)
    graph = doc.graph
    doc.check_invariants()
    assert [n.name for n in graph.inputs()] == ["seq", "vec"]
    # The raw ops.add gets Keras' automatic name ("add", "add_3"...): it depends on what ran before.
    first, *rest = [n.name for n in graph.outputs()]
    assert first.startswith("add") and rest == ["bn", "lstm"]
    assert len(calls(graph, "shared")) == 2, "one shared layer, called twice"
    block = doc.block_named("subnet")
    assert block is not None and layer_named(graph, "subnet").block_id == block.id
    assert [n.name for n in block.graph.inputs()] == ["sub_in"]
    mha = calls(graph, "mha")[0]
    assert {e.dst_slot for e in graph.in_edges(mha.id)} == {"query", "value"}
    lstm = calls(graph, "lstm")[0]
    from_c = calls(graph, "from_c")[0]
    assert [(e.src, e.src_index) for e in graph.in_edges(from_c.id)] == [(lstm.id, 2)]
    assert calls(graph, "bn")[0].call_kwargs == {"training": False}
    assert layer_named(graph, first).class_name == "Add"
    assert layer_named(graph, "lstm").params == {"units": 3, "return_state": True}


def test_a_feature_model_rebuilds_with_equal_params_and_outputs(features: Any) -> None:
    doc = import_model(features, keep_weights=True)
    rebuilt = build(doc)
    assert rebuilt.count_params() == features.count_params()
    assert apply_weights(rebuilt, doc) == 6  # shared, mha, lstm, from_c, bn, sub_dense
    assert_same_predictions(features, rebuilt, feature_batch())


def test_keras_file_formats_give_the_same_document(features: Any, tmp_path: Path) -> None:
    features.save(tmp_path / "m.keras")
    features.save(tmp_path / "m.h5")
    (tmp_path / "m.json").write_text(features.to_json())
    docs = [import_file(tmp_path / f"m.{ext}").doc for ext in ("keras", "h5", "json")]

    def layers_of(doc: Document) -> list[tuple[str, str, str]]:
        return [(lay.name, lay.class_name, json.dumps(lay.params, sort_keys=True))
                for _, g in doc.graphs() for lay in g.layers.values()]

    assert layers_of(docs[0]) == layers_of(docs[1]) == layers_of(docs[2])
    assert all(len(d.graph.edges) == len(docs[0].graph.edges) for d in docs)
    # Keras' own .h5 loader cannot rebuild a raw keras.ops call, so weights need the model
    # loaded by Keras: the refusal says so and how to get them.
    with pytest.raises(ModelImportError, match=r"cannot load the file to read its weights"):
        import_file(tmp_path / "m.h5", keep_weights=True)


def test_keep_weights_from_an_h5_file(tmp_path: Path) -> None:
    x = keras.Input((8, 4), name="x")
    y = layers.MultiHeadAttention(2, 4, name="mha")(query=x, value=x)
    model = keras.Model(x, layers.Dense(2, name="head")(layers.Flatten(name="flat")(y)))
    model.save(tmp_path / "m.h5")
    doc = import_file(tmp_path / "m.h5", keep_weights=True).doc
    assert len(doc.weights) == 2
    rebuilt = build(doc)
    assert apply_weights(rebuilt, doc) == 2
    batch = feature_batch()[0]
    np.testing.assert_allclose(rebuilt.predict(batch, verbose=0), model.predict(batch, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_sequential_models_and_nested_sequential_blocks(catalog: Catalog) -> None:
    inner = keras.Sequential([layers.Dense(4, name="inner_dense")], name="inner")
    inner.build((None, 3))
    outer_in = keras.Input((3,), name="x")
    outer = keras.Model(outer_in, layers.Dense(2, name="head")(inner(outer_in)))
    doc = import_model(outer, catalog=catalog)
    block = doc.block_named("inner")
    assert block is not None
    assert [n.shape for n in block.graph.inputs()] == [(3,)]
    assert build(doc).count_params() == outer.count_params()
    plain = keras.Sequential([keras.Input((5,)), layers.Dense(3, name="d1"),
                              layers.Dense(1, name="d2")])
    doc = import_model(plain, catalog=catalog)
    assert [n.name for n in doc.graph.outputs()] == ["d2"]
    assert build(doc).count_params() == plain.count_params()


def test_an_unbuilt_sequential_model_asks_for_an_input_shape(catalog: Catalog) -> None:
    with pytest.raises(ModelImportError, match=r"never built.*model\.build"):
        import_model(keras.Sequential([layers.Dense(3)]), catalog=catalog)


def test_params_keep_only_non_defaults_in_project_form(tmp_path: Path, catalog: Catalog
                                                       ) -> None:
    x = keras.Input((16, 16, 3), name="image")
    y = layers.Conv2D(8, (3, 3), strides=(1, 1), kernel_initializer=keras.initializers.HeNormal(),
                      kernel_regularizer=keras.regularizers.L2(0.02),
                      bias_regularizer=keras.regularizers.L2(0.01), name="conv")(x)
    y = layers.MaxPooling2D(3, strides=2, name="pool")(y)
    y = layers.ZeroPadding2D(((0, 1), (0, 1)), name="pad")(y)
    y = layers.Conv2D(4, 3, kernel_initializer=keras.initializers.VarianceScaling(
        2.0, "fan_out", "truncated_normal"), name="scaled")(y)
    model = keras.Model(x, y)
    doc = import_model(model, catalog=catalog)
    g = doc.graph
    assert layer_named(g, "conv").params == {
        "filters": 8, "kernel_size": 3, "kernel_initializer": "he_normal",
        "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.02}},
        "bias_regularizer": "l2"}
    # strides stay: MaxPooling2D's default strides follow pool_size (3), not 2
    assert layer_named(g, "pool").params == {"pool_size": 3, "strides": 2}
    assert layer_named(g, "pad").params == {"padding": [[0, 1], [0, 1]]}
    assert layer_named(g, "scaled").params["kernel_initializer"]["class_name"] == \
        "VarianceScaling"
    project.save(doc, tmp_path / "p.json")
    assert project.dumps(project.load(tmp_path / "p.json", catalog)) == project.dumps(doc)
    rebuilt = build(doc)
    for layer in model.layers:
        assert rebuilt.get_layer(layer.name).get_config() == layer.get_config()


def test_positions_come_from_the_layout(features: Any, catalog: Catalog) -> None:
    doc = import_model(features, catalog=catalog)
    for _, graph in doc.graphs():
        ys = {n.id: n.position[1] for n in graph.nodes.values()}
        assert all(ys[e.dst] > ys[e.src] for e in graph.edges.values())
        assert len({n.position for n in graph.nodes.values()}) == len(graph.nodes)


# ------------------------------------------------------------------ refusals
def lambda_model() -> Any:
    x = keras.Input((4,), name="x")
    return keras.Model(x, layers.Lambda(lambda t: t * 2, name="double")(x))


def test_a_lambda_in_a_file_is_refused_without_running_it(tmp_path: Path) -> None:
    path = tmp_path / "lam.keras"
    lambda_model().save(path)
    with pytest.raises(UnsafeLambdaError, match=r"'double'.*safe mode refuses"):
        import_file(path)
    with pytest.raises(UnsafeLambdaError, match=r"'double'.*not an expression"):
        import_file(path, safe_mode=False)


def test_a_custom_layer_class_is_named_in_the_refusal(tmp_path: Path) -> None:
    @keras.saving.register_keras_serializable(package="lf_test")
    class TimesTwo(layers.Layer):
        def call(self, inputs: Any) -> Any:
            return inputs * 2

    x = keras.Input((4,), name="x")
    path = tmp_path / "custom.keras"
    keras.Model(x, TimesTwo(name="twice")(x)).save(path)
    with pytest.raises(CustomLayerError, match=r"'twice'.*'TimesTwo'.*lf_test>TimesTwo"):
        import_file(path)


def test_raw_ops_map_to_public_layers_or_name_the_op(catalog: Catalog) -> None:
    x = keras.Input((4,), name="x")
    y = layers.Dense(4, name="d")(x)
    mapped = keras.Model(x, ops.concatenate([ops.relu(y * 2.0), x], axis=-1))
    doc = import_model(mapped, catalog=catalog)
    classes = sorted(lay.class_name for lay in doc.graph.layers.values())
    assert classes == ["Activation", "Concatenate", "Dense", "Rescaling"]
    assert build(doc).count_params() == mapped.count_params()
    batch = np.ones((2, 4), dtype=np.float32)
    rebuilt = build(doc)
    rebuilt.get_layer("d").set_weights(mapped.get_layer("d").get_weights())
    np.testing.assert_allclose(rebuilt.predict(batch, verbose=0), mapped.predict(batch, verbose=0))
    unmapped = keras.Model(x, ops.mean(y, axis=-1, keepdims=True))
    with pytest.raises(UnsupportedOperationError, match=r"raw keras\.ops call \(Mean"):
        import_model(unmapped, catalog=catalog)


def test_a_model_with_a_keras_activation_alias_imports_and_rebuilds(tmp_path: Path) -> None:
    """'hard_silu' (MobileNetV3's activation) and the alias 'swish' are read from Keras."""
    x = keras.Input((6,), name="x")
    hidden = layers.Dense(5, activation="hard_silu", name="hard")(x)
    y = layers.Dense(2, activation="swish", name="smooth")(hidden)
    path = tmp_path / "hard_silu.keras"
    original = keras.Model(x, y)
    original.save(path)
    result = import_file(path)
    graph = result.doc.graph
    assert layer_named(graph, "hard").params["activation"] == "hard_silu"
    assert layer_named(graph, "smooth").params["activation"] in ("swish", "silu")
    rebuilt = build(result.doc)
    assert rebuilt.count_params() == original.count_params()
    assert rebuilt.get_layer("hard").get_config()["activation"] == "hard_silu"


def test_a_project_file_or_another_file_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"format": "layerforge-project", "format_version": 1}))
    with pytest.raises(ModelImportError, match="LayerForge project"):
        import_file(path)
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(ModelImportError, match=r"expected a \.keras, \.h5 or model \.json"):
        import_file(tmp_path / "m.txt")
    with pytest.raises(ModelImportError, match="no such file"):
        import_file(tmp_path / "missing.keras")


def test_a_frozen_layer_stays_frozen(tmp_path: Path) -> None:
    x = keras.Input((4,), name="x")
    frozen = layers.Dense(3, name="frozen")
    frozen.trainable = False
    path = tmp_path / "frozen.keras"
    keras.Model(x, layers.Dense(2, name="free")(frozen(x))).save(path)
    result = import_file(path)
    by_name = {layer.name: layer for layer in result.doc.graph.layers.values()}
    assert by_name["frozen"].trainable is False and by_name["free"].trainable is True
    assert not any("trainable" in w for w in result.warnings)


# ------------------------------------------------------------------ weights
def test_keep_weights_from_a_file_and_apply_them(features: Any, tmp_path: Path) -> None:
    path = tmp_path / "m.keras"
    features.save(path)
    result = import_file(path, keep_weights=True)
    assert len(result.doc.weights) == 6
    block = result.doc.block_named("subnet")
    assert block is not None
    inner = layer_named(block.graph, "sub_dense").id
    np.testing.assert_array_equal(result.doc.weights[inner][0],
                                  features.get_layer("subnet").get_layer("sub_dense").kernel)
    rebuilt = build(result.doc)
    assert apply_weights(rebuilt, result.doc) == 6
    assert_same_predictions(features, rebuilt, feature_batch())


def test_json_has_no_weights_to_keep(features: Any, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(features.to_json())
    result = import_file(path, keep_weights=True)
    assert result.doc.weights == {}
    assert any("no weights" in w for w in result.warnings)


def test_a_shape_mismatch_names_the_layer_and_both_shapes(features: Any) -> None:
    doc = import_model(features)
    doc.weights = capture_weights(features, doc)
    block = doc.block_named("subnet")
    assert block is not None
    inner = layer_named(block.graph, "sub_dense")
    block.graph.replace_layer(LayerSpec(inner.id, "Dense", "sub_dense", {"units": 7}), "params")
    with pytest.raises(WeightsError,
                       match=r"'sub_dense'.*expected .*\(6, 7\).*received .*\(6, 5\)"):
        apply_weights(build(doc), doc)


def test_weights_file_is_written_beside_the_project_and_read_back(
        features: Any, tmp_path: Path, catalog: Catalog) -> None:
    doc = import_model(features, keep_weights=True, catalog=catalog)
    path = tmp_path / "features.json"
    project.save(doc, path)
    (sidecar,) = tmp_path.glob("features.weights-*.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.json", sidecar.name]
    loaded = project.load(path, catalog)
    assert loaded.weights.keys() == doc.weights.keys()
    for layer_id, arrays in doc.weights.items():
        for a, b in zip(arrays, loaded.weights[layer_id], strict=True):
            np.testing.assert_array_equal(a, b)
    rebuilt = build(loaded)
    apply_weights(rebuilt, loaded)
    assert_same_predictions(features, rebuilt, feature_batch())
    loaded.weights = {}
    project.save(loaded, path)
    assert not sidecar.exists(), "a project without weights leaves no stale weights file"
    assert project.load(path, catalog).weights == {}


def small_model_json(tmp_path: Path, **activation: Any) -> Path:
    """A two-Dense model as JSON, its first activation replaced by ``activation``."""
    x = keras.Input((4,), name="x")
    model = keras.Model(x, layers.Dense(2, name="head")(layers.Dense(3, name="body")(x)))
    data = json.loads(model.to_json())
    body = next(r for r in data["config"]["layers"] if r["config"]["name"] == "body")
    body["config"]["activation"] = activation or "relu"
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("activation", [
    {"class_name": "__lambda__", "config": {"code": "4wEAAAAA", "defaults": None,
                                            "closure": None}},
    {"module": "builtins", "class_name": "function", "config": "evil",
     "registered_name": "function"},
    {"function_type": "lambda", "function": "4wEAAAAA"},
])
def test_bytecode_in_a_model_config_is_refused_by_name(tmp_path: Path, activation: Any
                                                       ) -> None:
    path = small_model_json(tmp_path, **activation)
    with pytest.raises(UnsafeLambdaError, match=r"layer 'body' holds Python code at "
                       r"config\.layers\[\d\]\.config\.activation"):
        import_file(path)
    with pytest.raises(UnsafeLambdaError):
        import_file(path, safe_mode=False)


def test_names_a_project_refuses_are_renamed_and_listed(tmp_path: Path) -> None:
    path = small_model_json(tmp_path)
    text = path.read_text(encoding="utf-8").replace('"body"', '"block1/conv"')
    path.write_text(text, encoding="utf-8")
    result = import_file(path)
    names = {layer.name for layer in result.doc.graph.layers.values()}
    assert "block1_conv" in names
    assert any("'block1/conv' renamed to 'block1_conv'" in w for w in result.warnings)
    saved = tmp_path / "p.json"
    project.save(result.doc, saved)
    assert {lay.name for lay in project.load(saved).graph.layers.values()} == names


def test_a_model_file_nested_too_deeply_is_refused_with_a_message(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"class_name": "Functional", "config": ' + "[" * 200_000 + "]" * 200_000
                    + "}", encoding="utf-8")
    with pytest.raises(ModelImportError, match="nested too deeply"):
        import_file(path)


def test_unencodable_names_are_renamed_so_the_project_saves(tmp_path: Path) -> None:
    path = small_model_json(tmp_path)
    text = path.read_text(encoding="utf-8").replace('"body"', '"bo\\ud800dy"')
    path.write_text(text, encoding="utf-8")
    result = import_file(path)
    assert "bo?dy" in {layer.name for layer in result.doc.graph.layers.values()}
    project.save(result.doc, tmp_path / "p.json")
    assert project.load(tmp_path / "p.json").graph.layers
