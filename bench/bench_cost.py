"""FLOPs counted from the live shapes (core/analysis/cost.py) beside TensorFlow's own op
statistics, and what the count costs in the live pass.

MobileNetV2 (keras.applications, weights=None) is imported as a user imports it; its
inference graph is frozen and TensorFlow's registered "flops" statistic is summed per op
type (Conv2D, DepthwiseConv2dNative, MatMul: 2 FLOPs per multiply-add, as ours). Our
per-layer counts for those layers, less the bias adds and activations our convention adds,
are printed beside them with the ratio. Then the time of one full count (every layer) on
DenseNet121's document against the live pass's shape refresh after an edit there.
"""

from __future__ import annotations

import collections
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from densenet_doc import densenet121_doc

from layerforge.core.analysis.cost import model_cost
from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.analysis.summary import summarize
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.keras_import.files import import_file

ALPHA, SIZE = 1.0, 224
TF_OPS = {"Conv2D": "Conv2D", "DepthwiseConv2D": "DepthwiseConv2dNative", "Dense": "MatMul"}


def tensorflow_flops(model: object) -> collections.Counter[str]:
    import tensorflow as tf  # lazy: a bench
    from tensorflow.python.framework import ops as tf_ops  # lazy: op statistics registry
    from tensorflow.python.framework.convert_to_constants import (  # lazy: freezing
        convert_variables_to_constants_v2,
    )

    spec = tf.TensorSpec((1, SIZE, SIZE, 3), tf.float32)
    graph = convert_variables_to_constants_v2(
        tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)).graph
    totals: collections.Counter[str] = collections.Counter()
    for op in graph.get_operations():
        try:
            stats = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops")
        except ValueError:  # an op without a registered statistic
            continue
        totals[op.type] += int(stats.value or 0)
    return totals


def ours_without_tail(model: object, rows: dict[str, dict[str, object]]) -> dict[str, int]:
    """Our FLOPs per layer class, less each layer's bias adds and fused activation (TF
    counts those as separate ops)."""
    totals: collections.Counter[str] = collections.Counter()
    for layer in model.layers:  # type: ignore[attr-defined]
        kind = type(layer).__name__
        if kind not in TF_OPS:
            continue
        outputs = 1
        for d in layer.output.shape[1:]:
            outputs *= d
        config = layer.get_config()
        act = {"linear": 0, "softmax": 3}.get(config.get("activation") or "linear", 1)
        tail = (outputs if config.get("use_bias") else 0) + act * outputs
        totals[kind] += int(rows[layer.name]["flops"]) - tail  # type: ignore[arg-type]
    return dict(totals)


def main() -> None:
    import keras  # lazy: a bench

    model = keras.applications.MobileNetV2(weights=None, input_shape=(SIZE, SIZE, 3),
                                           alpha=ALPHA)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mobilenet_v2.keras"
        model.save(path)
        data = summarize(import_file(path).doc)
    rows = {row["name"]: row for row in data["layers"]}
    theirs = tensorflow_flops(model)
    ours = ours_without_tail(model, rows)
    print(f"MobileNetV2 alpha={ALPHA} {SIZE}x{SIZE}: FLOPs per sample, ours vs TensorFlow's "
          "op statistics")
    print(f"  {'layers':<18}{'ours':>15}{'TensorFlow':>15}{'ratio':>8}")
    for kind, op in TF_OPS.items():
        ratio = ours[kind] / theirs[op] if theirs[op] else float("nan")
        print(f"  {kind:<18}{ours[kind]:>15,}{theirs[op]:>15,}{ratio:>8.4f}")
    print(f"  whole model (our convention, BN/ReLU/adds included): {data['flops']:,}; "
          f"TensorFlow, all ops with a statistic: {sum(theirs.values()):,}")

    doc = densenet121_doc()
    engine = ShapeEngine(doc)
    engine.verify()
    counts, refreshes = [], []
    first = next(n for n in doc.graph.calls()
                 if doc.graph.layer_of(n.id).class_name == "Conv2D")
    for i in range(7):
        SetParam(first.layer_id, "filters", 64 + (i % 2)).redo(doc)  # all downstream changes
        start = time.perf_counter()
        engine.refresh()
        refreshes.append(time.perf_counter() - start)
        start = time.perf_counter()
        cost = model_cost(engine)
        counts.append(time.perf_counter() - start)
    print(f"DenseNet121 document ({len(doc.graph.layers)} layers, {cost.text()}): full count "
          f"{statistics.median(counts) * 1000:.1f} ms, shape refresh after an edit "
          f"{statistics.median(refreshes) * 1000:.1f} ms (medians of 7)")


if __name__ == "__main__":
    main()
