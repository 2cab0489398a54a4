"""Two `layerforge tune` processes start together on a new SQLite file, with the same --seed:
both join the one study (no "table studies already exists"), each runs trials of it, and no
two trials train the same values.

Each process imports TensorFlow and Optuna first, then waits for the other at a barrier
(a file per process), so both open the new storage in the same few milliseconds, as two
processes started together by a user or a scheduler do once their imports are done.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

TUNE = ["tune", "sequential-mlp", "--data", "synthetic", "--samples", "64", "--batch-size", "32",
        "--epochs", "1", "--search", "dense.units=int:8:48:8",
        "--search", "learning_rate=float:1e-3:3e-2:log", "--pruner", "none", "--seed", "0",
        # the study's budget, shared: both processes start a trial at once (one trains the
        # defaults), then each takes another, so both of them sample with the seed
        "--n-trials", "4"]

# Import what `tune` imports, meet the other process, then run the command itself.
LAUNCHER = """
import os, sys, time
from pathlib import Path
import keras, optuna, sqlalchemy
from layerforge.core.cli import main
barrier, count = Path(sys.argv[1]), int(sys.argv[2])
(barrier / str(os.getpid())).touch()
deadline = time.monotonic() + 120
while len(list(barrier.iterdir())) < count and time.monotonic() < deadline:
    time.sleep(0.001)
sys.exit(main.main(sys.argv[3:]))
"""


def start_together(folder: Path, storage: str, count: int = 2) -> list[subprocess.Popen]:
    barrier = folder / "barrier"
    barrier.mkdir()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-c", LAUNCHER, str(barrier), str(count), *TUNE,
               "--storage", storage, "--study", "together"]
    return [subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(count)]


def trials_of(storage: str) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name="together", storage=storage).get_trials(deepcopy=False)


def check_start(storage: str, procs: list[subprocess.Popen]) -> int:
    """Both processes joined the study and ran distinct values; returns its trial count."""
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"a process did not join the study:\n{err[-2000:]}"
        assert "Traceback" not in err and "layerforge: error" not in err, err[-2000:]
    trials = trials_of(storage)
    assert {t.user_attrs["pid"] for t in trials} == {p.pid for p in procs}, \
        "each process ran trials of the one study"
    assert [t.number for t in trials] == list(range(len(trials)))
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert sum(bool(t.user_attrs.get("defaults")) for t in trials) == 1
    values = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(values)) == len(values), f"two trials trained the same values: {values}"
    return len(trials)


def storage_of(folder: Path) -> str:
    return f"sqlite:///{folder / 'new.optuna.db'}"


def run_starts(tmp_path: Path, times: int, at_once: int) -> None:
    """``times`` starts of two processes, ``at_once`` pairs (each on its own file) at a time."""
    began, counts = time.monotonic(), []
    for first in range(0, times, at_once):
        folders = [tmp_path / f"start-{n}" for n in range(first, min(first + at_once, times))]
        for folder in folders:
            folder.mkdir()
        started = [(folder, start_together(folder, storage_of(folder)))
                   for folder in folders]
        counts += [check_start(storage_of(folder), procs) for folder, procs in started]
    print(f"{times} starts of two tune processes in {time.monotonic() - began:.1f}s; "
          f"trials per study: {counts}")


def test_two_tune_processes_started_together_join_one_study_twice(tmp_path):
    run_starts(tmp_path, 2, at_once=2)


@pytest.mark.slow
def test_two_tune_processes_started_together_join_one_study_ten_times(tmp_path):
    run_starts(tmp_path, 10, at_once=2)
