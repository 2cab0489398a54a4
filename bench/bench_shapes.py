"""Live shapes after one parameter edit: DenseNet121-sized graph and every template.

Each edit sets a fresh value (never seen before), so no cached result helps:
the time is SetParam + recomputing every shape downstream of the edit (merge
layers included: they are built on their input shapes, which is where Keras
checks them). Targets: median <= 10 ms (DenseNet121, 429 layers), <= 2 ms
(each template).

Also measured, without a target: the window then builds each changed layer
once (``ShapeEngine.verify``: weights, so Keras' own refusals and the
parameter counts are known), which costs what counting the parameters cost
before; and the full Keras check of each template (``core.check.full_check``),
which the window runs in its worker process.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

from densenet_doc import densenet121_doc

from layerforge.core.analysis.check import full_check
from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.catalog.keras_objects import keras_module
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.templates import load_template, template_names

EDITABLE = {"Conv2D": "filters", "SeparableConv2D": "filters", "Conv1D": "filters",
            "Dense": "units", "LSTM": "units", "Embedding": "output_dim"}


def edit_times(doc, engine, rounds: int, seed: int = 0, verify: bool = False,
               span: int = 4096) -> list[float]:
    rng = random.Random(seed)
    layers = [layer for layer in doc.graph.layers.values() if layer.class_name in EDITABLE]
    times = []
    for i in range(rounds):
        layer = rng.choice(layers)
        name = EDITABLE[layer.class_name]
        value = 16 + (i * 7919 + rng.randrange(1000)) % span  # a fresh value each time
        start = time.perf_counter()
        SetParam(layer.id, name, value).redo(doc)
        engine.verify() if verify else engine.refresh()
        times.append((time.perf_counter() - start) * 1000)
    return times


def full_check_ms(doc) -> float:
    full_check(doc)  # the first build of a model traces more than later ones
    times = []
    for _ in range(3):
        start = time.perf_counter()
        full_check(doc)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    doc = densenet121_doc()
    engine = ShapeEngine(doc)
    keras_module()  # the first pass measures shapes, not TensorFlow's import
    start = time.perf_counter()
    engine.refresh()
    first = (time.perf_counter() - start) * 1000
    calls = len(doc.graph.calls())
    times = edit_times(doc, engine, 40)
    median = statistics.median(times)
    print(f"DenseNet121-sized graph: {calls} layers; first full pass {first:.0f} ms")
    print(f"  live shapes after one parameter edit: median {median:.2f} ms, "
          f"p90 {statistics.quantiles(times, n=10)[-1]:.2f} ms over {len(times)} edits "
          f"(target <= 10 ms: {'PASS' if median <= 10 else 'FAIL'})")
    # Builds allocate weights: sizes a model would have (up to 271 filters), not 4,000.
    verified = edit_times(doc, engine, 20, seed=1, verify=True, span=256)
    print(f"  with the Keras build of each changed layer (verify): median "
          f"{statistics.median(verified):.1f} ms, max {max(verified):.1f} ms")
    worst = 0.0
    for name in template_names():
        tdoc = load_template(name)
        tengine = ShapeEngine(tdoc)
        tengine.refresh()
        if not any(layer.class_name in EDITABLE for layer in tdoc.graph.layers.values()):
            continue
        tmedian = statistics.median(edit_times(tdoc, tengine, 15))
        vmedian = statistics.median(edit_times(tdoc, tengine, 5, seed=1, verify=True, span=256))
        worst = max(worst, tmedian)
        print(f"  template {name:<27} median {tmedian:.2f} ms; with verify {vmedian:.1f} ms; "
              f"full Keras check {full_check_ms(load_template(name)):.0f} ms")
    print(f"  worst template median {worst:.2f} ms (target <= 2 ms: "
          f"{'PASS' if worst <= 2 else 'FAIL'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
