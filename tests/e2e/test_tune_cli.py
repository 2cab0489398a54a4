"""`layerforge tune` and `layerforge ensemble` as a user runs them: a study on digits, two
processes sharing one SQLite study, a process killed mid-trial and resumed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from layerforge.core.cli import main as cli
from layerforge.core.cli.tune import parse_search
from layerforge.core.document.search_space import SearchSpaceError
from layerforge.core.io.templates import load_template

SEARCH = ["--search", "dense.units=int:8:48:8", "--search", "learning_rate=float:1e-3:3e-2:log"]
DIGITS = ["--data", "sklearn:digits"]


def tune_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "layerforge.core.cli.main", "tune", "sequential-mlp", *DIGITS,
            *SEARCH, *args]


def environment() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def study_trials(storage: str, name: str) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def test_parse_search_reads_ranges_choices_and_settings():
    doc = load_template("sequential-mlp")
    units = parse_search(doc, "dense.units=int:8:64:8")
    assert (units.kind, units.low, units.high, units.step, units.log) == ("int", 8, 64, 8, False)
    rate = parse_search(doc, "learning_rate=float:1e-4:1e-2:log")
    assert (rate.layer_id, rate.low, rate.log) == (None, 1e-4, True)
    act = parse_search(doc, "dense_1.activation=choice:relu,tanh")
    assert act.choices == ("relu", "tanh")
    assert parse_search(doc, "batch_size=choice:16,32").choices == (16, 32)
    with pytest.raises(SearchSpaceError, match=r"expected LAYER\.PARAM with a layer among dense"):
        parse_search(doc, "conv.filters=int:8:16")
    with pytest.raises(SearchSpaceError, match="expected NAME=int:LOW:HIGH"):
        parse_search(doc, "dense.units=8..16")
    with pytest.raises(SearchSpaceError, match="'units' expected an integer"):
        parse_search(doc, "dense.units=choice:8,many")


def test_tune_prints_trials_and_best_beside_defaults_then_ensembles(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["tune", "sequential-mlp", *DIGITS, *SEARCH, "--n-trials", "2",
                     "--epochs", "1", "--seed", "0"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "trial 0 started: dense.units=32, learning_rate=0.001" in err
    assert "trial 1 complete val_loss" in err
    assert "best trial" in out and "defaults (trial 0): val_loss" in out
    assert "val_accuracy: best " in out and ", defaults " in out
    trials = sorted((tmp_path / "sequential-mlp.runs" / "study-sequential-mlp").iterdir())
    assert [t.name for t in trials] == ["trial-0000", "trial-0001"]
    assert (tmp_path / "sequential-mlp.optuna.db").exists()
    code = cli.main(["ensemble", *map(str, trials), "--method", "weighted", "-o", "e.keras",
                     "--code", "e.py", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert [Path(m["run_dir"]) for m in report["members"]] == trials
    assert report["ensemble"]["loss"] <= min(m["loss"] for m in report["members"]) + 1e-9
    assert (tmp_path / "e.keras").exists() and "def build_model" in Path("e.py").read_text()


@pytest.mark.slow
def test_two_processes_share_one_sqlite_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    command = tune_command("--epochs", "1", "--n-trials", "100", "--timeout", "6",
                           "--storage", storage, "--study", "shared")
    procs = [subprocess.Popen(command, cwd=tmp_path, env=environment(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    trials = study_trials(storage, "shared")
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))  # no duplicates, none missing
    pids = {t.user_attrs["pid"] for t in trials}
    assert pids == {p.pid for p in procs}, "each process ran trials of the one study"
    assert all(t.state.name == "COMPLETE" or t.state.name == "PRUNED" for t in trials)


@pytest.mark.slow
def test_a_killed_study_resumes_without_losing_or_repeating_a_trial(tmp_path):
    storage = f"sqlite:///{tmp_path / 'resume.db'}"
    command = tune_command("--epochs", "2", "--n-trials", "10", "--storage", storage,
                           "--study", "resume", "--seed", "0", "--pruner", "none")
    proc = subprocess.Popen(command, cwd=tmp_path, env=environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    trial_two = tmp_path / "sequential-mlp.runs" / "study-resume" / "trial-0002"
    for line in proc.stderr:
        if line.startswith("trial 2 started"):
            break
    deadline = time.monotonic() + 120
    while not (trial_two / "status.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()  # mid-trial: trial 2 is training
    proc.communicate(timeout=60)
    before = study_trials(storage, "resume")
    assert [t.state.name for t in before] == ["COMPLETE", "COMPLETE", "RUNNING"]
    killed_params = before[2].params

    done = subprocess.run(command, cwd=tmp_path, env=environment(), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    trials = study_trials(storage, "resume")
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))
    assert trials[2].state.name == "FAIL"
    reruns = [t for t in trials if t.system_attrs.get("failed_trial") == 2]
    assert len(reruns) == 1 and reruns[0].state.name == "COMPLETE"
    assert reruns[0].params == killed_params
    finished = [t for t in trials if t.number != 2]
    assert len(finished) == 10 and all(t.state.name == "COMPLETE" for t in finished)
    assert trials[2].user_attrs["run_dir"] == str(trial_two)
    status = json.loads((trial_two / "status.json").read_text())
    assert status["status"] == "failed" and "ended mid-trial" in status["message"]
    assert "val_accuracy: best " in done.stdout and ", defaults " in done.stdout
