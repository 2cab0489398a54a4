"""Measured latency of the project's model on this machine: one batch of synthetic inputs,
run for inference (``model(x, training=False)``) with the project's weights.

The model is built from the generated code as training and the previews build it, once;
the first call (tracing, memory allocation) is a warm-up and is not timed. The median of
``repeats`` timed batches is what the app and ``layerforge summary --latency`` show; the
minimum is the best the machine did. Meant to run in the warm worker (Keras loaded
already), on demand: it takes seconds, not the live pass's milliseconds.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from ..codegen import data_plan
from ..codegen.loader import build_model
from ..codegen.portable import input_shapes, synthetic_array, synthetic_texts
from ..document.document import Document
from ..io.weights import apply_weights
from ..schema.errors import LayerForgeError
from .data import adapt_missing, model_io


def measure_latency(doc: Document, batch_size: int = 32, repeats: int = 10) -> dict[str, Any]:
    """Time ``repeats`` inference batches of ``batch_size`` synthetic samples. Returns
    ``median_ms``/``min_ms`` per batch, ``median_ms_per_sample``/``min_ms_per_sample``,
    ``batch_size``, ``repeats``, ``device`` ("CPU", or the accelerator's name) and
    ``input_shapes`` (per sample, by input: an open length takes the first that fits)."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise LayerForgeError(f"expected a batch size of at least 1; received {batch_size!r}")
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise LayerForgeError(f"expected at least 1 repeat; received {repeats!r}")
    model = build_model(doc)
    if doc.weights:
        apply_weights(model, doc)
    batch = synthetic_batch(doc, model, batch_size)
    adapt_missing(doc, model, batch)  # a vocabulary never adapted would refuse the texts
    inputs: Any = batch[model.inputs[0].name] if len(model.inputs) == 1 else \
        [batch[t.name] for t in model.inputs]
    _wait(model(inputs, training=False))  # warm-up: tracing and allocation, not timed
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _wait(model(inputs, training=False))
        times.append((time.perf_counter() - start) * 1000)
    median, best = statistics.median(times), min(times)
    return {"median_ms": median, "min_ms": best,
            "median_ms_per_sample": median / batch_size, "min_ms_per_sample": best / batch_size,
            "batch_size": batch_size, "repeats": repeats, "device": device_name(),
            "input_shapes": {name: list(array.shape[1:]) for name, array in batch.items()}}


def latency_text(result: dict[str, Any]) -> str:
    """'12.3 ms per batch of 32 (0.38 ms per sample), CPU, median of 10'."""
    return (f"{result['median_ms']:.3g} ms per batch of {result['batch_size']} "
            f"({result['median_ms_per_sample']:.2g} ms per sample), {result['device']}, "
            f"median of {result['repeats']}")


def synthetic_batch(doc: Document, model: Any, samples: int, seed: int = 0
                    ) -> dict[str, np.ndarray]:
    """Random inputs drawn as training draws synthetic data (word ids below a vocabulary,
    texts from it), by input name; open dimensions take the first length the model takes."""
    rng = np.random.default_rng(seed)
    io = model_io(doc, model)
    shapes = input_shapes(model, data_plan.open_lengths([t.name for t in io.inputs],
                                                        doc.training.data))
    batch = {}
    for t in io.inputs:
        if t.text is not None:
            batch[t.name] = synthetic_texts(rng, samples, shapes[t.name], model, t.text.layer,
                                            t.text.most)
        else:
            kind, high = data_plan.input_kind(t.dtype, t.vocab)
            batch[t.name] = synthetic_array(rng, samples, shapes[t.name], t.dtype, kind, high)
    return batch


def device_name() -> str:
    """Where Keras runs: 'GPU (<name>)' when TensorFlow sees one, else 'CPU'."""
    import tensorflow as tf  # lazy: only a measurement needs it, where Keras runs already

    gpus = tf.config.list_logical_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices(
            "GPU")[0])
        return f"GPU ({details.get('device_name', gpus[0].name)})"
    except (IndexError, ValueError):
        return "GPU"


def _wait(outputs: Any) -> None:
    """Block until the outputs are computed (an accelerator runs asynchronously)."""
    for tensor in outputs if isinstance(outputs, list | tuple) else \
            (outputs.values() if isinstance(outputs, dict) else [outputs]):
        np.asarray(tensor)
