"""Train the document's model: ``fit`` with the project's settings, reported in plain Python.

The model is built by running the generated code (``codegen.loader``),
so the exported module is what ran. Progress goes to a *reporter* (any object
with the methods of :class:`Reporter`; missing methods are skipped) from a
Keras callback; the GUI wraps a reporter into Qt signals, the CLI draws a
progress bar. Whatever goes wrong (NaN loss, data that does not fit, out of
memory, any exception) is caught, recorded in the run folder and returned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import keras

from ..catalog.registries import outputs_name_error
from ..codegen.loader import load_generated
from ..codegen.model_code import generate
from ..document.document import Document
from ..document.records import from_records, to_records
from ..schema.errors import LayerForgeError, first_line
from ..schema.settings import CallbackSpec, TrainingSettings, check_callbacks, split_seed
from . import runs
from .callbacks import BestKeeper, finite, make_callback
from .data import TrainData, load_training_data
from .fine_tune import check_plan, phase_one_model, phase_two_note, start_phase_two
from .health_callback import health_callbacks
from .runs import RunResult  # defined there: a parent reads a child's result without Keras

FALLBACK_LOSS = "mse"


class Reporter(Protocol):
    """What ``train`` reports; every method is optional."""

    def on_train_begin(self, info: dict[str, Any]) -> None: ...
    def on_batch_end(self, step: int, logs: dict[str, float]) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None: ...
    def on_health(self, report: dict[str, Any]) -> None: ...  # see training.health
    def on_train_end(self, result: RunResult) -> None: ...


class _Failure(Exception):
    """A problem found while training that ends the run with a message (e.g. NaN loss)."""


# ------------------------------------------------------------------ the entry point
def train(doc: Document, settings: TrainingSettings | None = None, *,
          run_dir: str | os.PathLike[str], reporter: Any = None,
          stop_event: threading.Event | None = None) -> RunResult:
    """Train and record the run in ``run_dir``; never raises for a failed run. A
    KeyboardInterrupt ends the run as stopped (its best weights kept), then propagates."""
    settings = with_split_seed(settings or getattr(doc, "training", None) or TrainingSettings())
    folder = Path(run_dir)
    run = _Run(doc, settings, folder, reporter, stop_event)
    try:
        runs.start_run(folder, doc, settings)
        result = run.execute()
    except KeyboardInterrupt:
        _finish(RunResult("stopped", folder, run.history(), "interrupted before training",
                          device=run.device), reporter)
        raise
    except Exception as exc:  # the run folder records any failure
        result = RunResult("failed", folder, run.history(), describe_error(exc),
                           traceback.format_exc(), device=run.device)
    _finish(result, reporter)
    if run.interrupted:
        raise KeyboardInterrupt
    return result


def with_split_seed(settings: TrainingSettings) -> TrainingSettings:
    """The settings with the seed of the shuffle before the validation split fixed: drawn
    when none is set, so the run's settings.json can repeat the split."""
    if not settings.shuffle_split or split_seed(settings) is not None:
        return settings
    return dataclasses.replace(settings, split_seed=random.SystemRandom().randrange(2 ** 31))


def _finish(result: RunResult, reporter: Any) -> None:
    result.unrecorded = runs.record_finish(result.run_dir, result.status, result.message,
                                           result.traceback, device=result.device,
                                           warnings=result.warnings)
    _report(reporter, "on_train_end", result)


def describe_error(exc: BaseException) -> str:
    import tensorflow as tf  # lazy: fit imports Keras only; tf is needed for its errors

    if isinstance(exc, tf.errors.ResourceExhaustedError) or "out of memory" in str(exc).lower():
        return f"out of memory: lower the batch size or the model size ({first_line(exc, 500)})"
    if isinstance(exc, _Failure | LayerForgeError):  # messages written for the user
        return str(exc)
    return f"{type(exc).__name__}: {first_line(exc, 500)}"


def _report(reporter: Any, method: str, *args: Any) -> None:
    fn = getattr(reporter, method, None)
    if fn is not None:
        fn(*args)


