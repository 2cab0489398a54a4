"""Import + layout time of keras.applications.DenseNet121 from a .keras file.

The .keras file is written first and Keras is loaded before timing: the figure is
what `import_file` costs once the app is running (read config.json, convert 429
layers, lay out the graph). Target: median <= 1.5 s. Also printed: the layout
alone and the same import with the weights kept (Keras loads the file then).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.editing.layout import layered_layout
from layerforge.core.io.keras_import.files import import_file

TARGET_S = 1.5
RUNS = 5


def median_time(action: Callable[[], object], runs: int = RUNS) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    catalog = get_catalog()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "densenet121.keras"
        keras.applications.DenseNet121(weights=None).save(path)
        doc = import_file(path, catalog=catalog).doc  # warm-up: first calls cache Keras defaults
        import_s = median_time(lambda: import_file(path, catalog=catalog))
        layout_s = median_time(lambda: layered_layout(doc.graph))
        weights_s = median_time(lambda: import_file(path, keep_weights=True, catalog=catalog), 3)
    nodes = len(doc.graph.nodes)
    verdict = "PASS" if import_s <= TARGET_S else "FAIL"
    print(f"DenseNet121 (.keras, {len(doc.graph.layers)} layers, {nodes} nodes, "
          f"{len(doc.graph.edges)} edges), median of {RUNS}:")
    print(f"  import + layout: {import_s:.3f} s (target <= {TARGET_S} s: {verdict})")
    print(f"  layout alone:    {layout_s * 1000:.1f} ms")
    print(f"  import keeping weights (Keras loads the file): {weights_s:.3f} s (median of 3)")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
