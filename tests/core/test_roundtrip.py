"""Keras -> .keras file -> import -> generated code -> Keras: the same model, for every template
(the checks, and what may differ, are in ``tests/roundtrip_support.py``; keras.applications
models are in ``test_applications_roundtrip.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from roundtrip_support import assert_round_trip, marked, predictions, random_batch

from layerforge.core.cli import main as cli
from layerforge.core.codegen import model_code as codegen
from layerforge.core.codegen.loader import load_generated
from layerforge.core.io import project
from layerforge.core.io.keras_import.files import import_file
from layerforge.core.io.templates import load_template, template_names

keras = pytest.importorskip("keras")

# Every template but the 250x250 dual-camera Xception runs by default (question-answering
# is multi-input, social-media-multi-output multi-output).
SLOW_TEMPLATES = {"dual-camera-xception"}
# Sequence length of a random batch: long enough for every Conv1D/MaxPooling1D stack.
SEQUENCE_LENGTH = {"social-media-multi-output": 500, "imdb-conv1d": 500}
FAST_TEMPLATES = set(template_names()) - SLOW_TEMPLATES


# ------------------------------------------------------------------ the round trips
@pytest.mark.parametrize("name", marked(template_names(), FAST_TEMPLATES))
def test_template_round_trip(name: str, tmp_path: Path) -> None:
    template = load_template(name)
    for layer in template.graph.layers.values():
        if layer.class_name == "TextVectorization":  # its vocabulary saved, as Adapt saves it
            layer.params["vocabulary"] = ["the", "a", "movie", "great"]
    model = load_generated(codegen.generate(template)).build_model()
    doc = assert_round_trip(model, tmp_path, SEQUENCE_LENGTH.get(name, 16))
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
