"""20 consecutive training runs in one app session: resident memory growth, UI stalls.

The window trains a template from its Training dock (worker thread, live plot,
the GUI's signal path) 20 times in a row. Resident memory is read after the
2nd run (Keras, TensorFlow and matplotlib are loaded by then) and after the
20th: target growth <= 10 %. A 10 ms timer in the event loop measures stalls
while training: target p99 <= 50 ms.

For comparison, a child process prints the growth of a plain Keras loop (build the
same model, ``fit`` 2 epochs, ``clear_session``) over the same number of runs: the
growth TensorFlow itself shows when one process trains model after model.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from bench_gui_training import StallMeter
from PySide6.QtCore import QEventLoop
from PySide6.QtWidgets import QApplication

from layerforge.core.editing.settings_commands import SetTrainingSettings
from layerforge.core.io.templates import load_template
from layerforge.gui.main_window import MainWindow

RUNS = 20
TEMPLATE = "separable-convnet"


def rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def train_once(window: MainWindow) -> str:
    loop = QEventLoop()
    finished: list[object] = []
    window.training.run_finished.connect(loop.quit)
    window.training.run_finished.connect(finished.append)
    assert window.start_training(), "the training dock refused to start"
    loop.exec()
    window.training.run_finished.disconnect(loop.quit)
    return getattr(finished[0], "status", "?")


def plain_keras_growth() -> None:
    """Build and fit the template's model RUNS times in plain Keras; print the growth."""
    import gc

    import keras
    import numpy as np

    from layerforge.core.codegen.loader import build_and_compile

    doc = load_template(TEMPLATE)
    x = np.random.rand(256, 64, 64, 3).astype("float32")
    y = np.eye(10, dtype="float32")[np.random.randint(0, 10, 256)]
    memory = []
    for _ in range(RUNS):
        keras.backend.clear_session(free_memory=True)
        model = build_and_compile(doc)
        model.fit(x, y, epochs=2, batch_size=32, validation_split=0.2, verbose=0)
        del model
        gc.collect()
        memory.append(rss_mib())
    growth = (memory[-1] - memory[1]) / memory[1] * 100
    print(f"  plain Keras loop in a fresh process (same model, clear_session between runs): "
          f"{memory[1]:.0f} -> {memory[-1]:.0f} MiB: growth {growth:+.1f} %")


def main() -> int:
    if "--plain" in sys.argv:
        plain_keras_growth()
        return 0
    app = QApplication.instance() or QApplication(sys.argv)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["LAYERFORGE_UNSAVED_RUNS_DIR"] = folder
        window = MainWindow(load_keras=False, restore=False)
        window.session.set_keras_ready()
        window.session.replace_document(load_template(TEMPLATE))
        doc = window.session.doc
        window.session.push(SetTrainingSettings(replace(doc.training, epochs=2)))
        window.show()
        meter = StallMeter()
        memory: list[float] = []
        statuses = []
        for run in range(RUNS):
            if run == 2:
                meter.start()
            statuses.append(train_once(window))
            app.processEvents()
            memory.append(rss_mib())
        meter.timer.stop()
    growth = (memory[-1] - memory[1]) / memory[1] * 100
    gaps = sorted(meter.late_ms)
    p99 = gaps[int(len(gaps) * 0.99)] if gaps else float("nan")
    print(f"{RUNS} runs of {TEMPLATE} (2 epochs each) from the Training dock: "
          f"{statuses.count('completed')} completed")
    print(f"  resident memory after run 2: {memory[1]:.0f} MiB, after run {RUNS}: "
          f"{memory[-1]:.0f} MiB: growth {growth:+.1f} % "
          f"(target <= 10 %: {'PASS' if growth <= 10 else 'FAIL'})")
    print(f"  event-loop stalls while training (runs 3-{RUNS}): median "
          f"{statistics.median(gaps):.1f} ms, p99 {p99:.1f} ms, max {gaps[-1]:.0f} ms "
          f"(target p99 <= 50 ms: {'PASS' if p99 <= 50 else 'FAIL'})")
    print("  memory per run (MiB): " + ", ".join(f"{m:.0f}" for m in memory))
    sys.stdout.flush()
    subprocess.run([sys.executable, __file__, "--plain"], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
