"""Canvas overlays: what colouring every node, flags and sparklines cost on 5,000 nodes.

Interleaved A/B on the same view: pan frames at 100 % (text, sparklines shown) and at
fit-all (the overview image), plain versus with a colouring on every node, a flag on
one node in ten and a sparkline in every call; and the time to apply each overlay.
Frames are rendered offscreen like bench_canvas.py (the whole 1920x1080 viewport).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).parent))

from bench_canvas import ROWS, Timing, frame, generated_doc, ms
from PySide6.QtWidgets import QApplication

from layerforge.gui.canvas.colouring import NodeColouring
from layerforge.gui.canvas.view import CanvasView
from layerforge.gui.session import EditorSession

ROUNDS = 8
PANS = 6  # frames per round and side


def overlays_on(view: CanvasView) -> dict[str, float]:
    scene = view.canvas_scene
    ids = list(scene.nodes)
    took = {}
    start = time.perf_counter()
    scene.set_colouring(NodeColouring("bench", {n: math.exp(i % 50) for i, n in enumerate(ids)},
                                      log_scale=True))
    took["set_colouring"] = time.perf_counter() - start
    start = time.perf_counter()
    scene.set_node_flags({n: ["flagged"] for n in ids[::10]})
    took["set_node_flags"] = time.perf_counter() - start
    start = time.perf_counter()
    scene.set_sparklines({n: [0.1, 0.5, 1.0, 0.7, 0.3, 0.1, 0.05, 0.0] for n in ids})
    took["set_sparklines"] = time.perf_counter() - start
    return took


def overlays_off(view: CanvasView) -> None:
    scene = view.canvas_scene
    scene.set_colouring(None)
    scene.set_node_flags({})
    scene.set_sparklines({})


def pans(app: QApplication, view: CanvasView, step: int) -> list[Timing]:
    bar = view.verticalScrollBar()
    out = []
    for i in range(PANS):
        bar.setValue(bar.value() + (step if i < PANS // 2 else -step))
        out.append(frame(app, view))
    return out


def main() -> int:
    app = QApplication.instance() or QApplication([])
    doc = generated_doc()
    view = CanvasView(EditorSession(doc))
    view.resize(1920, 1080)
    view.show()
    app.processEvents()
    results: dict[tuple[str, str], list[Timing]] = {}
    applied: list[dict[str, float]] = []
    for zoom in ("100%", "fit all"):
        for round_ in range(ROUNDS):
            for side in (("plain", "overlays") if round_ % 2 == 0 else ("overlays", "plain")):
                if side == "overlays":
                    applied.append(overlays_on(view))
                else:
                    overlays_off(view)
                if zoom == "100%":
                    view.reset_zoom()
                    view.center_on(list(doc.graph.nodes)[ROWS * 25 + ROWS // 2])
                else:
                    view.fit_all()
                app.processEvents()
                view.canvas_scene._rebuild_overview()
                frame(app, view)  # the first frame fills the item caches
                results.setdefault((zoom, side), []).extend(
                    pans(app, view, 60 if zoom == "100%" else 20))
    print(f"{len(doc.graph.nodes)} nodes; {ROUNDS} interleaved rounds of {PANS} pan frames")
    for zoom in ("100%", "fit all"):
        plain = statistics.median(t.cpu for t in results[(zoom, "plain")])
        over = statistics.median(t.cpu for t in results[(zoom, "overlays")])
        print(f"  pan at {zoom:<8} CPU median: plain {ms(plain)}, with overlays {ms(over)} "
              f"(ratio {over / plain:.2f})")
    for key in ("set_colouring", "set_node_flags", "set_sparklines"):
        print(f"  {key:<16} on every node: median {ms(statistics.median(a[key] for a in applied))}")
    view.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
