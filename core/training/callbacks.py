"""The callbacks a run gets from its settings: Keras' own, the best-weights keeper and the
activation logger (whose source the exported module also holds)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import keras

from ..codegen.activation_logger import ActivationLogger
from ..schema.settings import CallbackSpec, monitored_params
from . import runs
from .data import TrainData


def make_callback(spec: CallbackSpec, folder: Path, data: TrainData) -> Any:
    params = monitored_params(spec, data.has_validation)
    if spec.kind == "ModelCheckpoint":
        return BestKeeper(params.get("monitor", "val_loss"), params.get("mode", "auto"),
                          params.get("initial_value_threshold"))
    if spec.kind == "TensorBoard":
        return keras.callbacks.TensorBoard(log_dir=str(folder / runs.TENSORBOARD), **params)
    if spec.kind == "CSVLogger":
        return keras.callbacks.CSVLogger(str(folder / "log.csv"), **params)
    if spec.kind == "ActivationLogger":
        return ActivationLogger(data.activation_inputs(), str(folder / runs.ACTIVATIONS), **params)
    return getattr(keras.callbacks, spec.kind)(**params)


class BestKeeper(keras.callbacks.Callback):
    """ModelCheckpoint with save_best_only, as the app runs it: the best weights are kept
    in memory per epoch (a copy, ~1 ms) and written as ``best.keras`` when training ends,
    so a run does not pay a model save per epoch. The exported module uses Keras'
    ModelCheckpoint with the same monitor and mode."""

    def __init__(self, monitor: str = "val_loss", mode: str = "auto",
                 initial_value_threshold: float | None = None) -> None:
        super().__init__()
        self.monitor = monitor
        if mode == "auto":
            mode = "max" if monitor.endswith(("acc", "accuracy", "auc")) else "min"
        self.sign = 1.0 if mode == "min" else -1.0
        self.best = math.inf if initial_value_threshold is None \
            else self.sign * initial_value_threshold
        self.weights: list[Any] | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        if self.sign * value < self.best:
            self.best = self.sign * value
            self.weights = self.model.get_weights()

    def write(self, model: Any, path: Path, current_if_none: bool) -> None:
        if self.weights is None and not current_if_none:
            return
        if self.weights is not None:
            model.set_weights(self.weights)
        model.save(path)
