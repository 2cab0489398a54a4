"""Every template builds and matches the model written by hand in Keras (book chapter 7).

The references are the book's code, corrected for Keras 3 (``input_length`` is gone from
Embedding, the typos are fixed) and for the configuration each template documents.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerforge.core.codegen.loader import build_and_compile, build_model
from layerforge.core.io.templates import list_templates, load_template, template_names

ROOT = Path(__file__).resolve().parents[2]

NAMES = [
    "sequential-mlp", "question-answering", "social-media-multi-output", "inception-module",
    "residual-identity", "residual-projection", "siamese-lstm", "dual-camera-xception",
    "imdb-conv1d", "separable-convnet", "batchnorm-convnet", "wide-and-deep", "text-classifier",
]
# The book's chapter of each template outside chapter 7.
CHAPTERS = {"text-classifier": "11."}


# ------------------------------------------------------------- hand-written references
def sequential_mlp(keras: Any, layers: Any) -> Any:
    input_tensor = keras.Input(shape=(64,))
    x = layers.Dense(32, activation="relu")(input_tensor)
    x = layers.Dense(32, activation="relu")(x)
    output_tensor = layers.Dense(10, activation="softmax")(x)
    return keras.Model(input_tensor, output_tensor)


def question_answering(keras: Any, layers: Any) -> Any:
    text_input = keras.Input(shape=(None,), dtype="int32", name="text")
    embedded_text = layers.Embedding(10000, 64)(text_input)
    encoded_text = layers.LSTM(32)(embedded_text)
    question_input = keras.Input(shape=(None,), dtype="int32", name="question")
    embedded_question = layers.Embedding(10000, 64)(question_input)
    encoded_question = layers.LSTM(32)(embedded_question)
    concatenated = layers.concatenate([encoded_text, encoded_question], axis=-1)
    answer = layers.Dense(500, activation="softmax")(concatenated)
    return keras.Model([text_input, question_input], answer)


def social_media_multi_output(keras: Any, layers: Any) -> Any:
    posts_input = keras.Input(shape=(None,), dtype="int32", name="posts")
    x = layers.Embedding(50000, 256)(posts_input)
    x = layers.Conv1D(128, 5, activation="relu")(x)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(256, 5, activation="relu")(x)
    x = layers.Conv1D(256, 5, activation="relu")(x)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(256, 5, activation="relu")(x)
    x = layers.Conv1D(256, 5, activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(128, activation="relu")(x)
    age_prediction = layers.Dense(1, name="age")(x)
    income_prediction = layers.Dense(10, activation="softmax", name="income")(x)
    gender_prediction = layers.Dense(1, activation="sigmoid", name="gender")(x)
    return keras.Model(posts_input, [age_prediction, income_prediction, gender_prediction])


def inception_module(keras: Any, layers: Any) -> Any:
    x = keras.Input(shape=(32, 32, 64))
    branch_a = layers.Conv2D(128, 1, activation="relu", strides=2, padding="same")(x)
    branch_b = layers.Conv2D(128, 1, activation="relu", padding="same")(x)
    branch_b = layers.Conv2D(128, 3, activation="relu", strides=2, padding="same")(branch_b)
    branch_c = layers.AveragePooling2D(3, strides=2, padding="same")(x)
    branch_c = layers.Conv2D(128, 3, activation="relu", padding="same")(branch_c)
    branch_d = layers.Conv2D(128, 1, activation="relu", padding="same")(x)
    branch_d = layers.Conv2D(128, 3, activation="relu", padding="same")(branch_d)
    branch_d = layers.Conv2D(128, 3, activation="relu", strides=2, padding="same")(branch_d)
    output = layers.concatenate([branch_a, branch_b, branch_c, branch_d], axis=-1)
    return keras.Model(x, output)


def residual_identity(keras: Any, layers: Any) -> Any:
    x = keras.Input(shape=(32, 32, 128))
    y = layers.Conv2D(128, 3, activation="relu", padding="same")(x)
    y = layers.Conv2D(128, 3, activation="relu", padding="same")(y)
    y = layers.Conv2D(128, 3, activation="relu", padding="same")(y)
    y = layers.add([y, x])
    return keras.Model(x, y)


def residual_projection(keras: Any, layers: Any) -> Any:
    x = keras.Input(shape=(32, 32, 64))
    y = layers.Conv2D(128, 3, activation="relu", padding="same")(x)
    y = layers.Conv2D(128, 3, activation="relu", padding="same")(y)
    y = layers.MaxPooling2D(2)(y)
    residual = layers.Conv2D(128, 1, strides=2, padding="same")(x)
    y = layers.add([y, residual])
    return keras.Model(x, y)


def siamese_lstm(keras: Any, layers: Any) -> Any:
    lstm = layers.LSTM(32)
    left_input = keras.Input(shape=(None, 128))
    left_output = lstm(left_input)
    right_input = keras.Input(shape=(None, 128))
    right_output = lstm(right_input)
    merged = layers.concatenate([left_output, right_output], axis=-1)
    predictions = layers.Dense(1, activation="sigmoid")(merged)
    return keras.Model([left_input, right_input], predictions)


def dual_camera_xception(keras: Any, layers: Any) -> Any:
    xception_base = keras.applications.Xception(weights=None, include_top=False,
                                                input_shape=(250, 250, 3))
    left_input = keras.Input(shape=(250, 250, 3))
    right_input = keras.Input(shape=(250, 250, 3))
    left_features = xception_base(left_input)
    right_features = xception_base(right_input)
    merged_features = layers.concatenate([left_features, right_features], axis=-1)
    return keras.Model([left_input, right_input], merged_features)


def imdb_conv1d(keras: Any, layers: Any) -> Any:
    inputs = keras.Input(shape=(500,), dtype="int32")
    x = layers.Embedding(2000, 128, name="embed")(inputs)
    x = layers.Conv1D(32, 7, activation="relu")(x)
    x = layers.MaxPooling1D(5)(x)
    x = layers.Conv1D(32, 7, activation="relu")(x)
    x = layers.GlobalMaxPooling1D()(x)
    return keras.Model(inputs, layers.Dense(1)(x))


def separable_convnet(keras: Any, layers: Any) -> Any:
    inputs = keras.Input(shape=(64, 64, 3))
    x = layers.SeparableConv2D(32, 3, activation="relu")(inputs)
    x = layers.SeparableConv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.SeparableConv2D(64, 3, activation="relu")(x)
    x = layers.SeparableConv2D(128, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.SeparableConv2D(64, 3, activation="relu")(x)
    x = layers.SeparableConv2D(128, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(32, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


def batchnorm_convnet(keras: Any, layers: Any) -> Any:
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


def wide_and_deep(keras: Any, layers: Any) -> Any:
    wide_input = keras.Input(shape=(100,), name="wide")
    deep_input = keras.Input(shape=(20,), name="deep")
    wide = layers.Dense(1)(wide_input)
    x = layers.Dense(64, activation="relu")(deep_input)
    x = layers.Dense(32, activation="relu")(x)
    deep = layers.Dense(1)(x)
    logit = layers.add([wide, deep])
    prediction = layers.Activation("sigmoid")(logit)
    return keras.Model([wide_input, deep_input], prediction)


def text_classifier(keras: Any, layers: Any) -> Any:
    text = keras.Input(shape=(1,), dtype="string", name="text")
    x = layers.TextVectorization(max_tokens=1000, output_sequence_length=64)(text)
    x = layers.Embedding(1000, 16)(x)
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(text, layers.Dense(1, activation="sigmoid")(x))


REFERENCES: dict[str, Callable[[Any, Any], Any]] = {
    "sequential-mlp": sequential_mlp,
    "question-answering": question_answering,
    "social-media-multi-output": social_media_multi_output,
    "inception-module": inception_module,
    "residual-identity": residual_identity,
    "residual-projection": residual_projection,
    "siamese-lstm": siamese_lstm,
    "dual-camera-xception": dual_camera_xception,
    "imdb-conv1d": imdb_conv1d,
    "separable-convnet": separable_convnet,
    "batchnorm-convnet": batchnorm_convnet,
    "wide-and-deep": wide_and_deep,
    "text-classifier": text_classifier,
}


def reference(name: str) -> Any:
    import keras
    from keras import layers

    return REFERENCES[name](keras, layers)


# ------------------------------------------------------------------------- helpers
def class_names(model: Any) -> list[str]:
    return [type(layer).__name__ for layer in model.layers]


def shapes(tensors: Any) -> list[tuple[int | None, ...]]:
    return [tuple(t.shape) for t in tensors]


def dtypes(tensors: Any) -> list[str]:
    return [str(t.dtype) for t in tensors]


# --------------------------------------------------------------------------- tests
def test_the_templates_are_the_chapter_7_set_and_a_text_classifier() -> None:
    assert template_names() == sorted(NAMES)
    assert set(REFERENCES) == set(NAMES)


def test_every_template_has_a_title_section_and_description() -> None:
    for info in list_templates():
        assert info.title and info.title != info.name, info
        assert info.section.startswith(CHAPTERS.get(info.name, "7.")), info
        assert info.description.endswith("."), info


def test_the_shipped_files_are_what_the_script_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_templates",
                                                  ROOT / "templates" / "make_templates.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    sys.modules["make_templates"] = script
    try:
        spec.loader.exec_module(script)
        written = script.write_templates(tmp_path)
    finally:
        sys.modules.pop("make_templates", None)
    assert sorted(p.name for p in written) == sorted(f"{n}.json" for n in NAMES)
    for path in written:
        shipped = ROOT / "templates" / path.name
        assert path.read_text() == shipped.read_text(), f"{path.name}: rerun the script"


def test_every_layer_of_the_templates_is_named_as_keras_would() -> None:
    for name in NAMES:
        doc = load_template(name)
        for layer in doc.graph.layers.values():
            assert "1_d" not in layer.name and "2_d" not in layer.name, (name, layer.name)
        for output in doc.graph.outputs():
            [edge] = doc.graph.in_edges(output.id)
            assert doc.graph.layer_of(edge.src).name == output.name, (name, output.name)


@pytest.mark.parametrize("name", NAMES)
def test_template_builds_the_reference_model(name: str) -> None:
    model = build_model(load_template(name))
    expected = reference(name)
    assert model.count_params() == expected.count_params()
    assert class_names(model) == class_names(expected)
    assert shapes(model.outputs) == shapes(expected.outputs)
    assert shapes(model.inputs) == shapes(expected.inputs)
    assert dtypes(model.inputs) == dtypes(expected.inputs)
    assert "Identity" not in class_names(model)


def test_layers_shared_between_calls_stay_one_instance() -> None:
    doc = load_template("siamese-lstm")
    assert [layer.class_name for layer in doc.graph.layers.values()].count("LSTM") == 1
    model = build_model(doc)
    [lstm] = [layer for layer in model.layers if type(layer).__name__ == "LSTM"]
    assert len(lstm._inbound_nodes) == 2


def test_social_media_template_compiles_with_losses_by_output_name() -> None:
    import keras

    model = build_and_compile(load_template("social-media-multi-output"))
    assert model.output_names == ["age", "income", "gender"]
    assert model.loss == {"age": "mse", "income": "categorical_crossentropy",
                          "gender": "binary_crossentropy"}
    rng = np.random.default_rng(0)
    posts = rng.integers(1, 50000, size=(2, 300)).astype("int32")
    targets = {"age": rng.normal(size=(2, 1)).astype("float32"),
               "income": np.eye(10, dtype="float32")[[3, 7]],
               "gender": np.array([[0.0], [1.0]], dtype="float32")}
    predicted = model(posts)
    total = float(model.compute_loss(x=posts, y=targets, y_pred=predicted))
    by_output = dict(zip(model.output_names, predicted, strict=True))
    parts = {
        "age": keras.losses.mean_squared_error(targets["age"], by_output["age"]),
        "income": keras.losses.categorical_crossentropy(targets["income"], by_output["income"]),
        "gender": keras.losses.binary_crossentropy(targets["gender"], by_output["gender"]),
    }
    weights = {"age": 0.25, "income": 1.0, "gender": 10.0}
    expected = sum(weights[k] * float(np.mean(v)) for k, v in parts.items())
    assert total == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_summary_and_live_params_match_the_reference(name: str) -> None:
    """What `layerforge summary NAME --json` reports, and the live per-layer counts."""
    from layerforge.core.analysis.shapes import ShapeEngine
    from layerforge.core.analysis.summary import summarize

    doc = load_template(name)
    expected = reference(name).count_params()
    data = summarize(doc)
    assert data["params"] == expected
    assert data["diagnostics"] == []
    assert sum(row["params"] for row in data["layers"]) == expected
    assert ShapeEngine(doc).total_params() == expected
