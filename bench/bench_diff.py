"""``layerforge diff`` on two 400-layer models: a DenseNet121-sized graph (429 layers) against
itself with one convolution widened and one layer renamed, and two 400-layer Dense chains.

Target: the diff (matching, the changes, and both models' parameter counts from the live
pass) <= 1 s per pair, in a process where Keras is imported already (the CLI's start and
Keras' import are the same for every command and are not counted). Beside it, for scale:
the comparison alone (no Keras), and what a user would do by hand to get the same counts:
build both models with Keras and call ``count_params()``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

from densenet_doc import densenet121_doc

from layerforge.core.analysis.diff import ModelDiff, diff_documents
from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.codegen.loader import build_model
from layerforge.core.document.document import Document
from layerforge.core.document.records import from_records
from layerforge.core.io.project import dumps, loads

TARGET_S = 1.0


def chain_records(length: int, units: int = 8) -> dict[str, Any]:
    layers, nodes, edges = [], [{"id": "in", "kind": "input", "name": "x", "shape": [8]}], []
    previous = "in"
    for i in range(length):
        layers.append({"id": f"l{i}", "class_name": "Dense", "name": f"dense_{i}",
                       "params": {"units": units if i == length // 2 else 8}})
        nodes.append({"id": f"n{i}", "kind": "call", "layer": f"l{i}"})
        edges.append({"id": f"e{i}", "src": previous, "dst": f"n{i}"})
        previous = f"n{i}"
    nodes.append({"id": "out", "kind": "output", "name": "y"})
    edges.append({"id": "e_out", "src": previous, "dst": "out"})
    return {"format": "layerforge-project", "format_version": 1,
            "graph": {"layers": layers, "nodes": nodes, "edges": edges}}


def densenet_pair() -> tuple[Document, Document]:
    before = densenet121_doc()
    text = dumps(before)
    after = loads(text, "<b>", get_catalog())
    before = loads(text, "<a>", get_catalog())
    convs = [layer for layer in after.graph.layers.values() if layer.class_name == "Conv2D"]
    convs[len(convs) // 2].params["filters"] = 48
    convs[-1].name = "last_conv"
    return before, after


def timed(action: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def by_hand(before: Document, after: Document) -> int:
    return int(build_model(after).count_params() - build_model(before).count_params())


def measure(title: str, before: Document, after: Document) -> bool:
    layers = len(before.graph.layers)
    _, alone_s = timed(lambda: diff_documents(before, after, counts=False))
    diff, diff_s = timed(lambda: diff_documents(before, after))
    assert isinstance(diff, ModelDiff) and not diff.is_empty()
    delta, hand_s = timed(lambda: by_hand(before, after))
    assert diff.params_new - diff.params_old == delta, (diff.params_old, diff.params_new, delta)
    print(f"{title} ({layers} layers each): {len(diff.graph.changed)} changed, "
          f"{len(diff.graph.rewired)} rewired, parameters {diff.params_old:,} -> "
          f"{diff.params_new:,}")
    print(f"  diff with the counts          {diff_s:7.3f} s   target <= {TARGET_S:.0f} s")
    print(f"  the comparison alone          {alone_s:7.3f} s")
    print(f"  by hand: build both, count    {hand_s:7.3f} s   "
          f"(diff / by hand: {diff_s / hand_s:.2f})")
    return diff_s <= TARGET_S


def main() -> None:
    import keras  # noqa: F401  (imported first: its import is not the diff's time)

    catalog = get_catalog()
    chains = (from_records(chain_records(400), "<a>", catalog),
              from_records(chain_records(400, units=16), "<b>", catalog))
    results = [measure("DenseNet121-sized graph", *densenet_pair()),
               measure("Dense chain", *chains)]
    print(json.dumps({"within_target": all(results)}))
    if not all(results):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
