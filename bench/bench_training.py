"""Samples/s of the app's training path vs a plain ``model.fit``, side by side in one run.

For `imdb-conv1d` and `separable-convnet` on synthetic data: ``core.training.train`` in a
background thread with a reporter that does what the GUI's live plot does per batch
(smooth the loss, hand the point to the UI thread through a queue, which a simulated event
loop drains every 10 ms), against ``model.fit`` on the same model and the same arrays.
Throughput counts epochs after the first (tracing excluded); the two paths alternate. On a
shared machine other processes only ever slow an epoch down, so each path's fastest epoch
is its cost; samples per CPU second of the process (median), which other processes
barely disturb, are printed beside. Target: ratio >= 0.97.

    .venv/bin/python bench/bench_training.py [--rounds N]
"""

from __future__ import annotations

import argparse
import itertools
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from layerforge.core.codegen.loader import build_and_compile
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import DataSource, TrainingSettings
from layerforge.core.training.data import load_training_data
from layerforge.core.training.fit import train

CASES = {"imdb-conv1d": ("review", 2048), "separable-convnet": ("image", 384)}
EPOCHS = 4
BATCH = 32


class LivePlotReporter:
    """The GUI's per-batch work: smoothing plus a cross-thread hand-off."""

    def __init__(self, points: queue.Queue[tuple[int, float]]) -> None:
        self.points = points
        self.smoothed = 0.0
        self.epoch_times: list[float] = []

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.epoch_times = [_now()]

    def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
        self.smoothed = 0.9 * self.smoothed + 0.1 * logs["loss"]
        self.points.put((step, self.smoothed))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch_times.append(_now())


class EpochClock(keras.callbacks.Callback):
    """Epoch timestamps for plain fit (no batch hooks, so Keras' loop is untouched)."""

    def on_train_begin(self, logs: Any = None) -> None:
        self.epoch_times = [_now()]

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.epoch_times.append(_now())


def _now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def steady_rates(epoch_times: list[tuple[float, float]], samples: int
                 ) -> list[tuple[float, float]]:
    """(samples per wall second, samples per CPU second of this process) of each epoch
    after the first (which traces the step function)."""
    return [(samples / (b[0] - a[0]), samples / (b[1] - a[1]))
            for a, b in itertools.pairwise(epoch_times[1:])]


def app_path(name: str, settings: TrainingSettings, samples: int
             ) -> list[tuple[float, float]]:
    points: queue.Queue[tuple[int, float]] = queue.Queue()
    reporter = LivePlotReporter(points)
    with tempfile.TemporaryDirectory() as run_dir:
        worker = threading.Thread(target=train, args=(load_template(name), settings),
                                  kwargs={"run_dir": run_dir, "reporter": reporter})
        worker.start()
        drawn = 0
        while worker.is_alive():  # the UI thread: drain the points, as a timer slot would
            time.sleep(0.01)
            while not points.empty():
                points.get_nowait()
                drawn += 1
        worker.join()
    assert drawn > 0, f"{name}: no point reached the UI thread"
    return steady_rates(reporter.epoch_times, samples)


def plain_fit(name: str, settings: TrainingSettings, samples: int
              ) -> list[tuple[float, float]]:
    doc = load_template(name)
    keras.utils.set_random_seed(0)
    model = build_and_compile(doc)
    data = load_training_data(doc, model, settings)
    clock = EpochClock()
    model.fit(data.x[data.inputs[0]], data.y[data.outputs[0]], batch_size=BATCH, epochs=EPOCHS,
              shuffle=True, verbose=0, callbacks=[clock])
    return steady_rates(clock.epoch_times, samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    worst = float("inf")
    for name, (input_name, samples) in CASES.items():
        settings = TrainingSettings(batch_size=BATCH, epochs=EPOCHS, validation_split=0, seed=0,
                                    data={input_name: DataSource("synthetic",
                                                                 {"samples": samples})})
        app: list[tuple[float, float]] = []
        plain: list[tuple[float, float]] = []
        for round_ in range(args.rounds):  # alternate which path goes first
            if round_ % 2:
                app += app_path(name, settings, samples)
            plain += plain_fit(name, settings, samples)
            if not round_ % 2:
                app += app_path(name, settings, samples)
        wall = max(a for a, _ in app) / max(p for p, _ in plain)
        cpu = statistics.median(c for _, c in app) / statistics.median(c for _, c in plain)
        worst = min(worst, wall)
        print(f"{name}: fastest epoch: app path {max(a for a, _ in app):.0f} samples/s, plain "
              f"fit {max(p for p, _ in plain):.0f} samples/s, ratio {wall:.3f}; per CPU "
              f"second (median): ratio {cpu:.3f}; {len(app)} epochs each")
    verdict = "PASS" if worst >= 0.97 else "FAIL"
    print(f"lowest ratio {worst:.3f} (target >= 0.97): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
