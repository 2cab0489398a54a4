"""Ensembles of three digits runs: weights on the simplex, a validation loss no worse than the
best member's, and an exported model (Keras file, generated code, project) that predicts what
the in-app ensemble predicts."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import DataSource
from layerforge.core.training.fit import train
from layerforge.core.tuning.ensemble import (
    EnsembleError,
    build_ensemble,
    export_ensemble,
    normalized,
    predict,
    validation_data,
)

DIGITS = {"features": DataSource("sklearn", {"name": "digits", "part": "x"}),
          "predictions": DataSource("sklearn", {"name": "digits", "part": "y"})}


def set_units(doc, layer_name: str, units: int) -> None:
    layer = next(la for la in doc.graph.layers.values() if la.name == layer_name)
    doc.graph.replace_layer(replace(layer, params={**layer.params, "units": units}), "units")


def digits_run(catalog, folder, units: int, seed: int):
    doc = load_template("sequential-mlp", catalog)
    doc.training.data = dict(DIGITS)
    set_units(doc, "dense", units)
    doc.training.epochs, doc.training.seed, doc.training.batch_size = 2, seed, 64
    result = train(doc, run_dir=folder)
    assert result.ok, result.message
    return folder


@pytest.fixture(scope="module")
def three_runs(catalog, tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    return [digits_run(catalog, base / f"run{i}", units, seed)
            for i, (units, seed) in enumerate([(8, 1), (16, 2), (32, 3)])]


def test_weighted_ensemble_is_no_worse_than_its_best_member(three_runs):
    ensemble = build_ensemble(three_runs, "weighted")
    weights = np.array(ensemble.weights)
    assert len(weights) == 3 and np.all(weights >= 0) and weights.sum() == pytest.approx(1.0)
    assert ensemble.score.loss <= ensemble.best_member.loss + 1e-9
    assert [s.name for s in ensemble.member_scores] == ["member_1", "member_2", "member_3"]
    assert all(0 <= s.metrics["accuracy"] <= 1 for s in ensemble.member_scores)
    mean = build_ensemble(three_runs, "mean")
    assert mean.weights == pytest.approx([1 / 3] * 3)
    assert ensemble.score.loss <= mean.score.loss + 1e-9


def test_member_scores_are_the_models_own_validation_loss(three_runs):
    ensemble = build_ensemble(three_runs[:2], "mean")
    member = ensemble.members[0]
    x, y = validation_data(member)
    keras_loss = member.model.evaluate(x["features"], y["predictions"], verbose=0,
                                       batch_size=1000)
    keras_loss = keras_loss[0] if isinstance(keras_loss, list) else keras_loss
    assert ensemble.member_scores[0].loss == pytest.approx(keras_loss, rel=1e-4)


def test_exported_model_code_and_project_predict_like_the_in_app_ensemble(three_runs, tmp_path):
    import keras

    from layerforge.core.io.export import export_keras
    from layerforge.core.io.project import load

    ensemble = build_ensemble(three_runs, "weighted")
    out = tmp_path / "ensemble.keras"
    export_ensemble(ensemble, out, code=tmp_path / "ensemble.py",
                    project=tmp_path / "ensemble.json")
    x, _ = validation_data(ensemble.members[0])
    expected = ensemble.predictions["predictions"]
    saved = keras.models.load_model(out)
    assert [layer.name for layer in saved.layers if isinstance(layer, keras.Model)] == \
        ["member_1", "member_2", "member_3"]
    np.testing.assert_allclose(saved.predict(x["features"], verbose=0), expected, atol=1e-6)
    # the generated code builds the same architecture ...
    code = (tmp_path / "ensemble.py").read_text()
    module = type(keras)("ensemble_code")
    exec(compile(code, "ensemble.py", "exec"), module.__dict__)
    assert module.build_model().count_params() == saved.count_params()
    # ... and the project (weights beside it) exports the same predictions
    doc = load(tmp_path / "ensemble.json")
    assert [o.loss for o in doc.graph.outputs()] == ["categorical_crossentropy"]
    again = export_keras(doc, tmp_path / "again.keras")
    np.testing.assert_allclose(predict(again, x)["predictions"], expected, atol=1e-6)


def test_members_must_share_inputs_and_outputs(catalog, three_runs, tmp_path):
    doc = load_template("sequential-mlp", catalog)
    set_units(doc, "predictions", 5)  # five classes: other outputs than the digits runs
    doc.training.epochs = 1
    assert train(doc, run_dir=tmp_path / "five").ok
    with pytest.raises(EnsembleError, match=r"expected the outputs of .*\(predictions \(10,\)\); "
                                            r"received predictions \(5,\)"):
        build_ensemble([three_runs[0], tmp_path / "five"])
    with pytest.raises(EnsembleError, match="expected two or more run folders; received 1"):
        build_ensemble(three_runs[:1])
    with pytest.raises(EnsembleError, match="expected a method among mean, weighted"):
        build_ensemble(three_runs, "median")
    ensemble = build_ensemble(three_runs[:2], "mean")
    with pytest.raises(EnsembleError, match=r"ending in \.keras"):
        export_ensemble(ensemble, tmp_path / "model.h5")


def test_weights_are_non_negative_and_sum_to_one():
    assert normalized(np.array([-1.0, 3.0])).tolist() == [0.25, 0.75]
    assert normalized(np.zeros(4)).tolist() == [0.25] * 4
