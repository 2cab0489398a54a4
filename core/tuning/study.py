"""Hyperparameter search over the project's search space with Optuna (book 7.3.2).

:func:`run_study` runs, joins or resumes a study: each trial trains a copy of the
document with the trial's values (:mod:`.trial`), in a storage many processes may share
(:mod:`.storage`); every trial is read back as a :class:`.results.TrialResult`. The
objective is the best epoch's value of the metric (``val_loss`` by default, minimised;
accuracy-like metrics are maximised), alone or with the model's costs (``objectives``: a
multi-objective study, :mod:`.objectives`, whose best trials are a Pareto front).
``n_trials`` is the study's budget, shared by every process: a process stops once the
study holds that many finished trials (processes that start trials at the same moment may
each run one more). The first trial of a new study trains the document's own values
("defaults").
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..document.document import Document
from ..document.space_checks import space_errors
from ..schema.settings import TrainingSettings
from .objectives import (
    NO_PRUNING,
    MultiObjective,
    check_objectives,
    name_objectives,
    objective_directions,
    study_objectives,
)
from .results import StudySummary, TuningError, metric_direction, summarize
from .sampling import PRUNERS, SAMPLERS, make_pruner, make_sampler
from .storage import (
    GRACE_S,
    HEARTBEAT_S,
    default_storage,
    open_storage,
    requeue_dead_trials,
    requeue_trial,
    study_folder,
    trial_counts,
)
from .trial import Interrupted, Objective, TrialFailed, report

DIRECTIONS = ("minimize", "maximize")


def run_study(doc: Document, *, n_trials: int | None = 10, timeout: float | None = None,
              storage: str | None = None, study_name: str | None = None,
              sampler: str = "tpe", pruner: str = "median",
              settings: TrainingSettings | None = None,
              project: str | os.PathLike[str] = "project.json",
              metric: str = "val_loss", direction: str | None = None, seed: int | None = None,
              objectives: Sequence[str] | None = None, reporter: Any = None,
              stop_event: threading.Event | None = None,
              heartbeat_interval: int = HEARTBEAT_S, grace_period: int = GRACE_S,
              in_process: bool = False) -> StudySummary:
    """Run (or join, or resume) a study until it holds ``n_trials`` finished trials, the
    ``timeout`` (seconds) passes or ``stop_event`` is set; returns every trial of the study.
    ``objectives`` (e.g. ``["val_loss", "params"]``) makes a multi-objective study: the one
    training metric among them replaces ``metric``. Each trial trains in a child process
    (:mod:`.trial`) unless ``in_process``.

    ``reporter`` gets, when it has them: on_study_begin(info), on_trial_begin(number,
    params), on_epoch_end(number, epoch, logs), on_trial_end(TrialResult),
    on_study_end(StudySummary).
    """
    import optuna  # lazy: Optuna only when a study is used

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    settings = copy.deepcopy(settings or doc.training)
    names = study_objectives(metric, objectives)
    metric = names[0]
    _check_ready(doc, settings, metric, n_trials, timeout, sampler, pruner)
    direction = direction or metric_direction(metric)
    if direction not in DIRECTIONS:
        raise TuningError(f"expected a direction among {', '.join(DIRECTIONS)}; received "
                          f"{direction!r}")
    directions = objective_directions(names, direction)
    multi = len(names) > 1
    study_name = study_name or Path(project).stem
    storage = storage or default_storage(project)
    study, created = _create_or_join(
        open_storage(storage, heartbeat_interval, grace_period), study_name, directions,
        make_sampler(sampler, seed), make_pruner("none" if multi else pruner, settings.epochs))
    check_objectives(study, study_name, names, directions)
    if not multi:
        _check_direction(study, direction, study_name, metric)
    elif created:
        name_objectives(study, names)
    objective = Objective(doc, settings, metric, study_folder(project, study_name), reporter,
                          stop_event, in_child=False if in_process else None)
    if created:
        _enqueue_defaults(study, doc)
    info = {"study_name": study_name, "storage": storage, "metric": metric,
            "direction": direction, "n_trials": n_trials, "folder": str(objective.folder)}
    if multi:
        info.update(objectives=names, directions=directions, note=NO_PRUNING)
    report(reporter, "on_study_begin", info)
    try:
        stopped = _optimize(study, MultiObjective(objective, names) if multi else objective,
                            n_trials, timeout, stop_event)
    finally:
        objective.close()
    summary = summarize(study, storage, metric, stopped)
    report(reporter, "on_study_end", summary)
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
    if timeout is not None and timeout <= 0:
        raise TuningError(f"expected a positive time budget in seconds; received {timeout:g}")
    if sampler not in SAMPLERS:
        raise TuningError(f"expected a sampler among {', '.join(SAMPLERS)}; received {sampler!r}")
    if pruner not in PRUNERS:
        raise TuningError(f"expected a pruner among {', '.join(PRUNERS)}; received {pruner!r}")
    has_validation = bool(settings.validation_data) or settings.validation_split > 0
    if metric.startswith("val_") and not has_validation:
        raise TuningError(f"trials are compared on {metric}: expected validation data "
                          "(validation_split > 0 or a validation source); received none")


def _create_or_join(storage: Any, name: str, directions: list[str], sampler: Any,
                    pruner: Any) -> tuple[Any, bool]:
    """The study, and whether this process created it (Optuna's own test of a unique
    name: of processes starting together, exactly one creates it and the others load it)."""
    import optuna  # lazy: Optuna only when a study is used

    try:
        return optuna.create_study(storage=storage, study_name=name, directions=directions,
                                   sampler=sampler, pruner=pruner), True
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler,
                                 pruner=pruner), False


def _check_direction(study: Any, direction: str, name: str, metric: str) -> None:
    existing = study.direction.name.lower()
    if existing != direction:
        raise TuningError(f"study '{name}' already exists and {existing}s its metric: "
                          f"expected a metric to {existing}; received {metric}, which is "
                          f"{direction}d (choose another --study name or metric)")


def _enqueue_defaults(study: Any, doc: Document) -> None:
    """A new study first trains the document's own values, so the best trial can be
    compared with (and is never worse than) the model as designed. Only the process that
    created the study queues them: processes joining it at the same moment would each see
    it empty and queue them again."""
    names = doc.search_space.names(doc)
    values = {n: v for n, v in default_values(doc).items()
              if names[n].kind != "choice" or v in names[n].choices}
    study.enqueue_trial(values, user_attrs={"defaults": True}, skip_if_exists=True)


def default_values(doc: Document) -> dict[str, Any]:
    """The document's values of the searched parameters; an unset learning rate is the
    optimizer's own default."""
    values = doc.search_space.current_values(doc)
    if "learning_rate" in values and values["learning_rate"] is None:
        import keras  # lazy: Keras only when the optimizer's default is needed

        optimizer = keras.optimizers.get(doc.compile.optimizer)
        values["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    return values


def _optimize(study: Any, objective: Objective | MultiObjective, n_trials: int | None,
              timeout: float | None, stop_event: threading.Event | None) -> bool:
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
            study.optimize(objective, n_trials=1, catch=(TrialFailed,),
                           callbacks=[objective.trial_ended])
        except Interrupted:
            requeue_trial(study, objective.current)
            return True
        except KeyboardInterrupt:
            requeue_trial(study, objective.current)
            raise
