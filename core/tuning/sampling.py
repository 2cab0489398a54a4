"""How a study picks each trial's values: the sampler and the pruner.

A seeded sampler is seeded again for each trial from ``(seed, trial number)``. Processes
that share a study and a ``--seed`` then still sample distinct values (each trial has its
own number, so its own seed) and no trial is trained twice, while one process with a fixed
seed draws the same values for the same trial numbers on every run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .results import TuningError

SAMPLERS = ("tpe", "random", "nsga2")  # TPE and NSGA-II sample multi-objective studies too
PRUNERS = ("median", "hyperband", "none")


def make_sampler(name: str, seed: int | None = None) -> Any:
    """The named Optuna sampler; with a seed, seeded per trial (:class:`TrialSeededSampler`)."""
    if name not in SAMPLERS:
        raise TuningError(f"expected a sampler among {', '.join(SAMPLERS)}; received {name!r}")
    if seed is None:
        return _sampler(name, None)
    return TrialSeededSampler(lambda trial_seed: _sampler(name, trial_seed), seed)


def _sampler(name: str, seed: int | None) -> Any:
    import optuna  # lazy: Optuna only when a study is used

    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(name: str, epochs: int) -> Any:
    import optuna  # lazy: Optuna only when a study is used

    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(epochs, 1))
    if name == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)


def trial_seed(seed: int, number: int) -> int:
    """A seed for one trial, from the study's seed and the trial's number (NumPy's way of
    deriving independent streams from several integers)."""
    return int(np.random.SeedSequence([abs(seed), number]).generate_state(1)[0])


class TrialSeededSampler:
    """An Optuna sampler (the methods of ``optuna.samplers.BaseSampler``) that makes a
    fresh sampler for each trial, seeded by :func:`trial_seed`.

    Optuna calls ``before_trial`` with the trial's number before it samples anything, so
    every value of a trial comes from that trial's own seed. TPE keeps no state between
    trials beyond its random generator: it reads the finished trials from the study each
    time, so a fresh one per trial samples as the long-lived one would.
    """

    def __init__(self, make: Callable[[int], Any], seed: int) -> None:
        self.make, self.seed = make, seed
        self.current = make(trial_seed(seed, 0))  # replaced before each trial

    def before_trial(self, study: Any, trial: Any) -> None:
        self.current = self.make(trial_seed(self.seed, trial.number))
        self.current.before_trial(study, trial)

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, Any]:
        return self.current.infer_relative_search_space(study, trial)

    def sample_relative(self, study: Any, trial: Any,
                        search_space: dict[str, Any]) -> dict[str, Any]:
        return self.current.sample_relative(study, trial, search_space)

    def sample_independent(self, study: Any, trial: Any, param_name: str,
                           param_distribution: Any) -> Any:
        return self.current.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Any, trial: Any, state: Any, values: Any) -> None:
        self.current.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        """Optuna reseeds before running trials in threads so they do not share a stream;
        each trial already has a seed of its own, and keeping it keeps runs reproducible."""

    def __str__(self) -> str:
        return f"{type(self.current).__name__} seeded per trial from {self.seed}"
