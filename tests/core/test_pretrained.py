"""Pretrained weights of keras.applications nodes: read from the Keras cache or from a file the
user picked, the same in the live pass and in the exported code; a missing file or one of
another architecture is one message on the node, and the document stays as it was.

The weights files are written by the tests (a MobileNetV2 on 32x32 inputs, saved as
keras.applications' own files are: HDF5, under the name Keras downloads them to)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.catalog.keras_objects import make_layer
from layerforge.core.catalog.pretrained import (
    PretrainedWeightsError,
    imagenet_file,
    weights_to_load,
)
from layerforge.core.codegen.loader import load_generated
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.project import dumps

keras = pytest.importorskip("keras")

APP = "applications.MobileNetV2"
SHAPE = (32, 32, 3)
# keras.applications' own name for these weights (alpha 1.0, 224 rows: 32 is not one of
# MobileNetV2's sizes, so Keras reads the 224 file).
CACHED_NAME = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Keras cache (``$KERAS_HOME/models``) for this test only."""
    home = tmp_path / "keras_home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def saved_weights(path: Path) -> list[np.ndarray]:
    """A MobileNetV2 base with random weights saved at ``path``; returns its weights."""
    model = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=SHAPE)
    model.save(path)  # .h5: the HDF5 layout keras.applications' files have
    return model.get_weights()


def application_doc(params: dict[str, Any]) -> tuple[Document, UndoStack, str]:
    """Input 32x32x3 -> MobileNetV2(params) -> output; returns the document, its stack and
    the application's call node id."""
    doc = Document()
    stack = UndoStack(doc)
    x = stack.push(edits.add_input(doc, SHAPE, name="image")).node.id
    app = stack.push(edits.add_layer(doc, APP, params, name="base")).node.id
    out = stack.push(edits.add_output(doc, name="base")).node.id
    stack.push(edits.connect(doc, x, app))
    stack.push(edits.connect(doc, app, out))
    return doc, stack, app


def node_weights(doc: Document) -> list[np.ndarray]:
    layer = next(iter(doc.graph.layers.values()))
    return make_layer(doc.catalog, layer, (None, *SHAPE)).get_weights()


def assert_same_weights(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def node_errors(doc: Document, node_id: str) -> list[str]:
    engine = ShapeEngine(doc)
    engine.refresh()
    return [d.message for d in engine.diagnostics() if d.target == node_id]


def test_the_cache_file_is_the_one_keras_downloads() -> None:
    assert imagenet_file("MobileNetV2", False, 32).name == CACHED_NAME
    assert imagenet_file("ResNet50", False).name == \
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert imagenet_file("NASNetMobile", True).url.endswith("/nasnet/NASNet-mobile.h5")


def test_imagenet_weights_come_from_the_keras_cache(keras_home: Path) -> None:
    expected = saved_weights(keras_home / "models" / CACHED_NAME)
    doc, _, app = application_doc({"weights": "imagenet"})
    assert node_errors(doc, app) == []
    assert_same_weights(node_weights(doc), expected)
    # The exported code reads the same file from the cache (no download: it is there).
    source = generate(doc).source
    assert f"keras.utils.get_file({CACHED_NAME!r}" in source
    built = load_generated(generate(doc)).build_model()
    assert_same_weights(built.get_layer("base").get_weights(), expected)


def test_a_picked_weights_file_is_loaded_and_exported_by_its_path(tmp_path: Path,
                                                                  keras_home: Path) -> None:
    picked = tmp_path / "my_base.h5"
    expected = saved_weights(picked)
    doc, stack, app = application_doc({})
    layer_id = next(iter(doc.graph.layers))
    stack.push(SetParam(layer_id, "weights_file", str(picked)))
    assert node_errors(doc, app) == []
    assert_same_weights(node_weights(doc), expected)
    assert f"weights={str(picked)!r}" in generate(doc).source
    built = load_generated(generate(doc)).build_model()
    assert_same_weights(built.get_layer("base").get_weights(), expected)


def test_offline_without_the_file_the_node_says_which_file_and_where(keras_home: Path) -> None:
    doc, _, app = application_doc({"weights": "imagenet"})
    before = dumps(doc)
    errors = node_errors(doc, app)
    assert len(errors) == 1
    assert CACHED_NAME in errors[0] and str(keras_home / "models") in errors[0]
    assert "weights_file" in errors[0]  # the other way: pick a file
    assert dumps(doc) == before


def test_a_weights_file_of_another_architecture_gives_one_message(tmp_path: Path,
                                                                  keras_home: Path) -> None:
    wrong = tmp_path / "resnet_like.h5"
    inputs = keras.Input(SHAPE)
    keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs)).save(wrong)
    doc, _, app = application_doc({"weights_file": str(wrong)})
    before = dumps(doc)
    errors = node_errors(doc, app)
    assert len(errors) == 1
    assert "resnet_like.h5" in errors[0] and "does not fit" in errors[0]
    assert dumps(doc) == before


def test_a_picked_file_that_is_gone_is_named(tmp_path: Path) -> None:
    gone = tmp_path / "gone.h5"
    doc, _, app = application_doc({"weights_file": str(gone)})
    errors = node_errors(doc, app)
    assert len(errors) == 1 and str(gone) in errors[0]


def test_the_code_names_mobilenets_file_for_its_input_size_through_preprocessing() -> None:
    """Input 160x160 -> Rescaling -> MobileNetV2: Keras reads the 160 file, so does the code."""
    doc = Document()
    stack = UndoStack(doc)
    x = stack.push(edits.add_input(doc, (160, 160, 3), name="image")).node.id
    scale = stack.push(edits.add_layer(doc, "Rescaling", {"scale": 1 / 255})).node.id
    app = stack.push(edits.add_layer(doc, APP, {"weights": "imagenet"}, name="base")).node.id
    out = stack.push(edits.add_output(doc, name="base")).node.id
    for src, dst in ((x, scale), (scale, app), (app, out)):
        stack.push(edits.connect(doc, src, dst))
    source = generate(doc).source
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5" in source


@pytest.mark.parametrize(("params", "shape", "expected"), [
    ({"include_top": True, "classes": 10}, (None, 224, 224, 3), "`classes` should be 1000"),
    ({"include_top": True}, (None, 250, 250, 3), "`input_shape` should be (299, 299, 3)"),
])
def test_imagenet_classifiers_are_refused_as_keras_refuses_them(
        keras_home: Path, params: dict[str, Any], shape: tuple[Any, ...], expected: str) -> None:
    with pytest.raises(PretrainedWeightsError, match=re.escape(expected)):
        weights_to_load("Xception", {"weights": "imagenet", **params}, shape)