# ------------------------------------------------------------------ one run
class _Run:
    def __init__(self, doc: Document, settings: TrainingSettings, folder: Path, reporter: Any,
                 stop_event: threading.Event | None) -> None:
        self.doc, self.settings, self.folder = doc, settings, folder
        self.reporter, self.stop_event = reporter, stop_event
        self.warnings: list[str] = []
        self.strategy: Any = None  # set for multi-worker runs, which need their own loop
        self.device = ""
        self.progress: _ProgressCallback | None = None
        self.module: Any = None  # the generated module: phase 2 compiles with it again
        self.interrupted = False  # a KeyboardInterrupt stopped fit

    def history(self) -> dict[str, list[float]]:
        return self.progress.history if self.progress is not None else {}

    def execute(self) -> RunResult:
        check_callbacks(self.settings.callbacks)
        problem = outputs_name_error(self.doc.catalog.registries, self.doc.graph.outputs())
        if problem:
            raise LayerForgeError(problem)
        strategy, self.device = choose_strategy()
        if "MultiWorker" in self.device:
            self.strategy = strategy
        check_plan(self.doc, self.settings.fine_tune, self.strategy is not None)
        if self.settings.seed is not None:
            keras.utils.set_random_seed(self.settings.seed)
        with _mixed_precision(self.settings.mixed_precision and "GPU" in self.device.upper()):
            with strategy.scope():
                self.module = load_generated(generate(self.trainable_doc()))
                model = phase_one_model(self.module, self.settings.fine_tune)
            data = load_training_data(self.doc, model, self.settings)
            return self.fit(model, data, self.device, strategy)

    def trainable_doc(self) -> Document:
        """The document, or a copy whose outputs without a loss get ``mse`` (a model
        without any loss cannot be fitted); the run folder's snapshot records the copy."""
        missing = [o for o in self.doc.graph.outputs() if not o.loss]
        if not missing:
            return self.doc
        copy = from_records(to_records(self.doc), catalog=self.doc.catalog)
        for node in copy.graph.outputs():
            if not node.loss:
                node.loss = FALLBACK_LOSS
        names = ", ".join(f"'{o.name}'" for o in missing)
        self.warnings.append(f"output {names} had no loss; trained with {FALLBACK_LOSS}")
        runs.start_run(self.folder, copy, self.settings)
        return copy

    def fit(self, model: Any, data: TrainData, device: str, strategy: Any) -> RunResult:
        progress = self.progress = _ProgressCallback(self, data, device)
        # health after progress: each epoch's on_health follows its on_epoch_end
        callbacks = [*self.callbacks(data), progress,
                     *health_callbacks(self.settings, data, self.folder, self.reporter,
                                       self.warnings)]
        s, note = self.settings, ""
        try:
            if self.strategy is not None and data.dataset is None:
                _fit_distributed(model, self.strategy, data, s, callbacks)
            else:
                arguments = data.fit_arguments(s.feed, s.batch_size, s.shuffle)
                model.fit(**arguments, epochs=s.epochs, callbacks=callbacks, verbose=0)
                plan = s.fine_tune
                if plan is not None and not (progress.stopped or progress.failure):
                    with strategy.scope():
                        note = phase_two_note(plan, start_phase_two(model, self.module, plan))
                    model.fit(**arguments, initial_epoch=s.epochs, epochs=s.epochs + plan.epochs,
                              callbacks=callbacks, verbose=0)
        except KeyboardInterrupt:  # Ctrl-C: a stop, keeping what the epochs so far earned
            self.interrupted = progress.stopped = True
        keeper = next((c for c in callbacks if isinstance(c, BestKeeper)), None)
        if keeper is not None:  # a stop before any epoch end keeps the current weights
            keeper.write(model, current_if_none=not progress.failure)
        if progress.failure:
            raise _Failure(progress.failure)
        status = "stopped" if progress.stopped else "completed"
        message = f"stopped after {progress.epochs} epoch(s)" if progress.stopped else note
        return RunResult(status, self.folder, progress.history, message, device=device,
                         warnings=self.warnings)

    def callbacks(self, data: TrainData) -> list[Any]:
        specs = list(self.settings.callbacks)
        if not any(s.kind == "ModelCheckpoint" for s in specs):
            specs.append(CallbackSpec("ModelCheckpoint"))  # every run keeps its best weights
        return [make_callback(s, self.folder, data) for s in specs]


def _fit_distributed(model: Any, strategy: Any, data: TrainData, s: TrainingSettings,
                     callbacks: list[Any]) -> None:
    """``fit`` for MultiWorkerMirroredStrategy, whose Keras 3 ``fit`` fails reducing its
    logs (keras-team/keras#20585): the same callbacks around Keras' own ``train_step``."""
    import tensorflow as tf  # lazy: only multi-worker runs use it directly

    train_ds, val_ds = data.as_datasets(s.feed, s.batch_size, s.shuffle, s.seed)
    workers = _worker_count(strategy)
    steps = max(1, int(train_ds.cardinality()) // workers)  # every worker runs as many steps
    _build_compiled_state(model, strategy, train_ds)
    run_step = _replicated(strategy, model.train_step, tf)
    run_test = _replicated(strategy, model.test_step, tf)
    batches = iter(strategy.experimental_distribute_dataset(train_ds.repeat()))
    hooks = keras.callbacks.CallbackList(callbacks, model=model, epochs=s.epochs, steps=steps,
                                         verbose=0)
    model.stop_training = False
    hooks.on_train_begin()
    for epoch in range(s.epochs):
        model.reset_metrics()
        hooks.on_epoch_begin(epoch)
        logs: dict[str, Any] = {}
        for step in range(steps):
            hooks.on_train_batch_begin(step)
            logs = _floats(run_step(next(batches)))
            hooks.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        if val_ds is not None:
            model.reset_metrics()
            val_logs: dict[str, float] = {}
            for batch in strategy.experimental_distribute_dataset(val_ds):
                val_logs = _floats(run_test(batch))
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end(logs)


def _replicated(strategy: Any, step: Any, tf: Any) -> Any:
    @tf.function
    def run(batch: Any) -> Any:
        logs = strategy.run(step, args=(batch,))
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in logs.items()}

    return run


