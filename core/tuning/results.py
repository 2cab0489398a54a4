"""What a study holds, read back: one record per trial, the study's summary, its best
trials, and the direction a metric is optimised in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..schema.errors import LayerForgeError

MAXIMIZED_SUFFIXES = ("acc", "accuracy", "auc", "precision", "recall")


class TuningError(LayerForgeError):
    """A study that cannot run (empty search space, no validation data, bad storage...)."""


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
    values: list[float] | None = None  # every objective's value (the metric's first)


@dataclass
class StudySummary:
    study_name: str
    storage: str
    metric: str
    direction: str  # minimize or maximize
    trials: list[TrialResult] = field(default_factory=list)
    stopped: bool = False  # the user stopped it before the budget was spent
    objectives: list[str] = field(default_factory=list)  # the metric first, then costs
    directions: list[str] = field(default_factory=list)
    front_numbers: list[int] = field(default_factory=list)  # Optuna's best_trials

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    @property
    def front(self) -> list[TrialResult]:
        """The Pareto front of a multi-objective study (Optuna's ``best_trials``), in
        trial order."""
        numbers = set(self.front_numbers)
        return [t for t in self.trials if t.number in numbers]

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


def metric_direction(metric: str) -> str:
    return "maximize" if metric.endswith(MAXIMIZED_SUFFIXES) else "minimize"


def summarize(study: Any, storage: str, metric: str, stopped: bool = False) -> StudySummary:
    """The study's trials; a multi-objective study's metric is its first objective (its
    objectives are named by Optuna's metric names)."""
    trials = [trial_result(t) for t in study.get_trials(deepcopy=False)]
    directions = [d.name.lower() for d in study.directions]
    if len(directions) == 1:
        return StudySummary(study.study_name, storage, metric, directions[0], trials, stopped,
                            [metric], directions)
    names = list(study.metric_names or [metric, *(f"objective {i}"
                                                  for i in range(1, len(directions)))])
    front = sorted(t.number for t in study.best_trials)
    return StudySummary(study.study_name, storage, names[0], directions[0], trials, stopped,
                        names, directions, front)


def trial_result(trial: Any) -> TrialResult:
    duration = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        duration = (trial.datetime_complete - trial.datetime_start).total_seconds()
    values = list(trial.values) if trial.values is not None else None
    return TrialResult(trial.number, trial.state.name.lower(), values[0] if values else None,
                       dict(trial.params),
                       trial.user_attrs.get("run_dir"), duration,
                       dict(trial.user_attrs.get("metrics", {})),
                       bool(trial.user_attrs.get("defaults")),
                       trial.system_attrs.get("failed_trial"),
                       str(trial.user_attrs.get("message", "")), values)


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
