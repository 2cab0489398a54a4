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


def metric_direction(metric: str) -> str:
    return "maximize" if metric.endswith(MAXIMIZED_SUFFIXES) else "minimize"


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