def _build_compiled_state(model: Any, strategy: Any, train_ds: Any) -> None:
    """Create loss, metric and optimizer variables once, outside the replicated step."""
    x, y = next(iter(train_ds))
    with strategy.scope():
        y_pred = model(x, training=False)
        model.compute_loss(x=x, y=y, y_pred=y_pred)
        model.compute_metrics(x, y, y_pred)
        model.optimizer.build(model.trainable_variables)
    model.reset_metrics()


def _floats(logs: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in logs.items()}


# ------------------------------------------------------------------ reporting callback
class _ProgressCallback(keras.callbacks.Callback):
    """Turns Keras' hooks into reporter calls; checks Stop and NaN after every batch."""

    def __init__(self, run: _Run, data: TrainData, device: str) -> None:
        super().__init__()
        self.run, self.data, self.device = run, data, device
        self.history: dict[str, list[float]] = {}
        self.step = 0
        self.epoch = 0
        self.stopped = False
        self.failure = ""

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.step:  # phase 2 of a plan continues the same run
            return
        s = self.run.settings
        more = s.fine_tune.epochs if s.fine_tune is not None else 0
        info = {"epochs": s.epochs + more, "steps": self.params.get("steps"),
                "batch_size": s.batch_size, "samples": self.data.samples,
                "device": self.device, "run_dir": str(self.run.folder),
                "inputs": self.data.inputs, "outputs": self.data.outputs,
                "validation": self.data.has_validation, "warnings": list(self.run.warnings)}
        _report(self.run.reporter, "on_train_begin", info)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.step += 1
        logs = logs or {}
        loss = logs.get("loss")
        if loss is not None and not math.isfinite(loss):
            self.failure = (f"the loss became {loss} at epoch {self.epoch + 1}, batch {batch + 1}; "
                            "lower the learning rate or check the data for NaN or huge values")
            self.model.stop_training = True
            return
        _report(self.run.reporter, "on_batch_end", self.step, logs)
        event = self.run.stop_event
        if event is not None and event.is_set():
            self.stopped = True
            self.model.stop_training = True

    @property
    def epochs(self) -> int:
        return len(self.history.get("epoch", []))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.failure:
            return
        if not finite(self.model.get_weights()):
            self.failure = (f"the weights became NaN or Inf at epoch {epoch + 1}; lower the "
                            "learning rate or check the data for huge values")
            self.model.stop_training = True
            return
        logs = dict(logs or {})
        logs.setdefault("learning_rate", _learning_rate(self.model))
        self.history.setdefault("epoch", []).append(epoch + 1)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        runs.write_history(self.run.folder, self.history)
        _report(self.run.reporter, "on_epoch_end", epoch, logs)


def _learning_rate(model: Any) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


# ------------------------------------------------------------------ devices
_STRATEGY: list[Any] = []


def choose_strategy() -> tuple[Any, str]:
    """The distribution strategy and a description of the device(s).

    TF_CONFIG set: MultiWorkerMirroredStrategy; several GPUs: MirroredStrategy.
    """
    import tensorflow as tf  # lazy: fit imports Keras only; tf is needed for devices

    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
             for g in gpus]
    device = names[0] if names else "CPU"
    if os.environ.get("TF_CONFIG"):
        if not _STRATEGY:  # created once per process, before other collective ops
            _STRATEGY.append(tf.distribute.MultiWorkerMirroredStrategy())
        workers = _worker_count(_STRATEGY[0])
        return _STRATEGY[0], f"{device} x {workers} workers (MultiWorkerMirroredStrategy)"
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy(), \
            f"{len(gpus)} GPUs: {', '.join(names)} (MirroredStrategy)"
    return tf.distribute.get_strategy(), device


def _worker_count(strategy: Any) -> int:
    spec = strategy.cluster_resolver.cluster_spec()
    return sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs)


@contextlib.contextmanager
def _mixed_precision(enabled: bool) -> Iterator[None]:
    """mixed_float16 while the model is built and trained; the global policy is restored."""
    if not enabled:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
