"""Measuring training health: a Keras callback that, at each epoch end, reads every layer's
weight, gradient and update norms, dead ReLU units and NaN/Inf outputs on one fixed sample
batch, then writes and reports the epoch's report (see ``health``).

The sample batch is cut once from the training data; the per-layer outputs come from one
sub-model built at train begin. One forward and one backward pass per epoch, whatever the
epoch's length. Nothing here ever stops a run: a measurement that fails turns health off
for the rest of the run (``HealthCallback.broken`` says why).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..codegen.portable import feed, string_tensors
from ..schema.settings import TrainingSettings
from .data import TrainData
from .health import append_health, health_report, layer_stats

SAMPLE_SIZE = 32
RELU_NAMES = ("relu", "relu6")


def health_callbacks(settings: TrainingSettings, data: TrainData, folder: Path,
                     reporter: Any) -> list[Any]:
    """The run's health callback, when the setting asks for one (by default)."""
    if not settings.health:
        return []
    return [HealthCallback(lambda: sample_batch(data, settings.feed), folder, reporter)]


def sample_batch(data: TrainData, how: str, size: int = SAMPLE_SIZE) -> tuple[Any, Any]:
    """The first ``size`` training samples as ``fit`` gets them: (inputs, targets)."""
    if data.dataset is not None:
        x, y = tuple(next(iter(data.dataset)))[:2]  # a third item would be sample weights
        return keras.tree.map_structure(lambda t: t[:size], (x, y))
    x = {name: a[:size] for name, a in data.x.items()}
    y = {name: a[:size] for name, a in data.y.items()}
    return feed(string_tensors(x), data.inputs, how), feed(y, data.outputs, how)


class HealthCallback(keras.callbacks.Callback):
    """Reports ``on_health(report)`` after each epoch's ``on_epoch_end`` and appends the
    report to the run folder's health.jsonl."""

    def __init__(self, sample: Any, folder: Path, reporter: Any) -> None:
        super().__init__()
        self.sample, self.folder, self.reporter = sample, folder, reporter
        self.probe: _Probe | None = None
        self.start: list[Any] = []
        self.broken = ""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Built again for phase 2 of a fine-tuning plan, whose trainable weights differ.
        self.probe = None
        if not self.broken:
            self._guard(lambda: setattr(self, "probe", _Probe(self.model, *self._sample())))

    def _sample(self) -> tuple[Any, Any]:
        if callable(self.sample):  # cut once, even across the two phases of a plan
            self.sample = self.sample()
        return self.sample  # type: ignore[no-any-return]

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.probe is not None:
            self._guard(lambda: setattr(self, "start", self.probe.snapshot()))  # type: ignore[union-attr]

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        probe, reports = self.probe, []
        if probe is None:
            return
        self._guard(lambda: reports.append(health_report(epoch, probe.measure(self.start))))
        if not reports:
            return
        self._guard(lambda: append_health(self.folder, reports[0]))
        report = getattr(self.reporter, "on_health", None)
        if report is not None:
            report(reports[0])

    def _guard(self, step: Any) -> None:
        try:
            step()
        except Exception as exc:  # health is a diagnosis: it never ends the run it watches
            self.broken = f"training health is off for this run: {type(exc).__name__}: {exc}"
            self.probe = None


