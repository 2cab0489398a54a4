"""Run ``core.training.train`` in a child process, relayed by a thread as Qt signals.

The worker trains a snapshot of the document (edits made while it trains do not
race with it). Keras reports every batch; the reporter smooths every batch's logs
(exponential moving average) on the training thread, where that costs
microseconds, and hands the UI thread at most one batch signal per ``interval``
(10 Hz by default), so the GUI's share of the training time stays small.
"""

from __future__ import annotations

import copy
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from PySide6.QtCore import QObject, Signal

from layerforge.core.document.document import Document
from layerforge.core.schema.settings import TrainingSettings

from ..background import BackgroundJob

BATCH_INTERVAL_S = 0.1  # at most 10 batch signals per second
SMOOTHING = 0.9  # weight of the past in the per-batch moving average


class _Reporter:
    """The reporter ``train`` calls on the training thread."""

    def __init__(self, worker: TrainingWorker, interval: float) -> None:
        self.worker, self.interval = worker, interval
        self.smoothed: dict[str, float] = {}
        self.last_emit = 0.0
        self.pending: tuple[int, dict[str, float]] | None = None

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.worker.epoch_times.append((time.perf_counter(), time.process_time()))
        self.worker.train_begun.emit(dict(info))

    def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
        smoothed = self.smoothed
        for key, value in logs.items():
            old = smoothed.get(key)
            smoothed[key] = value if old is None else SMOOTHING * old + (1 - SMOOTHING) * value
        now = time.perf_counter()
        if now - self.last_emit >= self.interval:
            self.last_emit = now
            self.pending = None
            self.worker.batch_ended.emit(step, dict(logs), dict(smoothed))
        else:
            self.pending = (step, logs)

    def flush(self) -> None:
        """The last batch always reaches the UI (the progress bar ends where training did)."""
        if self.pending is not None:
            step, logs = self.pending
            self.pending = None
            self.last_emit = time.perf_counter()
            self.worker.batch_ended.emit(step, dict(logs), dict(self.smoothed))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.worker.epoch_times.append((time.perf_counter(), time.process_time()))
        self.flush()
        self.worker.epoch_ended.emit(epoch, dict(logs))

    def on_health(self, report: dict[str, Any]) -> None:
        """Once per epoch, after ``on_epoch_end``: per-layer weight/gradient norms, update
        ratio, dead units, NaN/Inf counts and the flags (``core.training.health``)."""
        self.worker.health_reported.emit(dict(report))

    def on_train_end(self, result: Any) -> None:
        self.flush()


class TrainingWorker(BackgroundJob):
    """One training run in a Python thread; its reports arrive as queued Qt signals.

    ``train_begun(info)``: the dict of ``core.training`` (epochs, steps, batch_size,
    samples, device, run_dir, inputs, outputs, validation, warnings);
    ``batch_ended(step, logs, smoothed)``: the latest batch's logs and the moving
    average of every batch so far (``step`` counts batches over all epochs, from 1);
    ``epoch_ended(epoch, logs)``: 0-based epoch, epoch logs with ``val_`` keys;
    ``health_reported(report)``: the epoch's training-health report (after epoch_ended):
    ``{"epoch", "layers": {keras name: {weight_norm, grad_norm, update_ratio,
    dead_fraction, nonfinite}}, "flags": [{"layer", "kind", "message"}]}``;
    ``finished(result)``: the ``RunResult`` (status completed, stopped or failed).
    """

    train_begun = Signal(object)
    batch_ended = Signal(int, object, object)
    epoch_ended = Signal(int, object)
    health_reported = Signal(object)
    finished = Signal(object)
    thread_name = "layerforge-training"

    def __init__(self, doc: Document, settings: TrainingSettings | None, run_dir: Path,
                 interval: float = BATCH_INTERVAL_S, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc.copy()
        self.settings = copy.deepcopy(settings if settings is not None else doc.training)
        self.run_dir = Path(run_dir)
        self.interval = interval
        # (wall, process CPU) seconds at train begin and at each epoch end: throughput
        self.epoch_times: list[tuple[float, float]] = []
        self.result: Any = None

    def _run(self) -> None:
        reporter = _Reporter(self, self.interval)
        try:
            # A child process per run: TensorFlow never frees what each trained model
            # leaves behind, so an app training in its own process grows run by run.
            from layerforge.core.training.process import train_in_child

            result = train_in_child(self.doc, self.settings, run_dir=self.run_dir,
                                    reporter=reporter, stop_event=self.stop_event)
        except BaseException as exc:  # train() records failures itself; this is a last resort
            result = _failed(self.run_dir, exc)
        self.result = result
        self.finished.emit(result)


def _failed(run_dir: Path, exc: BaseException) -> Any:
    fields = {"message": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    try:
        from layerforge.core.training.fit import RunResult
    except Exception:  # TensorFlow itself failed to load: the same fields, plainly
        return SimpleNamespace(status="failed", run_dir=run_dir, history={}, device="",
                               warnings=[], ok=False, epochs=0, checkpoint=None, **fields)
    return RunResult("failed", run_dir, **fields)
