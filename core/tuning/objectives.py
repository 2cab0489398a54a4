"""What a study optimises: one training metric, alone or together with the model's costs.

A multi-objective study minimises (or maximises) the metric a trial's training logs
(``val_loss``, ``val_accuracy``...) together with costs computed from the trial's document:
``params`` (the parameter count of the live pass, as the summary shows it), ``flops`` (FLOPs
per sample, :mod:`core.analysis.cost`) and ``latency`` (the median milliseconds of an
inference batch of 32, measured in the study's process after the trial trains: it builds the
model there, and on a busy machine it is as noisy as the machine). Optuna keeps
every trial's values; its ``best_trials`` is the Pareto front (the trials no other trial
beats on every objective). The metric always comes first among a study's objectives, then
the costs in the order asked for. Optuna cannot prune a multi-objective study (its trials
cannot report intermediate values), so such a study runs every trial to its last epoch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from ..analysis.cost import model_cost
from ..analysis.shapes import ShapeEngine
from ..document.document import Document
from ..schema.errors import LayerForgeError
from ..training.latency import measure_latency
from .results import TuningError, metric_direction
from .trial import Objective, TrialFailed, trial_document


def parameter_count(doc: Document) -> float:
    """Weights of the trial's model, counted by the live pass (Keras builds each layer)."""
    count = ShapeEngine(doc).total_params()
    if count is None:
        raise TrialFailed("expected the trial's model to have known shapes to count its "
                          "parameters; received a model whose shapes are unknown")
    return float(count)


def flops_count(doc: Document) -> float:
    """FLOPs per sample of the trial's model; a model with uncountable layers cannot be
    placed on the front (a lower bound would flatter it)."""
    cost = model_cost(ShapeEngine(doc))
    if not cost.known:
        raise TrialFailed(f"expected every layer's FLOPs to be countable to compare trials on "
                          f"flops; received layers without a count: "
                          f"{', '.join(sorted(set(cost.unknown)))}")
    return float(cost.flops)


def latency_ms(doc: Document) -> float:
    """Median milliseconds of an inference batch of 32 of the trial's model, measured here."""
    try:
        return float(measure_latency(doc, batch_size=LATENCY_BATCH)["median_ms"])
    except LayerForgeError as exc:
        raise TrialFailed(f"could not measure the trial's latency: {exc}") from None


LATENCY_BATCH = 32
# The costs a study can minimise beside the metric, each computed from a trial's document.
COSTS: dict[str, Callable[[Document], float]] = {"params": parameter_count, "flops": flops_count,
                                                 "latency": latency_ms}
NO_PRUNING = ("pruning is off: Optuna cannot prune a multi-objective study, so every trial "
              "trains all its epochs")


def study_objectives(metric: str, objectives: Sequence[str] | None) -> list[str]:
    """The study's objectives, the metric first: ``[metric]`` when none are given; else the
    one training metric among ``objectives`` then its costs (each once)."""
    if not objectives:
        return [metric]
    names = [name.strip() for name in objectives]
    metrics = [n for n in names if n not in COSTS]
    if len(metrics) != 1 or any(not n for n in names):
        raise TuningError(f"expected one training metric (e.g. val_loss, val_accuracy) among "
                          f"the objectives, with any of {', '.join(COSTS)}; received "
                          f"{', '.join(repr(n) for n in names)}")
    costs = list(dict.fromkeys(n for n in names if n in COSTS))
    return [metrics[0], *costs]


def objective_directions(objectives: Sequence[str], direction: str | None = None) -> list[str]:
    """minimize or maximize per objective: the metric's own (or ``direction``), costs
    minimised."""
    first = direction or metric_direction(objectives[0])
    return [first, *("minimize" for _ in objectives[1:])]


def check_objectives(study: Any, name: str, objectives: Sequence[str],
                     directions: Sequence[str]) -> None:
    """A study joined (or resumed) must optimise what it was created for."""
    existing = [d.name.lower() for d in study.directions]
    stored = stored_objectives(study)
    if len(existing) == 1 and len(directions) == 1:
        return  # a single metric's direction is checked as it always was
    if existing == list(directions) and (stored is None or stored == list(objectives)):
        return
    had = (", ".join(f"{d} {n}" for d, n in zip(existing, stored, strict=True)) if stored
           else f"{len(existing)} objective(s) ({', '.join(existing)})")
    asked = ", ".join(f"{d} {n}" for d, n in zip(directions, objectives, strict=True))
    raise TuningError(f"study '{name}' already exists and optimises {had}: expected the same "
                      f"objectives; received {asked} (choose another --study name or the "
                      "study's objectives)")


def stored_objectives(study: Any) -> list[str] | None:
    """The objective names a multi-objective study was created with (Optuna's metric
    names, which optuna-dashboard shows too), or None."""
    names = getattr(study, "metric_names", None)
    return list(names) if names else None


def name_objectives(study: Any, objectives: Sequence[str]) -> None:
    import optuna  # lazy: Optuna only when a study is used

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(list(objectives))


class MetricNotLogged(TuningError):
    """The study's metric is not among the values a trial's training logs."""


class MultiObjective:
    """What Optuna calls for each trial of a multi-objective study: the trial trained as
    in a single-objective study (its best epoch's metric), then its costs, computed from
    the trial's document."""

    def __init__(self, objective: Objective, objectives: Sequence[str]) -> None:
        self.objective, self.objectives = objective, list(objectives)

    def __call__(self, trial: Any) -> tuple[float, ...]:
        try:
            value = self.objective(NoPruningTrial(trial))
        except TrialFailed:
            logged = trial.user_attrs.get("logged")
            if logged is not None:  # every trial would fail the same way: stop at once
                raise MetricNotLogged(
                    f"expected an objective the training logs; received {self.objective.metric}"
                    f", and the runs log {', '.join(logged) or 'nothing'}") from None
            raise
        doc, _ = trial_document(self.objective.records, self.objective.doc.catalog,
                                self.objective.settings, dict(trial.params))
        try:
            costs = [COSTS[name](doc) for name in self.objectives[1:]]
        except TrialFailed as exc:
            trial.set_user_attr("message", str(exc))
            raise
        trial.set_user_attr("costs", dict(zip(self.objectives[1:], costs, strict=True)))
        return (value, *costs)

    def trial_ended(self, study: Any, trial: Any) -> None:
        self.objective.trial_ended(study, trial)

    @property
    def current(self) -> int | None:
        return self.objective.current


class NoPruningTrial:
    """A trial of a multi-objective study as the training sees it: Optuna refuses
    intermediate reports for such studies, so they are dropped and it never prunes."""

    def __init__(self, trial: Any) -> None:
        self._trial = trial

    def report(self, value: float, step: int) -> None:
        pass

    def should_prune(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)
