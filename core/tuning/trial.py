"""One trial of a study: the document with the trial's values, trained like any run.

Each trial copies the document as it was when the study started, writes its sampled
values into the copy, and trains it with :func:`core.training.fit.train`: a run folder
per trial under the study folder (``<project>.runs/study-<name>/trial-NNNN``). The
validation metric of every epoch is reported to Optuna so a pruner can stop an
unpromising trial early; the trial's value is the best epoch's value of the metric.

Each trial trains in a child process (:mod:`core.training.process`), as the Training
dock's runs do: TensorFlow keeps every traced function of every model a process builds,
so a long study in one process grows without bound. The study, its sampler and storage
stay in this process; the child's epoch reports come back through the relay to the
trial's :class:`TrialWatcher`, which reports them to Optuna and stops the child when the
pruner says so. The next trial's process is started (TensorFlow imported) while a trial
trains. ``LAYERFORGE_TRIALS_IN_PROCESS=1`` trains in this process instead (the old way,
kept to measure against).
"""

from __future__ import annotations

import copy
import math
import os
import socket
import threading
from pathlib import Path
from typing import Any

from ..codegen.data_plan import target_kind
from ..document.document import Document
from ..document.records import from_records, to_records
from ..document.search_space import Dimension
from ..editing.space_edits import apply_values
from ..schema.errors import first_line
from ..schema.settings import TrainingSettings
from ..training.process import SpareProcesses, train_in_child
from .results import TuningError, metric_direction, trial_result

IN_PROCESS_ENV = "LAYERFORGE_TRIALS_IN_PROCESS"


class TrialFailed(Exception):
    """The trial's training failed; the trial is recorded as failed and the study goes on."""


class Interrupted(Exception):
    """The user stopped the study mid-trial; the trial is queued again."""


class Objective:
    """What Optuna calls for each trial: sample the values, train, return the best epoch's
    metric (or raise TrialFailed, Interrupted, or Optuna's TrialPruned)."""

    def __init__(self, doc: Document, settings: TrainingSettings, metric: str, folder: Path,
                 reporter: Any, stop_event: threading.Event | None,
                 in_child: bool | None = None) -> None:
        self.doc, self.settings, self.metric = doc, settings, metric
        if in_child is None:
            in_child = os.environ.get(IN_PROCESS_ENV, "") in ("", "0")
        self.processes = TrialProcesses() if in_child else None
        self.folder, self.reporter, self.stop_event = folder, reporter, stop_event
        self.names = doc.search_space.names(doc)
        # every trial starts from the document as it was when the study started, even if
        # the user goes on editing it while the study runs in the background
        self.records = to_records(doc)
        self.current: int | None = None

    def __call__(self, trial: Any) -> float:
        self.current = trial.number
        try:
            values = {name: suggest(trial, name, dim) for name, dim in self.names.items()}
        except ValueError as exc:  # Optuna refuses another range for a name it has seen
            raise TuningError(f"expected the search space that study "
                              f"'{trial.study.study_name}' was started with; received another "
                              f"one ({first_line(exc)}): choose another --study name") from None
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        run_dir = trial_run_dir(self.folder, trial.number).resolve()
        trial.set_user_attr("run_dir", str(run_dir))
        report(self.reporter, "on_trial_begin", trial.number, values)
        doc, settings = trial_document(self.records, self.doc.catalog, self.settings, values)
        watcher = TrialWatcher(trial, self.metric, self.reporter, self.stop_event,
                               settings.epochs)
        result = self.train(doc, settings, run_dir, watcher)
        return self.outcome(trial, result, watcher)

    def train(self, doc: Document, settings: TrainingSettings, run_dir: Path,
              watcher: TrialWatcher) -> Any:
        """The trial's run: in a child process, or here when trials run in process."""
        if self.processes is not None:
            return self.processes.train(doc, settings, run_dir, watcher)
        from ..training.fit import train  # lazy: fit.py imports Keras at its top

        return train(doc, settings, run_dir=run_dir, reporter=watcher,
                     stop_event=watcher.stop)

    def close(self) -> None:
        """The study is over: the process started ahead for a next trial goes."""
        if self.processes is not None:
            self.processes.close()

    def trial_ended(self, study: Any, trial: Any) -> None:
        report(self.reporter, "on_trial_end", trial_result(trial))

    def outcome(self, trial: Any, result: Any, watcher: TrialWatcher) -> float:
        import optuna  # lazy: Optuna only when a study is used

        if watcher.interrupted:
            raise Interrupted()
        if watcher.pruned:
            trial.set_user_attr("metrics", watcher.best_logs)
            raise optuna.TrialPruned(f"pruned after epoch {watcher.epochs}")
        if not result.ok:
            trial.set_user_attr("message", result.message)
            raise TrialFailed(result.message)
        values = [v for v in result.history.get(self.metric, []) if math.isfinite(v)]
        if not values:
            logged = ", ".join(result.history) or "nothing"
            message = (f"expected the run to log {self.metric} to compare trials on; received "
                       f"logs of {logged}")
            trial.set_user_attr("message", message)
            if self.metric not in result.history:  # not a bad run: no run logs it
                trial.set_user_attr("logged", list(result.history))
            raise TrialFailed(message)
        trial.set_user_attr("metrics", watcher.best_logs)
        # the metric is a multi-objective study's first objective
        return min(values) if trial.study.directions[0].name == "MINIMIZE" else max(values)


