"""Hyperparameter search over the project's search space with Optuna (book 7.3.2).

Each trial copies the document, writes its sampled values into the copy, and
trains it with :func:`core.training.train`: a run folder per trial under the
study folder (``<project>.runs/study-<name>/trial-NNNN``), like any run. The
validation metric of every epoch is reported to Optuna so a pruner can stop an
unpromising trial early. The objective is the best epoch's value of the metric
(``val_loss`` by default, minimised; accuracy-like metrics are maximised).

Storage: an SQLite file beside the project by default (``<stem>.optuna.db``),
or any SQLAlchemy URL (PostgreSQL...), so many processes on many machines join
one study. ``n_trials`` is the study's budget, shared by every process: a
process stops once the study holds that many finished trials (processes that
start trials at the same moment may each run one more). A trial whose process
died is never lost: a dead process on this machine is seen at once (its pid is
recorded), one elsewhere when its heartbeat stops; either way the trial is
marked failed and queued again with the same parameters under a new number.
The first trial of a new study trains the document's own values ("defaults").
"""

from __future__ import annotations

import copy
import math
import os
import socket
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..document.document import Document
from ..document.records import from_records, to_records
from ..document.search_space import Dimension, apply_values, space_errors
from ..schema.errors import LayerForgeError
from ..schema.settings import TrainingSettings
from ..schema.values import process_alive
from ..training.data import target_kind

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")
HEARTBEAT_S = 10
GRACE_S = 30
OPEN_ATTEMPTS = 4
DB_SUFFIX = ".optuna.db"
FINISHED = ("COMPLETE", "PRUNED", "FAIL")
MAXIMIZED_SUFFIXES = ("acc", "accuracy", "auc", "precision", "recall")


class TuningError(LayerForgeError):
    """A study that cannot run (empty search space, no validation data, bad storage...)."""


class _TrialFailed(Exception):
    """The trial's training failed; the trial is recorded as failed and the study goes on."""


class _Interrupted(Exception):
    """The user stopped the study mid-trial; the trial is queued again."""


@dataclass
class TrialResult:
    number: int
    state: str  # complete, pruned, fail, running, waiting
    value: float | None
    params: dict[str, Any]
    run_dir: str | None = None
    duration: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)  # the best epoch's logs
    defaults: bool = False  # the document's own values
    retry_of: int | None = None  # the number of the dead trial this one re-runs
    message: str = ""


@dataclass
class StudySummary:
    study_name: str
    storage: str
    metric: str
    direction: str  # minimize or maximize
    trials: list[TrialResult] = field(default_factory=list)
    stopped: bool = False  # the user stopped it before the budget was spent

    @property
    def finished(self) -> list[TrialResult]:
        retried = {t.retry_of for t in self.trials if t.retry_of is not None}
        return [t for t in self.trials
                if t.state in ("complete", "pruned", "fail") and t.number not in retried]

    @property
    def best(self) -> TrialResult | None:
        done = [t for t in self.trials if t.state == "complete" and t.value is not None]
        if not done:
            return None
        sign = 1 if self.direction == "minimize" else -1
        return min(done, key=lambda t: (sign * (t.value or 0.0), t.number))

    @property
    def defaults(self) -> TrialResult | None:
        return next((t for t in self.trials if t.defaults and t.state == "complete"), None)


# ------------------------------------------------------------------ storage
def default_storage(project: str | os.PathLike[str]) -> str:
    """``sqlite:///.../<stem>.optuna.db`` beside the project (a template: current folder)."""
    path = Path(project)
    return f"sqlite:///{path.with_name(path.stem + DB_SUFFIX).resolve()}"


def study_folder(project: str | os.PathLike[str], study_name: str) -> Path:
    from ..training.runs import runs_folder

    return runs_folder(project) / f"study-{study_name}"


