"""What a study adds to training: seconds per trial vs a plain ``core.training.train`` run.

On scikit-learn's digits with `sequential-mlp` (2 searched dimensions, 2 epochs a trial),
a study runs in a fresh SQLite storage (sampling, heartbeats, pruning reports, trial
records; opening the storage included), then each trial's own document and settings (its
run folder's snapshot) is trained again through ``train`` directly, so both sides train the
same models. The study runs twice, with the same seed (so the same trials): with every
trial trained in this process (``in_process=True``, ``layerforge tune --in-process``), then
as studies run by default, each trial in a child process. Then a weighted ensemble of the
three best trials is built and exported. CPU seconds of this process are printed beside
wall seconds.

Targets: at 10 trials the study in process costs at most 0.25 s a trial more than the plain
runs (opening the storage, about 1 s of imports and schema checks, is paid once a process).
Trials in child processes cost more when they are this short: each child imports
TensorFlow (3-8 s here, timed below in a fresh interpreter). The child for the next trial
is started as a trial begins, so a trial longer than that import pays nothing for it, and
a shorter one waits for the rest of it: target, a child trial costs at most one TensorFlow
import (+ 0.5 s) more than a plain run. Children are the default anyway: a process that
trains trial after trial keeps every model's traced functions (bench_study_memory.py).
Last, 4 processes open one new SQLite file at the same moment (a barrier after their
imports), as `tune` processes started together do: the ones that lose the race to create
its tables retry (target: the slowest joins less than 2 s after one process alone).

    .venv/bin/python bench/bench_tuning.py [--trials N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from layerforge.core.document.search_space import Dimension
from layerforge.core.editing.space_edits import mark_dimension
from layerforge.core.io import project
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import DataSource
from layerforge.core.training.fit import train
from layerforge.core.training.runs import load_run
from layerforge.core.tuning.ensemble import build_ensemble, export_ensemble
from layerforge.core.tuning.results import best_run_dirs
from layerforge.core.tuning.study import run_study


def digits_doc():  # type: ignore[no-untyped-def]
    doc = load_template("sequential-mlp")
    doc.training.data = {"features": DataSource("sklearn", {"name": "digits", "part": "x"}),
                         "predictions": DataSource("sklearn", {"name": "digits", "part": "y"})}
    doc.training.epochs, doc.training.seed, doc.training.batch_size = 2, 0, 64
    dense = next(la.id for la in doc.graph.layers.values() if la.name == "dense")
    mark_dimension(doc, Dimension("units", "int", 8, 64, step=8, layer_id=dense)).redo(doc)
    mark_dimension(doc, Dimension("learning_rate", "float", 1e-3, 3e-2, log=True)).redo(doc)
    return doc


def import_seconds(rounds: int = 2) -> float:
    """A fresh interpreter's ``import keras`` (TensorFlow with it), the median of a few."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import keras"], check=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def study(doc, base: Path, n: int, in_process: bool):  # type: ignore[no-untyped-def]
    name = "in-process" if in_process else "children"
    return timed(lambda: run_study(doc, n_trials=n, project=base / f"{name}.json",
                                   pruner="none", seed=0, in_process=in_process))


def timed(fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


JOIN = """
import os, sys, time
from pathlib import Path
import optuna
from layerforge.core.tuning.storage import open_storage
optuna.logging.set_verbosity(optuna.logging.ERROR)
open_storage("sqlite:///:memory:")  # the imports and schema code, paid before the race
barrier, count = Path(sys.argv[2]), int(sys.argv[3])
(barrier / str(os.getpid())).touch()
while len(list(barrier.iterdir())) < count:
    time.sleep(0.001)
start = time.perf_counter()
optuna.create_study(storage=open_storage(sys.argv[1]), study_name="s", load_if_exists=True)
print(time.perf_counter() - start)
"""


def join_times(folder: Path, processes: int = 4, rounds: int = 3) -> list[float]:
    """Seconds each process took to open a new SQLite file and join its study, all of
    them starting at the same moment (a barrier after their imports)."""
    seconds = []
    for n in range(rounds):
        name = f"{processes}-{n}"
        url, barrier = f"sqlite:///{folder / f'race-{name}.db'}", folder / f"barrier-{name}"
        barrier.mkdir()
        procs = [subprocess.Popen([sys.executable, "-c", JOIN, url, str(barrier),
                                   str(processes)], stdout=subprocess.PIPE, text=True)
                 for _ in range(processes)]
        seconds += [float(p.communicate(timeout=120)[0]) for p in procs]
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    n = parser.parse_args().trials
    doc = digits_doc()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        train(doc, run_dir=base / "warm-up")  # TensorFlow's first build is not a trial's cost
        summary, study_wall, study_cpu = study(doc, base, n, in_process=True)
        children, child_wall, child_cpu = study(doc, base, n, in_process=False)
        if [t.params for t in children.trials] != [t.params for t in summary.trials]:
            print("note: past TPE's 10 random trials the two studies sample differently")
        tf_import = import_seconds()
        trials = [(load_run(t.run_dir).settings, project.load(Path(t.run_dir) / "project.json"))
                  for t in summary.trials]
        _, plain_wall, plain_cpu = timed(
            lambda: [train(d, s, run_dir=base / f"plain-{i}") for i, (s, d) in
                     enumerate(trials)])
        runs = best_run_dirs(summary, 3)
        ensemble, ens_wall, _ = timed(lambda: build_ensemble(runs, "weighted"))
        _, export_wall, _ = timed(lambda: export_ensemble(ensemble, base / "e.keras",
                                                          code=base / "e.py"))
        alone, joins = join_times(base, processes=1), join_times(base)
    extra = (study_wall - plain_wall) / n
    child_extra = (child_wall - plain_wall) / n
    print(f"{n} plain runs of the trials' documents: {plain_wall:.1f} s wall, {plain_cpu:.1f} s "
          f"CPU ({plain_wall / n:.2f} s a run)")
    print(f"{n} trials of a study, in process: {study_wall:.1f} s wall, {study_cpu:.1f} s CPU "
          f"({study_wall / n:.2f} s a trial; {extra:+.2f} s a trial for the study)")
    print(f"{n} trials of a study, each in a child process: {child_wall:.1f} s wall, "
          f"{child_cpu:.1f} s CPU here ({child_wall / n:.2f} s a trial; {child_extra:+.2f} s a "
          f"trial for the study; {child_wall / study_wall:.1f}x the study in process; "
          f"importing TensorFlow in a fresh process: {tf_import:.1f} s)")
    print(f"ensemble of 3: built in {ens_wall:.1f} s (val loss {ensemble.score.loss:.4f}, best "
          f"member {ensemble.best_member.loss:.4f}), exported in {export_wall:.1f} s")
    print(f"opening a new SQLite file and joining its study: {statistics.median(alone):.2f} s "
          f"alone; 4 processes at once: {statistics.median(joins):.2f} s (median), "
          f"{max(joins):.2f} s (slowest, {max(joins) - max(alone):+.2f} s)")
    ok = extra <= 0.25 and child_extra <= tf_import + 0.5 and max(joins) - max(alone) < 2
    print("target met" if ok else "target missed: the study in process costs more than 0.25 s "
                                  "a trial, a child trial more than one TensorFlow import, or "
                                  "racing for a new storage 2 s or more")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
