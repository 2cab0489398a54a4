"""Selecting a node in the app until the Preview dock shows its output, once the worker is
warm: an offscreen MainWindow, its warm worker process, separable-convnet and a DenseNet121
document (bench/densenet_doc.py). Target: <= 300 ms median over 10 selections of different
nodes. Also: the longest the UI thread went without running its event loop meanwhile
(target < 100 ms: the preview's Keras work runs in the worker, not in the window).

"Warm": the worker has imported Keras and seen the document (the dock asks every node's
sparkline once edits settle, which runs the model once). The first selection's time is shown
apart, and so is a selection the worker must compute (its cache cleared by an edit upstream).
Each selection also repaints the canvas (its overview draws every node) and rebuilds the
inspector, in the UI process; the third line leaves the canvas out to show the preview's
own path.

    .venv/bin/python bench/bench_preview_gui.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("LAYERFORGE_KERAS_CHECK", "0")  # no check process competing for CPU

sys.path.insert(0, str(Path(__file__).parent))

from densenet_doc import densenet121_doc, laid_out
from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QApplication

from layerforge.core.document.document import Document
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.schema.records import CallNode
from layerforge.gui.main_window import MainWindow
from layerforge.gui.panels.warm_worker import install_warm_worker

TARGET_S = 0.300
STALL_S = 0.100
SELECTIONS = 10
TIMEOUT_S = 300.0


class StallMeter:
    """The longest gap between ticks of a 5 ms timer: how long the UI thread was busy."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.longest_ms = 0
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.longest_ms = 0
        self.clock.start()
        self.timer.start()

    def _tick(self) -> None:
        self.longest_ms = max(self.longest_ms, self.clock.restart())


def spin_until(app: QApplication, done: Any, timeout: float = TIMEOUT_S) -> float:
    start = time.perf_counter()
    while not done():
        if time.perf_counter() - start > timeout:
            raise SystemExit("timed out waiting for the preview")
        app.processEvents()
        time.sleep(0.001)
    return time.perf_counter() - start


def spread_calls(doc: Document, count: int) -> list[str]:
    calls = [n for n in doc.graph.topological_order() if isinstance(doc.graph.node(n), CallNode)]
    step = max(1, len(calls) // count)
    return calls[::step][:count] if len(calls) >= count else calls


MODES = {"fit": "canvas fitted to the view", "zoomed": "canvas at 100 %, centred",
         "frozen": "canvas not repainting (the preview's own path)"}


def select(app: QApplication, window: Any, node_id: str, mode: str = "fit") -> float:
    """From the selection to the dock showing the node's stats and its drawn figure.
    ``zoomed``: the canvas at 100 % centred on the node first (as a user reads a large
    model); ``frozen``: the canvas does not repaint (what the preview itself costs)."""
    dock = window.preview
    window.view.viewport().setUpdatesEnabled(mode != "frozen")
    if mode == "zoomed":
        window.view.resetTransform()
        window.view.centerOn(window.view.canvas_scene.nodes[node_id])
        window.view.viewport().repaint()
        app.processEvents()
    shown: list[str] = []
    dock.shown.connect(shown.append)
    start = time.perf_counter()
    window.view.select_nodes([node_id])
    spin_until(app, lambda: node_id in shown)
    dock.canvas.repaint()  # painted now, not at the next idle moment
    app.processEvents()
    dock.shown.disconnect(shown.append)
    return time.perf_counter() - start


def measure(app: QApplication, window: Any, title: str, stalls: StallMeter) -> bool:
    dock = window.preview
    sparks: list[dict[str, list[float]]] = []
    dock.sparklines_changed.connect(sparks.append)
    warm_s = spin_until(app, lambda: any(sparks))
    # The canvas counts each layer's weights in slices on the UI thread after a model opens
    # (a Keras build each): "warm" is also those counts done, as after a user's first look.
    counter = window.view.canvas_scene.counter
    counted_s = warm_s + spin_until(app, lambda: not counter.queue)
    doc = window.session.doc
    print(f"{title} ({len(doc.graph.layers)} layers; worker warmed on the document in "
          f"{warm_s:.1f} s, the canvas's parameter counts done in {counted_s:.1f} s; "
          f"neither counted)")
    nodes = spread_calls(doc, SELECTIONS)
    ok = True
    for mode, title in MODES.items():
        stalls.start()
        times, in_worker = [], []
        for node_id in nodes:
            times.append(select(app, window, node_id, mode))
            in_worker.append(dock.worker.seconds["preview"])
        stall_ms = stalls.longest_ms
        median = statistics.median(times)
        print(f"  {title}: {len(times)} selections: median {median * 1000:7.1f} ms  target <= "
              f"{TARGET_S * 1000:.0f} ms   first {times[0] * 1000:7.1f} ms   slowest "
              f"{max(times) * 1000:7.1f} ms   (in the worker: median "
              f"{statistics.median(in_worker) * 1000:.1f} ms; samples {dock.result.samples})"
              f"; longest UI stall {stall_ms} ms  target < {STALL_S * 1000:.0f} ms")
        # The stall target is the preview's: a repaint of a large canvas is the canvas's own.
        ok = ok and median <= TARGET_S and (mode != "frozen" or stall_ms < STALL_S * 1000)
    window.view.viewport().setUpdatesEnabled(True)
    # An edit near the input (the first layer with a bias switch): the next selection's node
    # lies downstream of it, so the worker computes it again.
    graph = window.session.doc.graph
    first = next(graph.layer_of(n) for n in graph.topological_order()
                 if isinstance(graph.node(n), CallNode) and "Conv" in graph.layer_of(n).class_name)
    before = dock.result.runs
    window.session.push(SetParam(first.id, "use_bias", not first.params.get("use_bias", True)))
    window.session.analyze()
    spin_until(app, lambda: dock.preview is None)
    fresh = select(app, window, nodes[-2])
    print(f"  selection after an edit upstream (computed: {dock.result.runs > before}) "
          f"{fresh * 1000:7.1f} ms")
    dock.sparklines_changed.disconnect(sparks.append)
    return ok


def main() -> None:
    app = QApplication.instance() or QApplication(sys.argv)
    window = MainWindow(restore=False)
    window.resize(1400, 900)
    window.show()
    spin_until(app, lambda: window.session.keras_ready)
    worker = install_warm_worker(window)
    worker.start()
    started = time.perf_counter()
    spin_until(app, lambda: worker.ready)
    print(f"worker ready (Keras imported and warmed) in {time.perf_counter() - started:.1f} s")
    window.docks["preview"].show()
    window.docks["preview"].raise_()
    stalls = StallMeter()
    results = []
    window.open_template("separable-convnet")
    results.append(measure(app, window, "separable-convnet", stalls))
    window.session.replace_document(laid_out(densenet121_doc()), trusted=True)
    results.append(measure(app, window, "DenseNet121", stalls))
    print(json.dumps({"within_target": all(results)}), flush=True)
    worker.shutdown()
    os._exit(0 if all(results) else 1)  # no window teardown: the figures are what matter


if __name__ == "__main__":
    main()
