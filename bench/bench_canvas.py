"""Canvas performance: scene build and pan/zoom frames on 5,000 nodes; live labels on DenseNet121.

Frames are rendered offscreen (``viewport().grab()`` renders the whole 1920x1080
viewport, a worst case: a real pan repaints only the exposed strip).
Targets: pan/zoom frames <= 33 ms, labels updated <= 50 ms after a parameter edit.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

from densenet_doc import densenet121_doc, laid_out
from PySide6.QtWidgets import QApplication

from layerforge.core.document.document import Document
from layerforge.core.editing.graph_commands import AddNode, Connect, SetParam
from layerforge.core.schema.records import CallNode, Edge, InputNode, LayerSpec, OutputNode, new_id
from layerforge.gui.canvas.view import SETTLE_MS, CanvasView
from layerforge.gui.session import EditorSession

NODES = 5000
ROWS = 100


def generated_doc(count: int = NODES) -> Document:
    """A chain of Dense layers with a residual Add every third node, laid out in columns."""
    doc = Document()

    def place(i: int) -> tuple[float, float]:
        return ((i // ROWS) * 240.0, (i % ROWS) * 110.0)

    first = InputNode(new_id(), "x", (16,), position=place(0))
    AddNode(first).redo(doc)
    ids = [first.id]
    for i in range(1, count - 1):
        is_add = i % 3 == 0
        layer = LayerSpec(new_id(), "Add" if is_add else "Dense", f"layer_{i}",
                          {} if is_add else {"units": 16})
        node = CallNode(new_id(), layer.id, position=place(i))
        AddNode(node, layer).redo(doc)
        sources = [ids[-1], ids[-2]] if is_add else [ids[-1]]
        for slot, src in enumerate(sources):
            Connect(Edge(new_id(), src, 0, node.id, slot)).redo(doc)
        ids.append(node.id)
    out = OutputNode(new_id(), "y", position=place(count - 1))
    AddNode(out).redo(doc)
    Connect(Edge(new_id(), ids[-1], 0, out.id, 0)).redo(doc)
    return doc


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


class Timing(float):
    """Wall-clock seconds of one frame, with the process's CPU seconds alongside: on a
    shared machine the CPU time is the better estimate of the frame's own cost."""

    cpu: float

    def __new__(cls, wall: float, cpu: float) -> Timing:
        value = super().__new__(cls, wall)
        value.cpu = cpu
        return value


def timed(action: object) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    action()  # type: ignore[operator]
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def summary(name: str, times: list[Timing], target: float) -> str:
    def stats(values: list[float]) -> tuple[float, float]:
        p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
        return statistics.median(values), p90

    wall, wall90 = stats(list(times))
    cpu, cpu90 = stats([t.cpu for t in times])
    verdict = "PASS" if cpu90 <= target else "FAIL"
    return (f"  {name:<36} wall median {ms(wall)}, p90 {ms(wall90)}; CPU median {ms(cpu)}, "
            f"p90 {ms(cpu90)} over {len(times)} (target <= {ms(target)}: {verdict})")


def frame(app: QApplication, view: CanvasView) -> Timing:
    def render() -> None:
        app.processEvents()
        view.viewport().grab()

    return timed(render)


def bench_large(app: QApplication) -> None:
    doc = generated_doc()
    session = EditorSession(doc)
    start = time.perf_counter()
    view = CanvasView(session)
    build = time.perf_counter() - start
    view.resize(1920, 1080)
    view.show()
    app.processEvents()
    print(f"Generated graph: {len(doc.graph.nodes)} nodes, {len(doc.graph.edges)} edges")
    print(f"  scene build                        {ms(build)}")
    start = time.perf_counter()
    session.set_keras_ready()
    session.analyze()
    view.canvas_scene.counter.queue.clear()  # parameter counts are not what this measures
    print(f"  shapes + labels for every edge     {ms(time.perf_counter() - start)}")
    view.reset_zoom()
    view.center_on(list(doc.graph.nodes)[ROWS * 25 + ROWS // 2])
    frame(app, view)
    pans = []
    bar = view.verticalScrollBar()
    for i in range(40):
        bar.setValue(bar.value() + (60 if (i // 10) % 2 == 0 else -60))
        pans.append(frame(app, view))
    print(summary("pan at 100% (text shown)", pans, 0.033))
    detail, crossing, overview = [], [], []
    for i in range(30):
        before = view.canvas_scene.overview
        view.zoom_by(1 / 1.15 if i < 15 else 1.15)
        took = frame(app, view)
        if before != view.canvas_scene.overview:
            crossing.append(took)
        else:
            (overview if before else detail).append(took)
    print(summary("zoom 100% <-> 50% (items)", detail, 0.033))
    print(summary("zoom 50% <-> 12% (overview)", overview, 0.033))
    print(f"  {'zoom across 50% (mode switch)':<36} "
          + ", ".join(f"{ms(t)} (CPU {ms(t.cpu)})" for t in crossing))
    view.zoom_by(1.0)
    settle = timed(lambda: (view._zoom_settled(), frame(app, view)))
    print(f"  {'zoom settled: text drawn again':<36} {ms(settle)} (CPU {ms(settle.cpu)}), "
          f"once, {SETTLE_MS} ms after the last zoom step")
    view.fit_all()
    frame(app, view)
    far = []
    hbar = view.horizontalScrollBar()
    for i in range(20):
        hbar.setValue(hbar.value() + (20 if i < 10 else -20))
        far.append(frame(app, view))
    print(summary(f"pan, fit all ({view.zoom():.0%}, all nodes)", far, 0.033))
    view.close()


def bench_param_edit(app: QApplication) -> None:
    doc = laid_out(densenet121_doc())
    session = EditorSession(doc)
    view = CanvasView(session)
    view.resize(1920, 1080)
    view.show()
    session.set_keras_ready()
    session.analyze()
    view.reset_zoom()
    view.center_on(list(doc.graph.nodes)[len(doc.graph.nodes) // 2])
    counter = view.canvas_scene.counter
    start = time.perf_counter()
    while counter.queue:
        counter.run()
    counts = time.perf_counter() - start
    convs = [lay for lay in doc.graph.layers.values() if lay.class_name == "Conv2D"]
    target = convs[len(convs) // 2]
    downstream = doc.graph.out_edges(doc.graph.calls_of(target.id)[0].id)[0]
    label = view.canvas_scene.edges[downstream.id]
    view.center_on(downstream.dst)
    view.viewport().grab()
    updates, repaints = [], []
    gc.collect()  # measure the steady state, not a collection of the set-up's garbage
    for i in range(20):
        value = 40 + i

        def edit(value: int = value) -> None:
            session.push(SetParam(target.id, "filters", value))
            session.analyze()

        updates.append(timed(edit))
        assert label.label.endswith(f", {value})"), label.label
        paint = timed(view.viewport().grab)
        repaints.append(Timing(updates[-1] + paint, updates[-1].cpu + paint.cpu))
    print(f"DenseNet121 doc: {len(doc.graph.calls())} layers; every parameter count "
          f"{ms(counts)} (in background slices)")
    print(summary("edit -> edge labels updated", updates, 0.050))
    print(summary("edit -> labels + viewport repainted", repaints, 0.050))


def main() -> int:
    app = QApplication.instance() or QApplication([])
    bench_large(app)
    bench_param_edit(app)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
