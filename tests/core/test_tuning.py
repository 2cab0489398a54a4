"""Studies on scikit-learn's digits: trials train like runs, the defaults are the first trial,
a stopped or dead trial is queued again, and the best trial applies as one edit."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import exc as sqlalchemy_exc

from layerforge.core.document.records import to_records
from layerforge.core.document.search_space import Dimension
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.space_edits import apply_values, mark_dimension
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import DataSource
from layerforge.core.tuning import storage as storage_module
from layerforge.core.tuning.results import TuningError
from layerforge.core.tuning.sampling import make_sampler, trial_seed
from layerforge.core.tuning.storage import (
    default_storage,
    load_summary,
    open_storage,
    requeue_dead_trials,
    trial_counts,
)
from layerforge.core.tuning.study import run_study
from layerforge.core.tuning.trial import trial_document


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
    with pytest.raises(TuningError, match="expected a positive time budget in seconds; "
                                          "received -1"):
        run_study(digits_mlp(catalog), timeout=-1, project=tmp_path / "p.json")


def test_joining_a_study_with_another_direction_says_what_it_expected(catalog, tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path / 'p.optuna.db'}"
    optuna.create_study(storage=storage, study_name="p")  # minimises
    with pytest.raises(TuningError, match="study 'p' already exists and minimizes its metric: "
                       "expected a metric to minimize; received val_accuracy, which is "
                       "maximized"):
        run_study(digits_mlp(catalog), n_trials=1, storage=storage, project=tmp_path / "p.json",
                  metric="val_accuracy")


def sampled(study, count: int) -> list[tuple]:
    values = []
    for _ in range(count):
        trial = study.ask()
        pair = (trial.suggest_int("units", 8, 4096), trial.suggest_float("rate", 1e-4, 0.1,
                                                                          log=True))
        study.tell(trial, pair[0] * pair[1])
        values.append(pair)
    return values


@pytest.mark.parametrize("name", ["tpe", "random"])
def test_workers_sharing_a_seed_sample_distinct_values_and_one_worker_repeats_itself(name):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.InMemoryStorage()
    # two workers on one study, each with --seed 0, asking in turn (past TPE's 10 random
    # start-up trials)
    first = optuna.create_study(storage=storage, study_name="s",
                                sampler=make_sampler(name, 0))
    second = optuna.load_study(storage=storage, study_name="s", sampler=make_sampler(name, 0))
    both = [pair for _ in range(7) for pair in sampled(first, 1) + sampled(second, 1)]
    assert len(set(both)) == len(both) == 14, "no two trials share their values"
    # one worker with a fixed seed draws the same values on every run
    runs = [sampled(optuna.create_study(sampler=make_sampler(name, 0)), 12) for _ in range(2)]
    assert runs[0] == runs[1]
    assert sampled(optuna.create_study(sampler=make_sampler(name, 1)), 12) != runs[0]
    assert len({trial_seed(0, n) for n in range(1000)}) == 1000


def table_exists_error():
    import sqlite3

    from sqlalchemy import exc

    return exc.OperationalError("CREATE TABLE studies", {},
                                sqlite3.OperationalError("table studies already exists"))


def test_opening_a_new_storage_retries_when_another_process_creates_its_tables(tmp_path,
                                                                                 monkeypatch):
    import optuna

    real, calls = storage_module._rdb_storage, []

    def racing(*args):
        calls.append(args[0])
        if len(calls) == 1:
            raise table_exists_error()
        if len(calls) == 2:  # Optuna wraps errors raised while it commits
            raise optuna.exceptions.StorageInternalError("commit failed") from \
                sqlalchemy_exc.IntegrityError("INSERT INTO version_info", {}, Exception("dup"))
        return real(*args)

    monkeypatch.setattr(storage_module, "_rdb_storage", racing)
    monkeypatch.setattr(storage_module, "RETRY_S", 0.01)
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert open_storage(url).url == url and len(calls) == 3
    # an error that is not a race is reported at once, naming what was received
    calls.clear()
    monkeypatch.setattr(storage_module, "_rdb_storage", failing(calls, sqlalchemy_exc.
                        OperationalError("connect", {}, Exception("unable to open database"))))
    with pytest.raises(TuningError, match=r"expected a storage URL that SQLAlchemy can open "
                       r".*received 'sqlite:///x.db' \(OperationalError: .*unable to "
                       "open database"):
        open_storage("sqlite:///x.db")
    assert len(calls) == 1
    with pytest.raises(TuningError, match="expected a SQLite file in an existing folder; "
                       f"received 'sqlite:///{tmp_path}/missing/x.db', whose folder "
                       f"{tmp_path}/missing does not exist"):
        open_storage(f"sqlite:///{tmp_path}/missing/x.db")
    assert len(calls) == 1
    # a race that never settles ends in the same message after a few attempts
    calls.clear()
    monkeypatch.setattr(storage_module, "_rdb_storage", failing(calls, table_exists_error()))
    with pytest.raises(TuningError, match="table studies already exists"):
        open_storage(url)
    assert len(calls) == storage_module.OPEN_ATTEMPTS


def failing(calls: list, error: Exception):
    def open_(*args):
        calls.append(args[0])
        raise error
    return open_


OPEN_TOGETHER = """
import os, sys, time
from pathlib import Path
import optuna
from layerforge.core.tuning.storage import open_storage
barrier, count = Path(sys.argv[2]), int(sys.argv[3])
(barrier / str(os.getpid())).touch()
while len(list(barrier.iterdir())) < count:  # every process has imported Optuna
    time.sleep(0.001)
