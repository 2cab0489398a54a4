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
from ..schema.errors import first_line
from ..schema.settings import TrainingSettings
from .data import TrainData
from .health import append_health, health_report, layer_stats

SAMPLE_SIZE = 32
RELU_NAMES = ("relu", "relu6")


def health_callbacks(settings: TrainingSettings, data: TrainData, folder: Path,
                     reporter: Any, warnings: list[str] | None = None) -> list[Any]:
    """The run's health callback, when the setting asks for one (by default); why health
    stopped, if it does, is added to ``warnings`` (the run's)."""
    if not settings.health:
        return []
    return [HealthCallback(lambda: sample_batch(data, settings.feed), folder, reporter,
                           warnings)]


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

    def __init__(self, sample: Any, folder: Path, reporter: Any,
                 warnings: list[str] | None = None) -> None:
        super().__init__()
        self.sample, self.folder, self.reporter = sample, folder, reporter
        self.warnings = warnings if warnings is not None else []
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
            self.broken = f"training health stopped: {type(exc).__name__}: {first_line(exc)}"
            self.warnings.append(self.broken)
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
        self.step: Any = None  # the measurement, a tf.function once first called

    def snapshot(self) -> list[np.ndarray]:
        """The weights as they are now (copies: the variables change, these do not)."""
        return [np.array(keras.ops.convert_to_numpy(v), copy=True) for v in self.variables]

    def measure(self, start: list[np.ndarray]) -> dict[str, dict[str, Any]]:
        """Every layer's statistics now; ``start``: the snapshot of the epoch's start ([]
        when there is none: no update ratios)."""
        grads, dead, bad = self._run()
        weights = [keras.ops.convert_to_numpy(v) for v in self.variables]
        if self.step != self._tensors and not (np.isfinite(_squares(weights)).all()
                                               and np.isfinite(_squares(grads)).all()
                                               and bad.sum() == 0):
            # Graphs fuse MatMul/Conv + bias + ReLU into one op whose max(NaN, 0) is 0, so a
            # layer with NaN weights can output zeros there: eager ops say where NaN starts.
            grads, dead, bad = _numpy(self._tensors(self.x, self.y))
        w, g = _squares(weights), _squares(grads)
        started = len(start) == len(weights)
        s = _squares(start) if started else w
        d = _squares([a - b for a, b in zip(weights, start, strict=False)]) if started else w
        outputs = {i: (None if dead[k] < 0 else float(dead[k]), int(bad[k]))
                   for k, (i, _, _) in enumerate(self.outputs)}
        result = {}
        for i, layer in enumerate(self.layers):
            idx = self.owned[i]
            dead_fraction, nonfinite = outputs.get(i, (None, 0))
            if not idx:
                result[layer.name] = layer_stats(dead_fraction=dead_fraction,
                                                 nonfinite=nonfinite)
                continue
            start_norm = math.sqrt(s[idx].sum())
            ratio = math.sqrt(d[idx].sum()) / start_norm if started and start_norm > 0 else None
            result[layer.name] = layer_stats(math.sqrt(w[idx].sum()), math.sqrt(g[idx].sum()),
                                             ratio, dead_fraction, nonfinite)
        return result

    def _run(self) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        import tensorflow as tf  # lazy: as in _tensors

        if self.step is None:
            # One graph per run, traced at the first epoch end: a few ms per epoch after,
            # where the same eager ops cost tens.
            self.step = tf.function(self._tensors)
        try:
            return _numpy(self.step(self.x, self.y))
        except Exception:  # a model the graph cannot trace is measured eagerly
            if self.step == self._tensors:
                raise
            self.step = self._tensors
            return _numpy(self.step(self.x, self.y))

    def _tensors(self, x: Any, y: Any) -> tuple[list[Any], Any, Any]:
        """(the loss gradient of each variable; per tapped layer its dead fraction (-1: not
        a ReLU) and its output's NaN/Inf count)."""
        import tensorflow as tf  # lazy: the gradient tape; fit imports Keras only

        with tf.GradientTape() as tape:
            if self.tap is not None:
                out = self.tap(x, training=False)
                pred, taps = out["pred"], out["layers"]
            else:
                pred, taps = self.model(x, training=False), []
            loss = self.model.compute_loss(x=x, y=y, y_pred=pred, training=False)
        grads = tape.gradient(loss, self.variables) if self.variables else []
        grads = [tf.zeros(()) if d is None else tf.convert_to_tensor(d) for d in grads]
        dead, bad = [], []
        for (i, first, count) in self.outputs:
            tensors = [t for t in taps[first:first + count] if t.dtype.is_floating]
            bad.append(tf.add_n([tf.math.count_nonzero(~tf.math.is_finite(t))
                                 for t in tensors]) if tensors else tf.constant(0, tf.int64))
            fraction = tf.constant(-1.0)
            if self.relu[i] and tensors and len(tensors[0].shape) >= 2:
                t = tensors[0]
                zero = tf.reduce_all(tf.equal(t, 0), axis=list(range(len(t.shape) - 1)))
                fraction = tf.reduce_mean(tf.cast(zero, tf.float32))
            dead.append(fraction)
        return (grads, tf.stack(dead) if dead else tf.zeros((0,)),
                tf.stack(bad) if bad else tf.zeros((0,), tf.int64))


def _numpy(values: tuple[list[Any], Any, Any]) -> tuple[list[np.ndarray], np.ndarray,
                                                          np.ndarray]:
    grads, dead, bad = values
    return [np.asarray(g) for g in grads], np.asarray(dead), np.asarray(bad)


def _squares(arrays: list[np.ndarray]) -> np.ndarray:
    """Each array's sum of squares, in float64 (a float32 sum overflows before the weights
    do)."""
    return np.array([np.square(np.asarray(a, dtype=np.float64)).sum() for a in arrays])


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