def open_storage(url: str, heartbeat_interval: int = HEARTBEAT_S,
                 grace_period: int = GRACE_S) -> Any:
    """An Optuna RDB storage whose trials send heartbeats; a trial whose heartbeat stops
    for ``grace_period`` seconds is failed and queued again with the same parameters."""
    import optuna

    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine["connect_args"] = {"timeout": 60}  # several processes write one file
    for attempt in range(OPEN_ATTEMPTS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=engine, heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period, heartbeat_stale_trial_callback=optuna.storages
                    .RetryHeartbeatStaleTrialCallback())
            except ImportError as exc:
                raise TuningError(f"the storage {url!r} needs a database driver that is not "
                                  f"installed ({_first_line(exc)}); for PostgreSQL: pip install "
                                  "'psycopg[binary]'") from None
            except Exception as exc:  # SQLAlchemy reports bad URLs and dead servers many ways
                # processes opening a new database together race to create its tables
                if attempt + 1 < OPEN_ATTEMPTS and _creation_race(exc):
                    time.sleep(0.5 + attempt)
                    continue
                raise TuningError(f"expected a storage URL that SQLAlchemy can open (e.g. "
                                  f"sqlite:///study.db or postgresql://user@host/db); received "
                                  f"{url!r} ({type(exc).__name__}: {_first_line(exc)})") from None
    raise AssertionError("unreachable")


def _creation_race(exc: BaseException) -> bool:
    """A duplicate table or type: another process created the tables at the same moment."""
    from sqlalchemy import exc as sa

    return isinstance(exc, sa.IntegrityError | sa.ProgrammingError)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def metric_direction(metric: str) -> str:
    return "maximize" if metric.endswith(MAXIMIZED_SUFFIXES) else "minimize"


