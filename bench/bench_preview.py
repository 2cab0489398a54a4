"""Preview a selected node once the model is built (the warm case): the median time from a
selection to the node's tensor and stats, on separable-convnet and on DenseNet121
(keras.applications imported as a project). Target: <= 300 ms median.

Side by side in one run: the node's cut alone, the cached preview (the same node selected
again), what a user would do by hand (a Keras sub-model cut at the node, called on the
batch), and every node's preview in one pass (what the Previewer does on a cache miss when
every node's output fits its memory budget, and what the nodes' sparklines need). This is the
worker's side in-process; bench/bench_preview_gui.py times the app, selection to screen.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from layerforge.core.document.document import Document
from layerforge.core.io.keras_import.graph import import_model
from layerforge.core.io.templates import load_template
from layerforge.core.schema.records import CallNode
from layerforge.core.training.preview import Previewer, node_output

TARGET_S = 0.300
RUNS = 7
# The worker's own choice (the largest batch up to 4 whose every node output fits its
# memory budget) unless PREVIEW_SAMPLES says otherwise.
SAMPLES = int(os.environ["PREVIEW_SAMPLES"]) if "PREVIEW_SAMPLES" in os.environ else None


def median_s(action: Callable[[], Any], before: Callable[[], None] = lambda: None) -> float:
    times = []
    for _ in range(RUNS):
        before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def by_hand(p: Previewer, node_id: str) -> Any:
    import keras  # lazy: imported first in main

    fed = [p.batch[t.name] for t in p.model.inputs]
    return keras.Model(p.model.inputs, node_output(p.model, p.doc.graph, node_id))(fed)


def selected_nodes(doc: Document) -> dict[str, str]:
    graph = doc.graph
    calls = [n for n in graph.topological_order() if isinstance(graph.node(n), CallNode)]
    last = next(e.src for o in graph.outputs() if (e := graph.source_of(o.id)))
    return {"middle layer": calls[len(calls) // 2], "last layer": last}


def measure(title: str, doc: Document) -> bool:
    built = time.perf_counter()
    p = Previewer(doc, samples=SAMPLES)
    build_s = time.perf_counter() - built
    print(f"{title} ({len(doc.graph.layers)} layers, batch of {p.samples}; built in "
          f"{build_s:.1f} s, not counted)")
    ok = True
    for where, node_id in selected_nodes(doc).items():
        p.preview(node_id)  # the first call traces; a warm worker has done it already
        first_s = median_s(lambda n=node_id: p.run_cut(node_output(p.model, p.doc.graph, n)))
        cached_s = median_s(lambda n=node_id: p.preview(n))
        hand_s = median_s(lambda n=node_id: by_hand(p, n))
        print(f"  {where:12s} its cut {first_s * 1000:7.1f} ms  target <= "
              f"{TARGET_S * 1000:.0f} ms   cached {cached_s * 1000:6.2f} ms   by hand "
              f"{hand_s * 1000:7.1f} ms (preview / by hand: {first_s / hand_s:.2f})")
        ok = ok and first_s <= TARGET_S
    p.preview_all()
    all_s = median_s(p.preview_all, before=p.clear)
    print(f"  every node in one pass (the sparklines; selections then cached) "
          f"{all_s * 1000:7.1f} ms")
    return ok


def main() -> None:
    import keras  # imported first: its import is not the preview's time

    densenet = import_model(keras.applications.DenseNet121(weights=None))
    results = [measure("separable-convnet", load_template("separable-convnet")),
               measure("DenseNet121", densenet)]
    print(json.dumps({"within_target": all(results)}))
    if not all(results):
        raise SystemExit(1)


if __name__ == "__main__":
    sys.exit(main())
