"""Code export of a DenseNet121-sized document, and how fast its generated code builds.

Targets: generating the module takes <= 0.2 s (median of 5); the generated
``build_model()`` builds no slower than ``keras.applications.DenseNet121(weights=None)``
(ratio of medians of process CPU time <= 1.0, both measured alternately in this one
process).
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))

from densenet_doc import densenet121_doc

from layerforge.core.codegen.loader import load_generated
from layerforge.core.codegen.model_code import generate

ROUNDS = 5
BUILD_ROUNDS = 5


def timed(fn: Callable[[], Any], clock: Callable[[], float] = time.perf_counter
          ) -> tuple[float, Any]:
    start = clock()
    result = fn()
    return clock() - start, result


def main() -> int:
    import keras

    doc = densenet121_doc()
    doc.catalog  # noqa: B018 -- load the catalog outside the timed region
    generate_times = [timed(lambda: generate(doc))[0] for _ in range(ROUNDS)]
    code = generate(doc)
    gen = statistics.median(generate_times)
    print(f"DenseNet121-sized document: {len(doc.graph.calls())} layer calls, "
          f"{code.source.count(chr(10))} lines of code")
    print(f"  generate: median {gen * 1000:.1f} ms over {ROUNDS} "
          f"(target <= 200 ms: {'PASS' if gen <= 0.2 else 'FAIL'})")
    module = load_generated(code)
    builders = {"ours": module.build_model,
                "keras": lambda: keras.applications.DenseNet121(weights=None)}
    times: dict[str, list[float]] = {"ours": [], "keras": []}
    params: dict[str, int] = {}
    for i in range(BUILD_ROUNDS):
        # Alternate which goes first, and start each from a clean session and heap, so
        # drift in machine load and leftover garbage hit both alike.
        for name in sorted(builders, reverse=i % 2 == 1):
            keras.backend.clear_session()
            gc.collect()
            # CPU time of this process: other processes on a busy machine barely change it
            t, model = timed(builders[name], time.process_time)
            times[name].append(t)
            params[name] = model.count_params()
            del model
    ours, theirs = times["ours"], times["keras"]
    same = params["ours"] == params["keras"]
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"  build_model(): median {statistics.median(ours):.2f} s CPU; "
          f"keras.applications.DenseNet121(weights=None): {statistics.median(theirs):.2f} s "
          f"(same params: {same}, {params['ours']:,})")
    print(f"  build time ratio {ratio:.2f} (target <= 1.0: {'PASS' if ratio <= 1.0 else 'FAIL'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