class _Probe:
    """The measurement: the model, its sample batch and the sub-model tapping every layer."""

    def __init__(self, model: Any, x: Any, y: Any) -> None:
        self.model, self.x, self.y = model, x, y
        self.layers = list(model.layers)
        self.variables: list[Any] = []
        self.owned: list[list[int]] = []  # per layer: its indices in ``variables``
        for layer in self.layers:
            weights = list(layer.trainable_weights)
            self.owned.append(list(range(len(self.variables),
                                         len(self.variables) + len(weights))))
            self.variables += weights
        self.tap, self.outputs = _tap(model, self.layers)
        self.relu = [_is_relu(layer) for layer in self.layers]

    def snapshot(self) -> list[Any]:
        """The weights as they are now (tensors: the variables change, these do not)."""
        import tensorflow as tf  # lazy: as in measure

        return [tf.identity(tf.convert_to_tensor(v)) for v in self.variables]

    def measure(self, start: list[Any]) -> dict[str, dict[str, Any]]:
        import tensorflow as tf  # lazy: the gradient tape; fit imports Keras only

        with tf.GradientTape() as tape:
            if self.tap is not None:
                out = self.tap(self.x, training=False)
                pred, taps = out["pred"], out["layers"]
            else:
                pred, taps = self.model(self.x, training=False), []
            loss = self.model.compute_loss(x=self.x, y=self.y, y_pred=pred, training=False)
        grads = tape.gradient(loss, self.variables) if self.variables else []
        w = _squares(self.variables)
        g = _squares([tf.zeros(()) if d is None else tf.convert_to_tensor(d) for d in grads])
        started = len(start) == len(self.variables)  # else the epoch's snapshot failed
        s = _squares(start) if started else np.zeros_like(w)
        d = _squares([keras.ops.subtract(v, a) for v, a in zip(self.variables, start,
                                                               strict=False)]) \
            if started else np.zeros_like(w)
        outputs = self._output_stats(taps)
        result = {}
        for i, layer in enumerate(self.layers):
            idx = self.owned[i]
            dead, nonfinite = outputs.get(i, (None, 0))
            if not idx:
                result[layer.name] = layer_stats(dead_fraction=dead, nonfinite=nonfinite)
                continue
            start_norm = math.sqrt(s[idx].sum())
            result[layer.name] = layer_stats(
                math.sqrt(w[idx].sum()), math.sqrt(g[idx].sum()),
                math.sqrt(d[idx].sum()) / start_norm if start_norm > 0 else None,
                dead, nonfinite)
        return result

    def _output_stats(self, taps: list[Any]) -> dict[int, tuple[float | None, int]]:
        """Per layer index: (dead fraction for ReLUs, else None; NaN/Inf count)."""
        import tensorflow as tf  # lazy: as in measure

        stats = {}
        for (i, first, count) in self.outputs:
            tensors = [t for t in taps[first:first + count]
                       if isinstance(t, tf.Tensor) and t.dtype.is_floating]
            nonfinite = sum(int(tf.math.count_nonzero(~tf.math.is_finite(t))) for t in tensors)
            dead = None
            if self.relu[i] and tensors and len(tensors[0].shape) >= 2:
                t = tensors[0]
                zero = tf.reduce_all(tf.equal(t, 0), axis=list(range(len(t.shape) - 1)))
                dead = float(tf.reduce_mean(tf.cast(zero, tf.float32)))
            stats[i] = (dead, nonfinite)
        return stats


def _squares(tensors: list[Any]) -> np.ndarray:
    """Each tensor's sum of squares, in float64 (a float32 sum overflows before the weights
    do)."""
    import tensorflow as tf  # lazy: as in measure

    if not tensors:
        return np.zeros(0)
    sums = [tf.reduce_sum(tf.square(tf.cast(t, tf.float64))) for t in tensors]
    return np.asarray(tf.stack(sums))


def _tap(model: Any, layers: list[Any]) -> tuple[Any, list[tuple[int, int, int]]]:
    """A sub-model returning ``{"pred": the model's outputs, "layers": every layer's output
    flattened}`` and, per layer with an output, (layer index, first, count) into "layers";
    (None, []) when the graph cannot be tapped (e.g. a subclassed model)."""
    try:
        inputs, pred, found = _layer_outputs(model, layers)
        flat: list[Any] = []
        where = []
        for i, layer in enumerate(layers):
            if layer.name in found:
                tensors = keras.tree.flatten(found[layer.name])
                where.append((i, len(flat), len(tensors)))
                flat += tensors
        return keras.Model(inputs, {"pred": pred, "layers": flat}), where
    except Exception:  # the weights and gradients are still measured
        return None, []


def _layer_outputs(model: Any, layers: list[Any]) -> tuple[Any, Any, dict[str, Any]]:
    """(inputs, outputs, {layer name: its output}) of a graph computing the model. A nested
    model's ``output`` is that of its own inner graph, so a model holding one is traced
    again, with the same layers (weights shared), keeping each layer's first output."""
    if not any(isinstance(layer, keras.Model) for layer in layers):
        return model.input, model.output, {layer.name: layer.output for layer in layers}
    found: dict[str, Any] = {}

    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        out = layer(*args, **kwargs)
        found.setdefault(layer.name, out)
        return out

    clone = keras.models.clone_model(model, clone_function=lambda layer: layer,
                                     call_function=call)
    for layer in clone.layers:
        if layer.name not in found and isinstance(layer, keras.layers.InputLayer):
            found[layer.name] = layer.output
    return clone.input, clone.output, found


def _is_relu(layer: Any) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        return not float(getattr(layer, "negative_slope", 0) or 0)
    return getattr(getattr(layer, "activation", None), "__name__", "") in RELU_NAMES
