"""Samples/s training from the window (GUI worker, Qt signals, live plot) vs a plain ``model.fit``.

For `imdb-conv1d` and `separable-convnet` on synthetic data: the main window (offscreen
QApplication, its event loop running) opens the template, shows the training dock with its
live matplotlib curves and trains through ``TrainingWorker`` exactly as the Train button
does; against ``model.fit`` on the same model and the same arrays. The two paths alternate
for a few rounds. Throughput counts epochs after the first (tracing excluded). On a shared
machine other processes only ever slow an epoch down, so each path's fastest epoch is its
cost; samples per CPU second of the whole process (median; the GUI thread's drawing counts
there) are printed beside, with the UI thread's share of that CPU. Also printed: how late a
10 ms UI timer fired during one more GUI run (p99 event-loop stall; the throughput runs go
without the timer, whose wake-ups are the bench's own) and how many batch signals the UI got.
Target: ratio >= 0.97.

    .venv/bin/python bench/bench_gui_training.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import keras
from bench_training import EpochClock, steady_rates
from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from layerforge.core.codegen.loader import build_and_compile
from layerforge.core.editing.settings_commands import SetTrainingSettings
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import DataSource, TrainingSettings
from layerforge.core.training.data import load_training_data

CASES = {"imdb-conv1d": ("review", 2048), "separable-convnet": ("image", 384)}
EPOCHS = 4
BATCH = 32
STALL_TICK_MS = 10


class StallMeter:
    """A 10 ms timer on the UI thread; lateness beyond its period is a stall."""

    def __init__(self) -> None:
        self.late_ms: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(STALL_TICK_MS)
        self.timer.timeout.connect(self.tick)

    def tick(self) -> None:
        now = time.perf_counter()
        self.late_ms.append(max(0.0, (now - self.last) * 1000 - STALL_TICK_MS))
        self.last = now

    def start(self) -> None:
        self.last = time.perf_counter()
        self.timer.start()


def gui_path(window: Any, name: str, settings: TrainingSettings, samples: int,
             measure_stalls: bool = False) -> tuple[list[tuple[float, float]], dict[str, Any]]:
    window.open_template(name)
    window.session.push(SetTrainingSettings(settings))
    counts = {"batches": 0}
    panel = window.training
    meter = StallMeter()
    loop = QEventLoop()
    panel.run_finished.connect(loop.quit)
    assert window.start_training(), "the panel refused to start"
    worker = panel.worker
    worker.batch_ended.connect(lambda *_a: counts.__setitem__("batches", counts["batches"] + 1))
    # UI thread CPU vs process CPU at each epoch end, on the UI thread: the steady-state
    # share leaves out the first epoch (opening the template, tracing, the first layout).
    cpu_marks: list[tuple[float, float]] = []
    worker.epoch_ended.connect(lambda *_a: cpu_marks.append((time.thread_time(),
                                                             time.process_time())))
    if measure_stalls:  # its 100 wake-ups a second are the bench's, not the app's
        meter.start()
    loop.exec()
    meter.timer.stop()
    (ui_0, all_0), (ui_1, all_1) = cpu_marks[0], cpu_marks[-1]
    panel.run_finished.disconnect(loop.quit)
    result = panel.result
    assert result.status == "completed", f"{name}: {result.status}: {result.message}"
    plot = panel.plot
    assert plot is not None and "loss" in plot.line_labels(), f"{name}: no live curve drawn"
    stats = {"batches": counts["batches"], "late_ms": meter.late_ms,
             "ui_share": (ui_1 - ui_0) / (all_1 - all_0), "draw_ms": plot.draw_seconds * 1000,
             "updates": (plot.full_draws, plot.blits)}
    return steady_rates(worker.epoch_times, samples), stats


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


def make_window(runs_dir: str) -> Any:
    os.environ["LAYERFORGE_UNSAVED_RUNS_DIR"] = runs_dir
    QCoreApplication.setOrganizationName("LayerForgeBench")
    QCoreApplication.setApplicationName("LayerForgeBench")
    from layerforge.gui import files
    from layerforge.gui.keras_loader import load_keras
    from layerforge.gui.main_window import MainWindow

    files.ask_save_changes = lambda parent, name: "discard"  # each round reopens the template

    load_keras()
    window = MainWindow(restore=False)
    window.resize(1400, 900)
    window.show()
    while not window.session.keras_ready:
        QCoreApplication.processEvents()
        time.sleep(0.01)
    return window


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    worst = float("inf")
    with tempfile.TemporaryDirectory() as runs_dir:
        window = make_window(runs_dir)
        for name, (input_name, samples) in CASES.items():
            settings = TrainingSettings(batch_size=BATCH, epochs=EPOCHS, validation_split=0,
                                        seed=0, data={input_name: DataSource(
                                            "synthetic", {"samples": samples})})
            gui: list[tuple[float, float]] = []
            plain: list[tuple[float, float]] = []
            batches, draw_ms, ui_share, updates = 0, 0.0, [], (0, 0)
            for round_ in range(args.rounds):  # alternate which path goes first
                if round_ % 2:
                    rates, stats = gui_path(window, name, settings, samples)
                    gui += rates
                plain += plain_fit(name, settings, samples)
                if not round_ % 2:
                    rates, stats = gui_path(window, name, settings, samples)
                    gui += rates
                batches += stats["batches"]
                draw_ms = max(draw_ms, stats["draw_ms"])
                updates = stats["updates"]  # counted since the window opened
                ui_share.append(stats["ui_share"])
            late = gui_path(window, name, settings, samples, measure_stalls=True)[1]["late_ms"]
            wall = max(a for a, _ in gui) / max(p for p, _ in plain)
            cpu = statistics.median(c for _, c in gui) / statistics.median(c for _, c in plain)
            worst = min(worst, wall)
            p99 = statistics.quantiles(late, n=100)[98] if len(late) > 1 else 0.0
            steps = args.rounds * EPOCHS * -(-samples // BATCH)
            print(f"{name}: fastest epoch: GUI path {max(a for a, _ in gui):.0f} samples/s, "
                  f"plain fit {max(p for p, _ in plain):.0f} samples/s, ratio {wall:.3f}; "
                  f"per CPU second (median): ratio {cpu:.3f}; {len(gui)} epochs each; "
                  f"UI stalls p99 {p99:.1f} ms; {batches} batch signals for {steps} batches; "
                  f"full plot draw {draw_ms:.0f} ms; plot updates so far: {updates[0]} full draws, "
                  f"{updates[1]} blits; UI thread's share of the process CPU after "
                  f"the first epoch "
                  f"{100 * statistics.median(ui_share):.1f}%", flush=True)
        window.close()
    del app
    verdict = "PASS" if worst >= 0.97 else "FAIL"
    print(f"lowest ratio {worst:.3f} (target >= 0.97): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
