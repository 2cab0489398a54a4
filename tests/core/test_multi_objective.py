"""Multi-objective studies: the validation loss against the parameter count on digits; the
front is Optuna's best_trials and no trial on it is beaten on both objectives."""

from __future__ import annotations

import optuna
import pytest

from layerforge.core.analysis.cost import model_cost
from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.document.search_space import Dimension
from layerforge.core.editing.space_edits import mark_dimension
from layerforge.core.io.diff import open_model
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import DataSource
from layerforge.core.tuning.objectives import parameter_count, study_objectives
from layerforge.core.tuning.results import TuningError
from layerforge.core.tuning.storage import default_storage, load_summary
from layerforge.core.tuning.study import run_study


@pytest.fixture(autouse=True)
def trials_in_process(monkeypatch):
    """Trials train in this process: what is tested here is what a study optimises, and a
    child process per trial (which tests/e2e/test_study_resume.py and the app's Search
    dock test cover) costs a TensorFlow import each."""
    monkeypatch.setenv("LAYERFORGE_TRIALS_IN_PROCESS", "1")

def digits_mlp(catalog):
    doc = load_template("sequential-mlp", catalog)
    doc.training.data = {"features": DataSource("sklearn", {"name": "digits", "part": "x"}),
                         "predictions": DataSource("sklearn", {"name": "digits", "part": "y"})}
    doc.training.epochs, doc.training.seed, doc.training.batch_size = 1, 0, 256
    dense = next(la.id for la in doc.graph.layers.values() if la.name == "dense")
    for dim in [Dimension("units", "int", 8, 48, step=8, layer_id=dense),
                Dimension("learning_rate", "float", 1e-3, 3e-2, log=True)]:
        mark_dimension(doc, dim).redo(doc)
    return doc


def dominates(a: list[float], b: list[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def test_val_loss_against_params_gives_optunas_pareto_front(catalog, tmp_path):
    doc = digits_mlp(catalog)
    project = tmp_path / "digits.json"
    summary = run_study(doc, n_trials=12, project=project, sampler="tpe", seed=3,
                        objectives=["val_loss", "params"])
    assert summary.objectives == ["val_loss", "params"]
    assert summary.directions == ["minimize", "minimize"]
    study = optuna.load_study(study_name="digits", storage=default_storage(project))
    assert study.metric_names == ["val_loss", "params"]
    complete = [t for t in summary.trials if t.state == "complete"]
    assert len(complete) == 12
    best = sorted(study.best_trials, key=lambda t: t.number)
    assert [t.number for t in summary.front] == [t.number for t in best]
    assert [t.values for t in summary.front] == [list(t.values) for t in best]
    for trial in summary.front:  # nothing beats a front trial on both objectives
        assert not any(dominates(other.values, trial.values) for other in complete)
    for trial in complete:  # ...and everything off the front is beaten by a front trial
        if trial not in summary.front:
            assert any(dominates(f.values, trial.values) for f in summary.front)
    # params is the count of the trial's model: 64 inputs -> units -> 32 -> 10
    for trial in complete:
        units = trial.params["dense.units"]
        assert trial.values[1] == (64 + 1) * units + (units + 1) * 32 + (32 + 1) * 10
        assert trial.values[0] == trial.value == pytest.approx(trial.metrics["val_loss"])
    assert len({t.values[1] for t in complete}) > 1  # the units differ, so do the counts
    # read back from the storage alone (the app's Show study)
    loaded = load_summary(default_storage(project), "digits")
    assert loaded.objectives == ["val_loss", "params"] and loaded.metric == "val_loss"
    assert loaded.front_numbers == summary.front_numbers


def test_params_objective_counts_like_the_summary(catalog):
    doc = digits_mlp(catalog)
    expected = 65 * 32 + 33 * 32 + 33 * 10
    assert parameter_count(doc) == ShapeEngine(doc).total_params() == expected


def test_objectives_need_one_metric_and_known_costs():
    assert study_objectives("val_loss", None) == ["val_loss"]
    assert study_objectives("val_loss", ["params", "val_accuracy", "params"]) == [
        "val_accuracy", "params"]
    with pytest.raises(TuningError, match=r"expected one training metric .* received "
                                          r"'params'$"):
        study_objectives("val_loss", ["params"])
    with pytest.raises(TuningError, match="received 'val_loss', 'val_accuracy'"):
        study_objectives("val_loss", ["val_loss", "val_accuracy"])


def test_joining_a_study_with_other_objectives_says_so(catalog, tmp_path):
    doc = digits_mlp(catalog)
    project = tmp_path / "p.json"
    run_study(doc, n_trials=1, project=project, objectives=["val_loss", "params"])
    with pytest.raises(TuningError, match="study 'p' already exists and optimises minimize "
                                          "val_loss, minimize params: expected the same "
                                          "objectives; received minimize val_loss"):
        run_study(doc, n_trials=2, project=project)
    with pytest.raises(TuningError, match="received maximize val_accuracy, minimize params"):
        run_study(doc, n_trials=2, project=project, objectives=["val_accuracy", "params"])
    single = tmp_path / "q.json"
    run_study(doc, n_trials=1, project=single)
    with pytest.raises(TuningError, match=r"study 'q' already exists and optimises 1 "
                                          r"objective\(s\) \(minimize\): expected the same"):
        run_study(doc, n_trials=2, project=single, objectives=["val_loss", "params"])


def test_nsga2_samples_a_multi_objective_study(catalog, tmp_path):
    summary = run_study(digits_mlp(catalog), n_trials=3, project=tmp_path / "n.json",
                        sampler="nsga2", seed=0, objectives=["val_accuracy", "params"])
    assert summary.directions == ["maximize", "minimize"]
    assert [t.state for t in summary.trials] == ["complete"] * 3
    assert summary.front and all(t.values[0] == t.metrics["val_accuracy"]
                                 for t in summary.trials)


def test_an_objective_no_run_logs_stops_the_study_naming_the_logged_ones(catalog, tmp_path):
    with pytest.raises(TuningError, match=r"expected an objective the training logs; received "
                                          r"val_auc, and the runs log .*val_accuracy"):
        run_study(digits_mlp(catalog), n_trials=3, project=tmp_path / "p.json",
                  objectives=["val_auc", "params"])


def test_flops_and_latency_objectives_are_the_trials_counted_and_measured_costs(catalog,
                                                                              tmp_path):
    doc = digits_mlp(catalog)
    summary = run_study(doc, n_trials=2, project=tmp_path / "p.json", seed=0,
                        objectives=["val_loss", "latency", "flops", "params"])
    assert summary.objectives == ["val_loss", "latency", "flops", "params"]
    assert summary.directions == ["minimize"] * 4
    for trial in summary.trials:
        assert trial.state == "complete", trial.message
        snapshot = open_model(trial.run_dir, catalog)  # the trial's own document
        engine = ShapeEngine(snapshot)
        assert trial.values[2] == model_cost(engine).flops > 0
        assert trial.values[3] == engine.total_params()
        assert 0 < trial.values[1] < 10_000  # ms per batch of 32, measured
