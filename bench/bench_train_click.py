"""Train click to the first batch point drawn on the live chart, with and without a spare.

The real main window (offscreen) opens `sequential-mlp` as the app does: Keras loads in
the background and, once it has, a training process is started ahead (the spare:
TensorFlow imported, Keras warmed up). After the window has been open 10 s the bench
clicks Train on the toolbar and times the click to the first per-batch point drawn on
the Training dock's chart, then clicks Stop. Five such runs, each after 10 s more (the
next spare starts when a run ends); then five runs with no spare (a child process
started at the click, importing TensorFlow: what every run did before). Prints the
median of each, every run's time, whether the spare was ready at the click, the longest
UI stall between click and first point, and the ratio. Target: median <= 2 s with a spare.

    .venv/bin/python bench/bench_train_click.py [--runs N] [--wait S]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

# Training children are spawned: they import this module again as ``__mp_main__``, so
# everything heavy happens in main(), never at import.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TEMPLATE = "sequential-mlp"
TARGET_S = 2.0
POLL_MS = 5
RUN_TIMEOUT_S = 180.0
KERAS_TIMEOUT_S = 120.0
COLD_PAUSE_S = 3.0  # the last child's TensorFlow teardown ends before the next click


def wait_for(predicate: Any, timeout_s: float) -> bool:
    """Run the event loop until ``predicate()`` holds; False when the time is up."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, POLL_MS)
        time.sleep(POLL_MS / 1000)
    return True


def first_batch_drawn(window: Any) -> bool:
    """A per-batch point of the current run is on the chart (LivePlot sets a line's data
    and draws it in one call, so a line with data is a drawn line)."""
    plot = window.training.plot
    line = plot.line("loss", per_batch=True) if plot is not None else None
    return (line is not None and len(line.get_xdata()) > 0
            and plot._generation == window.training.plot_data.generation)


def open_window(runs_dir: str) -> Any:
    from PySide6.QtCore import QCoreApplication

    os.environ["LAYERFORGE_UNSAVED_RUNS_DIR"] = runs_dir
    QCoreApplication.setOrganizationName("LayerForgeBench")
    QCoreApplication.setApplicationName("LayerForgeBench")
    from layerforge.gui.main_window import MainWindow

    window = MainWindow(restore=False, spare_process=True)  # as `layerforge gui` opens it
    window.resize(1400, 900)
    assert window.open_template(TEMPLATE)
    window.show()
    return window


def click_train(window: Any) -> tuple[float, float]:
    """Click Train, wait for the first point; (seconds to it, longest UI stall in ms).
    Then Stop, and wait for the run to end."""
    from bench_gui_training import StallMeter  # imports Keras: loaded by the window already
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QToolBar

    button = window.findChild(QToolBar, "mainToolbar").widgetForAction(window.act_train)
    meter = StallMeter()
    meter.start()
    start = time.perf_counter()
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    assert wait_for(lambda: first_batch_drawn(window), RUN_TIMEOUT_S), "no batch point drawn"
    took = time.perf_counter() - start
    meter.timer.stop()
    window.training.stop_training()
    assert wait_for(lambda: not window.training.is_running(), RUN_TIMEOUT_S), "run never ended"
    status = window.training.result.status
    assert status in ("completed", "stopped"), f"{status}: {window.training.result.message}"
    return took, max(meter.late_ms, default=0.0)


def measure(window: Any, runs: int, wait_s: float, spare: bool) -> list[tuple[float, float, bool]]:
    from layerforge.core.training import process as train_process

    times = []
    for _ in range(runs):
        ready = train_process.spares.is_ready()
        took, stall = click_train(window)
        times.append((took, stall, ready))
        print(f"  {'spare' if spare else 'cold '}: {took:5.2f} s (spare ready at the click: "
              f"{'yes' if ready else 'no'}; longest UI stall {stall:.0f} ms)", flush=True)
        wait_for(lambda: False, wait_s if spare else COLD_PAUSE_S)
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--wait", type=float, default=10.0,
                        help="seconds the app is open before each click with a spare")
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    from layerforge.core.training import process as train_process

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as runs_dir:
        window = open_window(runs_dir)
        opened = time.perf_counter()
        wait_for(lambda: False, args.wait)
        # A slow or busy machine loads Keras later than --wait: the clicks wait for it too.
        assert wait_for(lambda: window.session.keras_ready, KERAS_TIMEOUT_S), \
            f"Keras not loaded after {KERAS_TIMEOUT_S:.0f} s"
        print(f"Keras ready in the window after {time.perf_counter() - opened:.1f} s",
              flush=True)
        print(f"Train click -> first batch point drawn, {TEMPLATE}, app open {args.wait:.0f} s "
              f"before each click:", flush=True)
        warm = measure(window, args.runs, args.wait, spare=True)
        train_process.spares.close()  # from here on every run starts its own child
        cold = measure(window, args.runs, 0.0, spare=False)
        window.close()
    del app
    warm_s = statistics.median(t for t, _, _ in warm)
    cold_s = statistics.median(t for t, _, _ in cold)
    verdict = "PASS" if warm_s <= TARGET_S else "FAIL"
    print(f"median of {args.runs}: with a spare {warm_s:.2f} s, cold child {cold_s:.2f} s, "
          f"ratio {cold_s / warm_s:.1f}x faster; target <= {TARGET_S:.0f} s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
