"""`layerforge import` then `layerforge export`: the model that comes back is the one given."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from layerforge.core.cli import main as cli

keras = pytest.importorskip("keras")


def _two_headed_model() -> keras.Model:
    """Multi-input, multi-output, with a shared layer and a named per-output head."""
    text = keras.Input((12,), name="text")
    extra = keras.Input((4,), name="extra")
    shared = keras.layers.Dense(8, activation="relu", name="shared")
    joined = keras.layers.Concatenate(name="join")([shared(text), keras.layers.Dense(8)(extra)])
    again = shared(keras.layers.Dense(12, name="back")(joined))
    score = keras.layers.Dense(1, activation="sigmoid", name="score")(again)
    topic = keras.layers.Dense(3, activation="softmax", name="topic")(joined)
    return keras.Model([text, extra], [score, topic], name="two_heads")


def _load_module(path: Path):
    spec = importlib.util.spec_from_file_location("exported_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _batch(model: keras.Model) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.normal(size=(5, *t.shape[1:])).astype("float32") for t in model.inputs]


def test_import_then_export_py_rebuilds_the_same_model(tmp_path: Path, capsys) -> None:
    original = _two_headed_model()
    original.save(tmp_path / "model.keras")
    project, code = tmp_path / "model.json", tmp_path / "model.py"

    assert cli.main(["import", str(tmp_path / "model.keras"), "-o", str(project)]) == 0
    assert cli.main(["export", str(project), "--format", "py", "-o", str(code)]) == 0
    rebuilt = _load_module(code).build_model()

    assert rebuilt.count_params() == original.count_params()
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in original.layers]
    for layer in original.layers:
        rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
    for got, want in zip(rebuilt(_batch(original)), original(_batch(original)), strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert "6 layers" in capsys.readouterr().err


def test_imported_weights_survive_export_to_keras(tmp_path: Path) -> None:
    original = _two_headed_model()
    original.save(tmp_path / "model.keras")
    project, again = tmp_path / "model.json", tmp_path / "again.keras"

    assert cli.main(["import", str(tmp_path / "model.keras"), "-o", str(project),
                     "--weights"]) == 0
    assert len(list(tmp_path.glob("model.weights-*.npz"))) == 1
    assert cli.main(["export", str(project), "--format", "keras", "-o", str(again)]) == 0
    reloaded = keras.saving.load_model(again)
    for got, want in zip(reloaded(_batch(original)), original(_batch(original)), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)


def test_import_of_a_missing_file_names_it(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.keras"
    assert cli.main(["import", str(missing), "-o", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert "nope.keras" in err
    assert not (tmp_path / "p.json").exists()


def test_import_of_json_with_weights_says_only_that_there_are_none(tmp_path: Path,
                                                                   capsys) -> None:
    (tmp_path / "arch.json").write_text(_two_headed_model().to_json(), encoding="utf-8")
    assert cli.main(["import", str(tmp_path / "arch.json"), "-o", str(tmp_path / "p.json"),
                     "--weights"]) == 0
    err = capsys.readouterr().err
    assert "no weights to keep" in err
    assert "weights kept" not in err


def test_import_renames_what_load_refuses_and_the_project_opens(tmp_path: Path,
                                                                capsys) -> None:
    text = _two_headed_model().to_json().replace('"shared"', '"enc/shared"')
    (tmp_path / "arch.json").write_text(text, encoding="utf-8")
    assert cli.main(["import", str(tmp_path / "arch.json"), "-o", str(tmp_path / "p.json")]) == 0
    assert "'enc/shared' renamed to 'enc_shared'" in capsys.readouterr().err
    assert cli.main(["summary", str(tmp_path / "p.json")]) == 0
    assert "enc_shared" in capsys.readouterr().out


def test_import_refuses_lambda_bytecode_in_an_activation(tmp_path: Path, capsys) -> None:
    text = _two_headed_model().to_json().replace(
        '"activation": "sigmoid"', '"activation": {"class_name": "__lambda__", "config": '
        '{"code": "4wEAAAAA"}}')
    (tmp_path / "arch.json").write_text(text, encoding="utf-8")
    assert cli.main(["import", str(tmp_path / "arch.json"), "-o", str(tmp_path / "p.json")]) == 2
    assert "layer 'score' holds Python code" in capsys.readouterr().err
    assert not (tmp_path / "p.json").exists()