class TrialProcesses:
    """A study's training processes: each trial trains in its own child, which exits with
    everything TensorFlow kept; the next one is started as a trial begins, so that a
    trial following at once finds TensorFlow imported."""

    def __init__(self) -> None:
        self.pool = SpareProcesses()

    def train(self, doc: Document, settings: TrainingSettings, run_dir: Path,
              watcher: TrialWatcher) -> Any:
        # the first trial starts its own child (no warm-up: it trains at once); from then
        # on each trial starts the next one's
        self.pool.enabled = True
        return train_in_child(doc, settings, run_dir=run_dir, reporter=watcher,
                              stop_event=watcher.stop, pool=self.pool, start_next=True)

    def close(self) -> None:
        """Kill the process started for a trial that will not come."""
        self.pool.close()


def suggest(trial: Any, name: str, dim: Dimension) -> Any:
    if dim.kind == "choice":
        return trial.suggest_categorical(name, list(dim.choices))
    if dim.kind == "int":
        step = int(dim.step) if dim.step is not None else 1
        return trial.suggest_int(name, int(dim.low or 0), int(dim.high or 0), step=step,
                                 log=dim.log)
    return trial.suggest_float(name, float(dim.low or 0), float(dim.high or 0),
                               step=dim.step, log=dim.log)


def trial_run_dir(folder: Path, number: int) -> Path:
    """``trial-NNNN`` (``-2``... if a folder of that name is left from another storage)."""
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / f"trial-{number:04d}"
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def trial_document(records: dict[str, Any], catalog: Any, settings: TrainingSettings,
                   values: dict[str, Any]) -> tuple[Document, TrainingSettings]:
    """The project (as records) with the trial's values, and an accuracy metric on
    classification outputs so every trial's accuracy can be compared."""
    trial_doc = from_records(records, catalog=catalog)
    apply_values(trial_doc, values, "Trial values").redo(trial_doc)
    for node in trial_doc.graph.outputs():
        if target_kind(node.loss) != "floats" and not any("acc" in m for m in node.metrics):
            node.metrics = [*node.metrics, "accuracy"]
    trial_settings = copy.deepcopy(settings)
    trial_settings.batch_size = trial_doc.training.batch_size \
        if "batch_size" in values else settings.batch_size
    # A study compares trials by their metric; per-layer health would cost every trial its
    # measurement's set-up and tracing (0.3 s and more) for numbers no one looks at.
    trial_settings.health = False
    return trial_doc, trial_settings


class TrialWatcher:
    """Reports each epoch's metric to Optuna, stops the training when the pruner says so
    or the user stops the study, and keeps the best epoch's logs."""

    def __init__(self, trial: Any, metric: str, reporter: Any,
                 stop_event: threading.Event | None, epochs: int) -> None:
        self.trial, self.metric, self.reporter = trial, metric, reporter
        self.last_epoch = epochs - 1
        self.outer = stop_event
        self.stop = threading.Event()
        self.pruned = self.interrupted = False
        self.epochs = 0
        self.best: float | None = None
        self.best_logs: dict[str, float] = {}
        self.sign = -1.0 if metric_direction(metric) == "maximize" else 1.0

    def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
        if self.outer is not None and self.outer.is_set():
            self.interrupted = True
            self.stop.set()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs = epoch + 1
        floats = {k: float(v) for k, v in logs.items() if isinstance(v, int | float)}
        report(self.reporter, "on_epoch_end", self.trial.number, epoch, floats)
        value = floats.get(self.metric)
        if value is None or not math.isfinite(value):
            return
        if self.best is None or self.sign * value < self.sign * self.best:
            self.best, self.best_logs = value, floats
        self.trial.report(value, epoch)
        # after the last epoch the trial is done: pruning it would only lose its value
        if epoch < self.last_epoch and self.trial.should_prune():
            self.pruned = True
            self.stop.set()


def report(reporter: Any, method: str, *args: Any) -> None:
    """Call ``reporter.<method>(*args)`` when the reporter has that method."""
    fn = getattr(reporter, method, None)
    if fn is not None:
        fn(*args)
