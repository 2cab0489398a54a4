"""`layerforge tune --objective ... --objective params` as a user runs it: the Pareto front
it prints is the storage's best_trials; an objective no run logs, and a missing dashboard
package, each give one message; --dashboard serves the study."""

from __future__ import annotations

import os
import re
import signal
import urllib.request

import optuna
import pytest

from layerforge.core.cli import main as cli
from layerforge.core.tuning import dashboard as dashboard_module
from layerforge.core.tuning.dashboard import dashboard_command, start_dashboard
from layerforge.core.tuning.results import TuningError

SEARCH = ["--search", "dense.units=int:8:48:8", "--search", "learning_rate=float:1e-3:3e-2:log"]
FAST = ["--data", "sklearn:digits", "--epochs", "1", "--batch-size", "256", "--seed", "2"]
FRONT_LINE = re.compile(r"^trial (\d+)(?: \(defaults\))?: val_loss ([\d.e+-]+), params (\d+); "
                        r"dense\.units=(\d+), learning_rate=")



@pytest.fixture(autouse=True)
def trials_in_process(monkeypatch):
    """Trials train in this process: what is tested here is what a study optimises, and a
    child process per trial (which tests/e2e/test_study_resume.py and the app's Search
    dock test cover) costs a TensorFlow import each."""
    monkeypatch.setenv("LAYERFORGE_TRIALS_IN_PROCESS", "1")

def test_the_printed_front_is_the_storages_best_trials(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["tune", "sequential-mlp", *FAST, *SEARCH, "--n-trials", "12",
                     "--objective", "val_loss", "--objective", "params"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "minimize val_loss, minimize params, 12 trials" in err
    assert "note: pruning is off" in err
    assert re.search(r"trial 11 complete val_loss [\d.]+, params \d+", err)
    study = optuna.load_study(study_name="sequential-mlp",
                              storage=f"sqlite:///{tmp_path / 'sequential-mlp.optuna.db'}")
    assert len(study.trials) == 12
    printed = [FRONT_LINE.match(line) for line in out.splitlines()
               if line.startswith("trial ")]
    assert printed and all(printed), out
    best = sorted(study.best_trials, key=lambda t: t.number)
    assert f"Pareto front (minimize val_loss, minimize params): {len(best)} trial" in out
    assert [int(m[1]) for m in printed] == [t.number for t in best]
    for match, trial in zip(printed, best, strict=True):
        assert float(match[2]) == pytest.approx(trial.values[0], rel=1e-5)
        assert int(match[3]) == trial.values[1]
        assert int(match[4]) == trial.params["dense.units"]


def test_an_objective_no_run_logs_is_one_message_naming_the_logged_ones(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["tune", "sequential-mlp", *FAST, *SEARCH, "--n-trials", "5",
                     "--objective", "val_auc", "--objective", "params"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    errors = [line for line in err.splitlines() if line.startswith("layerforge: error:")]
    assert len(errors) == 1, err
    assert errors[0].startswith("layerforge: error: expected an objective the training logs; "
                                "received val_auc, and the runs log ")
    assert "val_loss" in errors[0] and "val_accuracy" in errors[0]
    assert "trial 1 started" not in err  # it stopped after the first trial said so


def test_dashboard_command_serves_the_storage_with_run_server():
    command = dashboard_command("sqlite:///s.db", "127.0.0.1", 8085)
    assert command[1] == "-c" and "optuna_dashboard.run_server" in command[2]
    assert command[3:] == ["sqlite:///s.db", "127.0.0.1", "8085"]


def test_a_missing_dashboard_package_is_named(tmp_path, capsys, monkeypatch):
    real = dashboard_module.importlib.util.find_spec
    monkeypatch.setattr(dashboard_module.importlib.util, "find_spec",
                        lambda name, *a: None if name == "optuna_dashboard" else real(name, *a))
    with pytest.raises(TuningError, match="needs the optuna-dashboard package, which is not "
                                          "installed: pip install optuna-dashboard"):
        start_dashboard("sqlite:///x.db", tmp_path)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["tune", "sequential-mlp", *FAST, *SEARCH, "--n-trials", "1",
                     "--objective", "val_loss", "--objective", "params", "--dashboard"])
    _, err = capsys.readouterr()
    assert code == 2 and "trial 0 started" not in err  # said before any trial trained
    assert "pip install optuna-dashboard" in err


def test_the_dashboard_answers_on_the_url_it_reports_and_outlives_its_starter(tmp_path):
    storage = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=storage, study_name="shown",
                                directions=["minimize", "minimize"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=2)
    board = start_dashboard(storage, tmp_path / "runs")
    try:
        assert board.url.startswith("http://127.0.0.1:")
        assert os.getpgid(board.pid) != os.getpgid(0)  # its own session: it survives us
        with urllib.request.urlopen(board.url + "api/studies", timeout=10) as answer:
            body = answer.read().decode()
        assert '"study_name": "shown"' in body
        assert f"kill {board.pid}" in board.describe()
    finally:
        os.kill(board.pid, signal.SIGTERM)
