"""The callbacks a run gets from its settings: Keras' own, the best-weights keeper and the
activation logger (whose source the exported module also holds)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..codegen.activation_logger import ActivationLogger
from ..schema.settings import CallbackSpec, checkpoint_file, monitored_params
from . import runs
from .data import TrainData


def make_callback(spec: CallbackSpec, folder: Path, data: TrainData) -> Any:
    params = monitored_params(spec, data.has_validation)
    if spec.kind == "ModelCheckpoint":
        path = folder / checkpoint_file(params)
        params.setdefault("save_best_only", True)  # a run keeps its best weights
        if params.get("save_freq", "epoch") != "epoch":  # every N batches: Keras' own
            return keras.callbacks.ModelCheckpoint(str(path), **params)
        return BestKeeper(path, **params)
    if spec.kind == "TensorBoard":
        return keras.callbacks.TensorBoard(log_dir=str(folder / runs.TENSORBOARD), **params)
    if spec.kind == "CSVLogger":
        return keras.callbacks.CSVLogger(str(folder / "log.csv"), **params)
    if spec.kind == "ActivationLogger":
        return ActivationLogger(data.activation_inputs(), str(folder / runs.ACTIVATIONS), **params)
    return getattr(keras.callbacks, spec.kind)(**params)


def finite(weights: list[Any]) -> bool:
    return all(np.isfinite(w).all() for w in weights if np.issubdtype(w.dtype, np.floating))


class BestKeeper(keras.callbacks.Callback):
    """ModelCheckpoint (per epoch) as the app runs it: the weights to keep (the best by
    ``monitor`` with save_best_only, else the latest) are copied in memory per epoch (~1 ms)
    and written once when training ends, so a run does not pay a model save per epoch.
    Weights holding NaN or Inf are never kept. The exported module passes the same
    options to Keras' ModelCheckpoint."""

    def __init__(self, path: Path, monitor: str = "val_loss", mode: str = "auto",
                 save_best_only: bool = True, save_weights_only: bool = False,
                 initial_value_threshold: float | None = None, verbose: int = 0,
                 save_freq: str = "epoch") -> None:
        super().__init__()
        self.path, self.monitor = path, monitor
        self.best_only, self.weights_only, self.verbose = save_best_only, save_weights_only, \
            verbose
        if mode == "auto":
            mode = "max" if monitor.endswith(("acc", "accuracy", "auc")) else "min"
        self.sign = 1.0 if mode == "min" else -1.0
        self.best = math.inf if initial_value_threshold is None \
            else self.sign * initial_value_threshold
        self.weights: list[Any] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.best_only:
            value = (logs or {}).get(self.monitor)
            if value is None or not math.isfinite(value) or self.sign * value >= self.best:
                return
        weights = self.model.get_weights()
        if not finite(weights):
            return
        if self.best_only:
            self.best = self.sign * value
        self.weights = weights

    def write(self, model: Any, current_if_none: bool) -> None:
        """Write the kept weights; none kept: the current ones when asked and finite."""
        if self.weights is None:
            if not current_if_none or not finite(model.get_weights()):
                return
        else:
            model.set_weights(self.weights)
        if self.weights_only:
            model.save_weights(self.path)
        else:
            model.save(self.path)
