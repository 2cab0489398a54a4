"""Studies on scikit-learn's digits: trials train like runs, the defaults are the first trial,
a stopped or dead trial is queued again, and the best trial applies as one edit."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from layerforge.core.document.search_space import Dimension
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.space_edits import apply_values, mark_dimension
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import DataSource
from layerforge.core.tuning.results import TuningError
from layerforge.core.tuning.storage import (
    default_storage,
    load_summary,
    open_storage,
    requeue_dead_trials,
    trial_counts,
)
from layerforge.core.tuning.study import run_study


def digits_mlp(catalog, epochs: int = 1):
    doc = load_template("sequential-mlp", catalog)
    doc.training.data = {"features": DataSource("sklearn", {"name": "digits", "part": "x"}),
                         "predictions": DataSource("sklearn", {"name": "digits", "part": "y"})}
    doc.training.epochs, doc.training.seed, doc.training.batch_size = epochs, 0, 64
    dense = next(la.id for la in doc.graph.layers.values() if la.name == "dense")
    for dim in [Dimension("units", "int", 8, 48, step=8, layer_id=dense),
                Dimension("learning_rate", "float", 1e-3, 3e-2, log=True)]:
        mark_dimension(doc, dim).redo(doc)
    return doc


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_trial_begin(self, number, params):
        self.events.append(("begin", number, dict(params)))

    def on_epoch_end(self, number, epoch, logs):
        self.events.append(("epoch", number, epoch, logs["val_loss"]))

    def on_trial_end(self, trial):
        self.events.append(("end", trial.number, trial.state))


def test_a_short_study_on_digits_is_never_worse_than_the_defaults(catalog, tmp_path):
    doc = digits_mlp(catalog)
    recorder = Recorder()
    project = tmp_path / "digits.json"
    summary = run_study(doc, n_trials=3, project=project, sampler="random", seed=1,
                        reporter=recorder)
    assert default_storage(project) == f"sqlite:///{tmp_path / 'digits.optuna.db'}"
    assert (tmp_path / "digits.optuna.db").exists()
    assert [t.number for t in summary.trials] == [0, 1, 2]
    defaults = summary.defaults
    assert defaults is not None and defaults.number == 0
    assert defaults.params == {"dense.units": 32, "learning_rate": pytest.approx(0.001)}
    assert summary.best is not None and summary.best.value <= defaults.value
    for trial in summary.trials:
        folder = Path(trial.run_dir)
        assert folder.parent == tmp_path / "digits.runs" / "study-digits"
        assert folder.name == f"trial-{trial.number:04d}"
        status = json.loads((folder / "status.json").read_text())["status"]
        assert status == ("completed" if trial.state == "complete" else "stopped")
        assert "val_accuracy" in trial.metrics  # added to every classification trial
    # the sampled units reached the trained model of each trial's run folder
    for trial in summary.trials:
        snapshot = json.loads((Path(trial.run_dir) / "project.json").read_text())
        dense = next(la for la in snapshot["graph"]["layers"] if la["name"] == "dense")
        assert dense["params"]["units"] == trial.params["dense.units"]
    ends = [e for e in recorder.events if e[0] == "end"]
    assert [e[1] for e in ends] == [0, 1, 2]
    # the document itself is untouched until the best trial is applied, as one edit
    assert doc.search_space.current_values(doc)["dense.units"] == 32
    stack = UndoStack(doc)
    stack.push(apply_values(doc, summary.best.params))
    assert doc.search_space.current_values(doc) == pytest.approx(summary.best.params)
    stack.undo()
    assert doc.search_space.current_values(doc)["dense.units"] == 32


@pytest.mark.slow
def test_a_stopped_trial_is_queued_again_and_a_rerun_resumes(catalog, tmp_path):
    doc = digits_mlp(catalog, epochs=2)
    stop = threading.Event()

    class StopInTrialOne(Recorder):
        def on_epoch_end(self, number, epoch, logs):
            super().on_epoch_end(number, epoch, logs)
            if number == 1:
                stop.set()

    project = tmp_path / "p.json"
    first = run_study(doc, n_trials=3, project=project, pruner="none", sampler="random",
                      reporter=StopInTrialOne(), stop_event=stop)
    assert first.stopped
    states = {t.number: t.state for t in first.trials}
    assert states[0] == "complete" and states[1] == "fail" and states[2] == "waiting"
    queued = first.trials[2]
    assert queued.retry_of == 1 and queued.params == first.trials[1].params
    assert json.loads((Path(first.trials[1].run_dir) / "status.json").read_text())[
        "message"].startswith("the study was stopped")
    second = run_study(doc, n_trials=3, project=project, pruner="none", sampler="random")
    numbers = [t.number for t in second.trials]
    assert numbers == sorted(set(numbers))
    assert len(second.finished) == 3  # trial 1 was re-run as trial 2: nothing lost
    rerun = next(t for t in second.trials if t.retry_of == 1)
    assert rerun.state == "complete" and rerun.params == first.trials[1].params


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_running_trial_of_a_dead_process_on_this_machine_is_queued_again(tmp_path):
    import socket

    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=open_storage(url), study_name="s")
    trial = study.ask()
    trial.suggest_int("units", 8, 64)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", int(dead.stdout))
    alive = study.ask()
    alive.set_user_attr("host", socket.gethostname())
    alive.set_user_attr("pid", subprocess.os.getpid())
    assert trial_counts(study) == (0, 2, 0)
    assert requeue_dead_trials(study) == [trial.number]
    assert requeue_dead_trials(study) == []  # queued once only
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["FAIL", "RUNNING", "WAITING"]
    assert trials[2].params == trials[0].params
    assert trial_counts(study) == (0, 1, 1)
    assert load_summary(url, "s").trials[2].retry_of == trial.number


def test_a_study_needs_a_search_space_and_validation_data(catalog, tmp_path):
    doc = load_template("sequential-mlp", catalog)
    with pytest.raises(TuningError, match="expected a search space"):
        run_study(doc, n_trials=1, project=tmp_path / "p.json")
    doc = digits_mlp(catalog)
    doc.training.validation_split = 0.0
    with pytest.raises(TuningError, match="expected validation data"):
        run_study(doc, n_trials=1, project=tmp_path / "p.json")
    with pytest.raises(TuningError, match="expected a sampler among tpe, random"):
        run_study(digits_mlp(catalog), n_trials=1, project=tmp_path / "p.json", sampler="grid")
    with pytest.raises(TuningError, match="expected a storage URL"):
        run_study(digits_mlp(catalog), n_trials=1, storage="nosuchdb://x")
