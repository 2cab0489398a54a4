"""50 trials of a study in one app session: resident memory of the app process.

The window runs a study from its Search dock (the panel's Run study: a StudyWorker thread
calling ``run_study``, each trial trained in a child process): `sequential-mlp` on tiny
synthetic data, ``dense.units`` and the learning rate searched, 1 epoch a trial, random
sampler, no pruning. The app process's resident memory (VmRSS) is read as trials 1, 10, 25
and 50 end; target: growth from trial 1 to trial 50 <= 200 MB. The largest training child
seen is printed too (each one exits with its trial).

For comparison, the same study then runs in a fresh app with every trial trained in the
app's own process (``LAYERFORGE_TRIALS_IN_PROCESS=1``, the way studies ran before), and the
two are printed side by side with their seconds per trial. Each side runs in its own
process, one after the other.

    .venv/bin/python bench/bench_study_memory.py [--trials 50] [--only child|in-process]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# no Keras check process beside the window: its children are the study's training ones
os.environ.setdefault("LAYERFORGE_KERAS_CHECK", "0")

TARGET_MB = 200
MODES = {"child": "0", "in-process": "1"}  # the value of LAYERFORGE_TRIALS_IN_PROCESS
MB = 1e6


def rss_bytes(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0  # a zombie has no resident memory


def children_rss() -> int:
    """The largest resident memory among this process's children (the training ones)."""
    me, largest = os.getpid(), 0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1]
                                            .split()[1]) == me:
                largest = max(largest, rss_bytes(entry.name))
        except (OSError, ValueError):
            continue  # ended meanwhile
    return largest


def searched_doc():  # type: ignore[no-untyped-def]
    from layerforge.core.document.search_space import Dimension
    from layerforge.core.editing.space_edits import mark_dimension
    from layerforge.core.io.templates import load_template
    from layerforge.core.schema.settings import DataSource, TrainingSettings

    doc = load_template("sequential-mlp")
    doc.training = TrainingSettings(batch_size=16, epochs=1, validation_split=0.25, seed=0,
                                    data={"features": DataSource("synthetic",
                                                                 {"samples": 64})})
    dense = next(la.id for la in doc.graph.layers.values() if la.name == "dense")
    mark_dimension(doc, Dimension("units", "int", 4, 64, step=4, layer_id=dense)).redo(doc)
    mark_dimension(doc, Dimension("learning_rate", "float", 1e-3, 3e-2, log=True)).redo(doc)
    return doc


def marks_for(trials: int) -> list[int]:
    """The trials after which memory is read."""
    return sorted(m for m in {1, 10, 25, trials} if m <= trials)


def run_in_app(trials: int) -> dict[str, object]:
    """One study of ``trials`` trials from the Search dock of a fresh window."""
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from layerforge.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    checkpoints = set(marks_for(trials))
    memory: dict[int, float] = {}
    states: list[str] = []
    largest_child = 0
    with tempfile.TemporaryDirectory() as folder:
        os.environ["LAYERFORGE_UNSAVED_RUNS_DIR"] = folder
        window = MainWindow(load_keras=False, restore=False)
        window.session.set_keras_ready()
        window.session.replace_document(searched_doc())
        panel = window.tuning_panel
        panel.n_trials.setValue(trials)
        panel.sampler.setCurrentText("random")
        panel.pruner.setCurrentText("none")
        loop = QEventLoop()
        panel.study_finished.connect(loop.quit)

        def trial_ended(trial: object) -> None:
            nonlocal largest_child
            states.append(str(getattr(trial, "state", "?")))
            largest_child = max(largest_child, children_rss())
            if len(states) in checkpoints:
                memory[len(states)] = rss_bytes() / MB

        began = time.perf_counter()
        assert panel.run_study(), "the Search dock refused to run the study"
        panel.worker.trial_ended.connect(trial_ended)
        loop.exec()
        seconds = time.perf_counter() - began
        app.processEvents()
        error = panel.error_text()
    return {"memory": memory, "states": states, "seconds": seconds, "error": error,
            "largest_child": largest_child / MB}


def measure(mode: str, trials: int) -> dict[str, object]:
    env = {**os.environ, "LAYERFORGE_TRIALS_IN_PROCESS": MODES[mode]}
    done = subprocess.run([sys.executable, __file__, "--child-run", str(trials)], env=env,
                          capture_output=True, text=True, check=False)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the {mode} run failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--only", choices=list(MODES))
    parser.add_argument("--child-run", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_run:
        print(json.dumps(run_in_app(args.child_run)))
        return 0
    n = args.trials
    results = {mode: measure(mode, n) for mode in MODES if args.only in (None, mode)}
    marks = marks_for(n)
    print(f"{n} trials of sequential-mlp (1 epoch, 64 synthetic samples) from the Search "
          "dock, one app session each; resident memory of the app process (MB)")
    print(f"  {'':<34}" + "".join(f"{f'trial {m}':>10}" for m in marks)
          + f"{'growth':>10}{'s/trial':>9}")
    growth: dict[str, float] = {}
    for mode, result in results.items():
        memory = {int(k): v for k, v in result["memory"].items()}  # type: ignore[union-attr]
        growth[mode] = memory[n] - memory[1]
        label = ("trials in child processes" if mode == "child"
                 else "trials in the app process (old)")
        print(f"  {label:<34}" + "".join(f"{memory[m]:>10.0f}" for m in marks)
              + f"{growth[mode]:>+10.0f}{result['seconds'] / n:>9.2f}")
        states = result["states"]
        print(f"    {states.count('complete')}/{len(states)} trials complete"  # type: ignore
              f"{'; error: ' + str(result['error']) if result['error'] else ''}; largest "
              f"training child: {result['largest_child']:.0f} MB")
    if "child" not in growth:
        return 0
    ok = growth["child"] <= TARGET_MB
    print(f"target (growth from trial 1 to trial {n} <= {TARGET_MB} MB with trials in child "
          f"processes): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