# ------------------------------------------------------------------ the study
def run_study(doc: Document, *, n_trials: int | None = 10, timeout: float | None = None,
              storage: str | None = None, study_name: str | None = None,
              sampler: str = "tpe", pruner: str = "median",
              settings: TrainingSettings | None = None,
              project: str | os.PathLike[str] = "project.json",
              metric: str = "val_loss", direction: str | None = None, seed: int | None = None,
              reporter: Any = None, stop_event: threading.Event | None = None,
              heartbeat_interval: int = HEARTBEAT_S, grace_period: int = GRACE_S
              ) -> StudySummary:
    """Run (or join, or resume) a study until it holds ``n_trials`` finished trials, the
    ``timeout`` (seconds) passes or ``stop_event`` is set; returns every trial of the study.

    ``reporter`` gets, when it has them: on_study_begin(info), on_trial_begin(number,
    params), on_epoch_end(number, epoch, logs), on_trial_end(TrialResult),
    on_study_end(StudySummary).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    settings = copy.deepcopy(settings or doc.training)
    _check_ready(doc, settings, metric, n_trials, timeout, sampler, pruner)
    direction = direction or metric_direction(metric)
    study_name = study_name or Path(project).stem
    storage = storage or default_storage(project)
    study = optuna.create_study(
        storage=open_storage(storage, heartbeat_interval, grace_period), study_name=study_name,
        direction=direction, load_if_exists=True, sampler=make_sampler(sampler, seed),
        pruner=make_pruner(pruner, settings.epochs))
    _check_direction(study, direction, study_name)
    objective = _Objective(doc, settings, metric, study_folder(project, study_name), reporter,
                           stop_event)
    _enqueue_defaults(study, doc)
    _report(reporter, "on_study_begin", {"study_name": study_name, "storage": storage,
                                         "metric": metric, "direction": direction,
                                         "n_trials": n_trials, "folder": str(objective.folder)})
    stopped = _optimize(study, objective, n_trials, timeout, stop_event)
    summary = summarize(study, storage, metric, stopped)
    _report(reporter, "on_study_end", summary)
    return summary


def _check_ready(doc: Document, settings: TrainingSettings, metric: str, n_trials: int | None,
                 timeout: float | None, sampler: str, pruner: str) -> None:
    if not len(doc.search_space):
        raise TuningError("expected a search space: mark at least one layer parameter or "
                          "training setting as a search dimension; received none")
    problems = space_errors(doc)
    if problems:
        raise TuningError(f"the search space does not fit the model: {problems[0]}")
    if n_trials is None and timeout is None:
        raise TuningError("expected a trial count and/or a time budget; received neither")
    if n_trials is not None and n_trials < 1:
        raise TuningError(f"expected a positive number of trials; received {n_trials}")
    if sampler not in SAMPLERS:
        raise TuningError(f"expected a sampler among {', '.join(SAMPLERS)}; received {sampler!r}")
    if pruner not in PRUNERS:
        raise TuningError(f"expected a pruner among {', '.join(PRUNERS)}; received {pruner!r}")
    has_validation = bool(settings.validation_data) or settings.validation_split > 0
    if metric.startswith("val_") and not has_validation:
        raise TuningError(f"trials are compared on {metric}: expected validation data "
                          "(validation_split > 0 or a validation source); received none")


def _check_direction(study: Any, direction: str, name: str) -> None:
    existing = study.direction.name.lower()
    if existing != direction:
        raise TuningError(f"study '{name}' already exists and is set to {existing}; received "
                          f"{direction} (choose another --study name or metric)")


def make_sampler(name: str, seed: int | None = None) -> Any:
    import optuna

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(name: str, epochs: int) -> Any:
    import optuna

    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    if name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


def _enqueue_defaults(study: Any, doc: Document) -> None:
    """A new study first trains the document's own values, so the best trial can be
    compared with (and is never worse than) the model as designed."""
    if study.get_trials(deepcopy=False):
        return
    names = doc.search_space.names(doc)
    values = {n: v for n, v in default_values(doc).items()
              if names[n].kind != "choice" or v in names[n].choices}
    study.enqueue_trial(values, user_attrs={"defaults": True}, skip_if_exists=True)


def default_values(doc: Document) -> dict[str, Any]:
    """The document's values of the searched parameters; an unset learning rate is the
    optimizer's own default."""
    values = doc.search_space.current_values(doc)
    if "learning_rate" in values and values["learning_rate"] is None:
        import keras

        optimizer = keras.optimizers.get(doc.compile.optimizer)
        values["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    return values


def _optimize(study: Any, objective: _Objective, n_trials: int | None, timeout: float | None,
              stop_event: threading.Event | None) -> bool:
    """Run trials one at a time until the study's budget is spent; True if stopped."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if stop_event is not None and stop_event.is_set():
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        requeue_dead_trials(study)
        done, running, waiting = trial_counts(study)
        if n_trials is not None and not waiting and done + running >= n_trials:
            return False
        try:
            study.optimize(objective, n_trials=1, catch=(_TrialFailed,),
                           callbacks=[objective.trial_ended])
        except _Interrupted:
            _requeue(study, objective.current)
            return True
        except KeyboardInterrupt:
            _requeue(study, objective.current)
            raise


def trial_counts(study: Any) -> tuple[int, int, int]:
    """(finished, running, waiting) trials; a dead trial that was queued again counts once,
    as its re-run."""
    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    states = [t.state.name for t in trials if t.number not in retried]
    return (sum(s in FINISHED for s in states), states.count("RUNNING"),
            states.count("WAITING"))


def requeue_dead_trials(study: Any) -> list[int]:
    """Queue again the running trials of processes on this machine that no longer exist
    (killed mid-trial); other machines' dead trials are found by their heartbeat."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    found = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        dead = trial.user_attrs.get("host") == host and isinstance(pid, int) \
            and not process_alive(pid)
        if dead and _requeue(study, trial.number, "its process ended mid-trial"):
            found.append(trial.number)
    return found


def _requeue(study: Any, number: int | None, why: str = "the study was stopped") -> bool:
    """Fail the trial (if still running) and queue a copy with the same parameters."""
    import optuna
    from optuna.trial import TrialState

    if number is None:
        return False
    trial = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    if trial is None or trial.state not in (TrialState.RUNNING, TrialState.FAIL):
        return False
    storage = study._storage  # Optuna's public API has no "fail this trial" call
    if trial.state == TrialState.RUNNING:
        try:
            if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                return False
        except optuna.exceptions.UpdateFinishedTrialError:
            return False  # another process got there first
    retried = {n for t in study.get_trials(deepcopy=False)
               for n in t.system_attrs.get("retry_history", [])}
    if number in retried:
        return False
    _mark_run_folder(trial, f"{why}; its parameters were queued again")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.RetryHeartbeatStaleTrialCallback()(study, storage.get_trial(
            trial._trial_id))
    return True


def _mark_run_folder(trial: Any, message: str) -> None:
    from ..training import runs

    folder = trial.user_attrs.get("run_dir")
    if folder and (Path(folder) / "status.json").exists():
        runs.finish_run(Path(folder), "failed", message)


# ------------------------------------------------------------------ one trial
class _Objective:
    def __init__(self, doc: Document, settings: TrainingSettings, metric: str, folder: Path,
                 reporter: Any, stop_event: threading.Event | None) -> None:
        self.doc, self.settings, self.metric = doc, settings, metric
        self.folder, self.reporter, self.stop_event = folder, reporter, stop_event
        self.names = doc.search_space.names(doc)
        # every trial starts from the document as it was when the study started, even if
        # the user goes on editing it while the study runs in the background
        self.records = to_records(doc)
        self.current: int | None = None

    def __call__(self, trial: Any) -> float:
        from ..training.fit import train

        self.current = trial.number
        try:
            values = {name: suggest(trial, name, dim) for name, dim in self.names.items()}
        except ValueError as exc:  # Optuna refuses another range for a name it has seen
            raise TuningError(f"study '{trial.study.study_name}' searched these parameters "
                              f"differently before ({_first_line(exc)}); expected the same "
                              "search space: choose another --study name") from None
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        run_dir = trial_run_dir(self.folder, trial.number).resolve()
        trial.set_user_attr("run_dir", str(run_dir))
        _report(self.reporter, "on_trial_begin", trial.number, values)
        doc, settings = trial_document(self.records, self.doc.catalog, self.settings, values)
        watcher = _TrialWatcher(trial, self.metric, self.reporter, self.stop_event,
                                settings.epochs)
        result = train(doc, settings, run_dir=run_dir, reporter=watcher,
                       stop_event=watcher.stop)
        return self.outcome(trial, result, watcher)

    def trial_ended(self, study: Any, trial: Any) -> None:
        _report(self.reporter, "on_trial_end", trial_result(trial))

    def outcome(self, trial: Any, result: Any, watcher: _TrialWatcher) -> float:
        import optuna

        if watcher.interrupted:
            raise _Interrupted()
        if watcher.pruned:
            trial.set_user_attr("metrics", watcher.best_logs)
            raise optuna.TrialPruned(f"pruned after epoch {watcher.epochs}")
        if not result.ok:
            trial.set_user_attr("message", result.message)
            raise _TrialFailed(result.message)
        values = [v for v in result.history.get(self.metric, []) if math.isfinite(v)]
        if not values:
            message = f"the run logged no {self.metric} (it has {', '.join(result.history)})"
            trial.set_user_attr("message", message)
            raise _TrialFailed(message)
        trial.set_user_attr("metrics", watcher.best_logs)
        return min(values) if trial.study.direction.name == "MINIMIZE" else max(values)


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
    return trial_doc, trial_settings


class _TrialWatcher:
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
        _report(self.reporter, "on_epoch_end", self.trial.number, epoch, floats)
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


def _report(reporter: Any, method: str, *args: Any) -> None:
    fn = getattr(reporter, method, None)
    if fn is not None:
        fn(*args)


# ------------------------------------------------------------------ reading a study
def summarize(study: Any, storage: str, metric: str, stopped: bool = False) -> StudySummary:
    return StudySummary(study.study_name, storage, metric, study.direction.name.lower(),
                        [trial_result(t) for t in study.get_trials(deepcopy=False)], stopped)


def trial_result(trial: Any) -> TrialResult:
    duration = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
    return TrialResult(trial.number, trial.state.name.lower(), trial.value, dict(trial.params),
                       trial.user_attrs.get("run_dir"), duration,
                       dict(trial.user_attrs.get("metrics", {})),
                       bool(trial.user_attrs.get("defaults")),
                       trial.system_attrs.get("failed_trial"),
                       str(trial.user_attrs.get("message", "")))


def load_summary(storage: str, study_name: str, metric: str = "val_loss") -> StudySummary:
    """Every trial of a stored study (the GUI's trials table reads this while it runs)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    except KeyError:
        raise TuningError(f"expected a study named {study_name!r} in {storage}; it has "
                          f"{', '.join(optuna.get_all_study_names(storage)) or 'none'}") from None
    return summarize(study, storage, metric)


def param_importances(storage: str, study_name: str) -> dict[str, float]:
    """Each searched parameter's importance (fANOVA), from the study's completed trials."""
    import optuna

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage))
    completed = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(completed) < 2:
        return {}
    return dict(optuna.importance.get_param_importances(study))


def best_run_dirs(summary: StudySummary, count: int) -> list[Path]:
    """The run folders of the ``count`` best completed trials (to build an ensemble)."""
    sign = 1 if summary.direction == "minimize" else -1
    done = sorted((t for t in summary.trials if t.state == "complete" and t.run_dir),
                  key=lambda t: (sign * (t.value or 0.0), t.number))
    return [Path(t.run_dir) for t in done[:count] if t.run_dir]


def accuracy_key(metrics: dict[str, float]) -> str | None:
    """The validation accuracy logged by a trial (``val_accuracy``, ``val_<out>_accuracy``)."""
    return next((k for k in metrics if k.startswith("val_") and k.endswith(("acc", "accuracy"))),
                None)