optuna.create_study(storage=open_storage(sys.argv[1]), study_name="s", load_if_exists=True)
"""


def test_processes_opening_a_new_sqlite_file_together_all_join_it(tmp_path):
    for round_ in range(2):
        url, barrier = f"sqlite:///{tmp_path / f'new-{round_}.db'}", tmp_path / f"b-{round_}"
        barrier.mkdir()
        procs = [subprocess.Popen([sys.executable, "-c", OPEN_TOGETHER, url, str(barrier), "4"],
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, "\n".join(errors)[-2000:]


def test_a_metric_the_runs_do_not_log_fails_each_trial_naming_the_logs(catalog, tmp_path):
    summary = run_study(digits_mlp(catalog), n_trials=1, project=tmp_path / "p.json",
                        metric="val_acc")
    [trial] = summary.trials
    assert trial.state == "fail" and summary.best is None
    assert trial.message.startswith("expected the run to log val_acc to compare trials on; "
                                    "received logs of ")
    assert "val_accuracy" in trial.message


def test_a_pruned_trial_stops_its_training_process_after_the_epoch_the_pruner_saw(
        catalog, tmp_path):
    """Trials train in a child process: its epoch reports reach Optuna and the study's
    reporter in this process, and when the pruner says so the child stops training."""
    import optuna

    from layerforge.core.tuning.trial import Objective

    class PruneAtOnce(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return True

    doc = digits_mlp(catalog, epochs=6)
    recorder = Recorder()
    objective = Objective(doc, doc.training, "val_loss", tmp_path / "study", recorder, None,
                          in_child=True)
    study = optuna.create_study(pruner=PruneAtOnce())
    try:
        study.optimize(objective, n_trials=1)
    finally:
        objective.close()
    [trial] = study.get_trials()
    assert trial.state.name == "PRUNED"
    epochs = [e for e in recorder.events if e[0] == "epoch"]
    assert epochs and epochs[0][:3] == ("epoch", 0, 0)
    assert trial.intermediate_values[0] == pytest.approx(epochs[0][3])
    history = json.loads((Path(trial.user_attrs["run_dir"]) / "history.json").read_text())
    trained = len(next(iter(history.values())))
    assert trained < 6, f"the child trained all {trained} epochs after the pruner stopped it"
    assert json.loads((Path(trial.user_attrs["run_dir"]) / "status.json").read_text())[
        "status"] == "stopped"


def test_tune_in_process_trains_without_a_child_and_by_default_with_one(tmp_path, monkeypatch,
                                                                         capsys):
    from layerforge.core.cli import main as cli
    from layerforge.core.tuning import trial as trial_module

    children = []
    real = trial_module.train_in_child
    monkeypatch.setattr(trial_module, "train_in_child",
                        lambda *a, **k: children.append(1) or real(*a, **k))
    monkeypatch.chdir(tmp_path)
    tune = ["tune", "sequential-mlp", "--data", "synthetic", "--samples", "48", "--epochs", "1",
            "--search", "dense.units=int:8:48:8", "--n-trials", "1"]
    assert cli.main([*tune, "--study", "here", "--in-process"]) == 0, capsys.readouterr().err
    assert children == []
    assert cli.main([*tune, "--study", "children"]) == 0, capsys.readouterr().err
    assert children == [1]
    assert "trial 0 complete" in capsys.readouterr().err


def test_a_trial_trains_without_the_health_report_but_with_the_projects_other_settings():
    doc = load_template("sequential-mlp")
    assert doc.training.health
    _, settings = trial_document(to_records(doc), doc.catalog, doc.training, {})
    assert not settings.health and doc.training.health  # the project's own is untouched
    assert settings.epochs == doc.training.epochs and settings.seed == doc.training.seed
