"""The first epoch's per-output losses of a project's latest run: what the multi-output hint
(core/analysis/advice.py) compares. A run still going counts once its first epoch is in."""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..analysis.advice import first_epoch_losses
from .runs import list_runs


def latest_first_epoch_losses(folder: str | os.PathLike[str], output_names: Iterable[str]
                              ) -> dict[str, float]:
    """Each output's first-epoch loss in the newest run that logged them all ({} if none)."""
    names = list(output_names)
    for run in reversed(list_runs(folder)):
        losses = first_epoch_losses(run.history, names)
        if len(losses) == len(names):
            return losses
    return {}
