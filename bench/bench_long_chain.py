"""A valid chain of 10,000 Dense layers: reading it, validating it, the first live pass, and
the live pass after an edit of one layer's parameter (what the window runs after each edit:
``validate`` plus the shape engine's refresh of what changed), then the build of the changed
layers that gives their parameter counts (``take_changes``, in budgeted slices in the window).

Targets: validate <= 5 s; the live pass <= 10 ms per edit (median). The first live pass asks
Keras once per distinct layer and builds each layer, so it is slower and only printed.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.analysis.validation import validate
from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.document.records import from_records
from layerforge.core.editing.graph_commands import SetParam

LENGTH = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
EDITS = 20


def chain_records(length: int) -> dict[str, Any]:
    layers, nodes, edges = [], [{"id": "in", "kind": "input", "name": "x", "shape": [8]}], []
    previous = "in"
    for i in range(length):
        layers.append({"id": f"l{i}", "class_name": "Dense", "name": f"dense_{i}",
                       "params": {"units": 8}})
        nodes.append({"id": f"n{i}", "kind": "call", "layer": f"l{i}"})
        edges.append({"id": f"e{i}", "src": previous, "dst": f"n{i}"})
        previous = f"n{i}"
    nodes.append({"id": "out", "kind": "output", "name": "y"})
    edges.append({"id": "e_out", "src": previous, "dst": "out"})
    return {"format": "layerforge-project", "format_version": 1,
            "graph": {"layers": layers, "nodes": nodes, "edges": edges}}


def timed(action: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def main() -> None:
    catalog = get_catalog()
    records = chain_records(LENGTH)
    doc, read_s = timed(lambda: from_records(records, "<chain>", catalog))
    found, validate_s = timed(lambda: validate(doc))
    assert not found, found[:3]
    engine = ShapeEngine(doc)
    _, first_s = timed(engine.take_changes)
    assert not engine.known_diagnostics()
    times, builds = [], []
    for i in range(EDITS):
        layer_id = f"l{(i * 7919) % LENGTH}"
        units = 9 + i  # a fresh value each time: no cached answer helps

        def edit(layer_id: str = layer_id, units: int = units) -> None:
            SetParam(layer_id, "units", units).redo(doc)
            validate(doc)
            engine.refresh()

        times.append(timed(edit)[1] * 1000)
        builds.append(timed(engine.take_changes)[1] * 1000)
    _, revalidate_s = timed(lambda: validate(doc))
    print(f"{LENGTH:,}-layer Dense chain")
    print(f"  read from records          {read_s:7.2f} s")
    print(f"  validate (first)           {validate_s:7.2f} s   target <= 5 s")
    print(f"  first live pass            {first_s:7.2f} s   (Keras asked per layer)")
    print(f"  live pass per edit, median {statistics.median(times):7.1f} ms  target <= 10 ms "
          f"(max {max(times):.1f} ms over {EDITS} edits)")
    print(f"  then building the 2 layers {statistics.median(builds):7.1f} ms  (weights: the "
          "window does it in slices after the shapes are shown)")
    print(f"  validate after the edits   {revalidate_s * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
