"""Keras -> .keras file -> import -> generated code -> Keras: the same model.

For every template and for keras.applications models (weights=None, small inputs
where the architecture allows): equal parameter count, equal layer configs
(compared by layer name) and identical outputs on a random batch once weights
are copied by layer name.

What may legitimately differ, and why:
- the rebuilt model may have extra ``Identity`` layers: the code generator names an
  output that is not the plain output of a layer of that name through ``Identity``
  (see ``codegen.emit_output``); they hold no weights and compute nothing;
- nothing else: names, dtypes, initializer and regularizer configs, tuples, call
  arguments and nesting must all come back as they were.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerforge.core.cli import main as cli
from layerforge.core.codegen import model_code as codegen
from layerforge.core.codegen.loader import load_generated
from layerforge.core.io import project
from layerforge.core.io.keras_import.files import import_file
from layerforge.core.io.templates import load_template, template_names

keras = pytest.importorskip("keras")

APPLICATIONS = {
    "ResNet50": (64, 64, 3), "InceptionV3": (75, 75, 3), "Xception": (71, 71, 3),
    "MobileNetV2": (32, 32, 3), "DenseNet121": (32, 32, 3), "EfficientNetB0": (32, 32, 3),
    "NASNetMobile": (224, 224, 3),  # NASNet builds at 224x224 only without ImageNet weights
}
FAST_APPLICATIONS = {"ResNet50"}
# Every template but the 250x250 dual-camera Xception runs by default (question-answering
# is multi-input, social-media-multi-output multi-output).
SLOW_TEMPLATES = {"dual-camera-xception"}
# Sequence length of a random batch: long enough for every Conv1D/MaxPooling1D stack.
SEQUENCE_LENGTH = {"social-media-multi-output": 500, "imdb-conv1d": 500}
FAST_TEMPLATES = set(template_names()) - SLOW_TEMPLATES


# ------------------------------------------------------------------ helpers
def plain(config: dict[str, Any]) -> Any:
    return json.loads(json.dumps(config, default=str))


def is_model(layer: Any) -> bool:
    return isinstance(layer, keras.Model)


def assert_same_layers(original: Any, rebuilt: Any, where: str = "model") -> None:
    """Every layer of ``original`` exists in ``rebuilt`` with an equal config (nested
    models compared layer by layer); the only extra layers allowed are Identity renames."""
    names = {layer.name for layer in original.layers}
    extra = [layer for layer in rebuilt.layers if layer.name not in names]
    assert all(type(layer).__name__ == "Identity" for layer in extra), \
        f"{where}: unexpected extra layers {[layer.name for layer in extra]}"
    for layer in original.layers:
        twin = rebuilt.get_layer(layer.name)
        assert type(twin) is type(layer), f"{where}/{layer.name}: class differs"
        if is_model(layer):
            assert_same_layers(layer, twin, f"{where}/{layer.name}")
            continue
        assert plain(twin.get_config()) == plain(layer.get_config()), \
            f"{where}/{layer.name}: config differs"


def copy_weights(original: Any, rebuilt: Any) -> int:
    copied = 0
    for layer in original.layers:
        twin = rebuilt.get_layer(layer.name)
        if is_model(layer):
            copied += copy_weights(layer, twin)
        elif layer.weights:
            twin.set_weights(layer.get_weights())
            copied += 1
    return copied


def random_batch(model: Any, rows: int = 2, length: int = 16) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    batch = []
    for tensor in model.inputs:
        shape = (rows, *(length if d is None else d for d in tensor.shape[1:]))
        if "int" in str(tensor.dtype):
            batch.append(rng.integers(0, 50, size=shape).astype(tensor.dtype))
        else:
            batch.append(rng.random(shape, dtype=np.float32))
    return batch


def predictions(model: Any, batch: list[np.ndarray]) -> list[np.ndarray]:
    out = model(batch if len(batch) > 1 else batch[0], training=False)
    return [np.asarray(o) for o in (out if isinstance(out, list | tuple) else [out])]


def assert_round_trip(model: Any, tmp_path: Path, length: int = 16) -> Any:
    path = tmp_path / "model.keras"
    model.save(path)
    result = import_file(path)
    assert result.warnings == []
    rebuilt = load_generated(codegen.generate(result.doc)).build_model()
    assert rebuilt.count_params() == model.count_params()
    assert_same_layers(model, rebuilt)
    assert copy_weights(model, rebuilt) > 0
    batch = random_batch(model, length=length)
    for a, b in zip(predictions(model, batch), predictions(rebuilt, batch), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    return result.doc


def marked(names: list[str], fast: set[str]) -> list[Any]:
    return [n if n in fast else pytest.param(n, marks=pytest.mark.slow) for n in names]


# ------------------------------------------------------------------ the round trips
@pytest.mark.parametrize("name", marked(template_names(), FAST_TEMPLATES))
def test_template_round_trip(name: str, tmp_path: Path) -> None:
    model = load_generated(codegen.generate(load_template(name))).build_model()
    doc = assert_round_trip(model, tmp_path, SEQUENCE_LENGTH.get(name, 16))
    project.save(doc, tmp_path / "imported.json")
    assert project.dumps(project.load(tmp_path / "imported.json")) == project.dumps(doc)


@pytest.mark.parametrize("name", marked(list(APPLICATIONS), FAST_APPLICATIONS))
def test_application_round_trip(name: str, tmp_path: Path) -> None:
    model = getattr(keras.applications, name)(weights=None, input_shape=APPLICATIONS[name])
    doc = assert_round_trip(model, tmp_path)
    project.save(doc, tmp_path / "imported.json")
    assert project.dumps(project.load(tmp_path / "imported.json")) == project.dumps(doc)


def test_imported_weights_survive_project_files_and_keras_export(tmp_path: Path) -> None:
    """Import with weights -> project + sidecar -> `layerforge export --format keras`."""
    model = load_generated(codegen.generate(load_template("question-answering"))).build_model()
    model.save(tmp_path / "qa.keras")
    doc = import_file(tmp_path / "qa.keras", keep_weights=True).doc
    project.save(doc, tmp_path / "qa.json")
    out = tmp_path / "exported.keras"
    assert cli.main(["export", str(tmp_path / "qa.json"), "--format", "keras",
                     "-o", str(out)]) == 0
    exported = keras.saving.load_model(out, compile=False)
    batch = random_batch(model)
    np.testing.assert_allclose(predictions(exported, batch)[0], predictions(model, batch)[0],
                               rtol=1e-5, atol=1e-6)
