"""Data preview per node: one node's output on a sample batch, with its statistics.

The output of a node is the output of a Keras sub-model cut at that node, run with the
model's current weights (untrained, or the document's stored ones). Previews are cached by a
fingerprint of the node's upstream subgraph, so an edit recomputes only what lies downstream
of it. It lives in ``training/`` because the sample batch is drawn like the training data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..codegen import data_plan
from ..codegen.loader import build_model
from ..codegen.portable import conform, input_shapes, synthetic_array, synthetic_texts
from ..document.document import Document
from ..document.graph import Graph
from ..io.weights import apply_weights
from ..schema.records import CallNode, InputNode, OutputNode
from .data import TensorInfo, adapt_missing, load_source, model_io

HISTOGRAM_BINS = 16
# The sample batch's every node output is kept (so a selection after the first is a lookup)
# while it fits this many bytes; the batch shrinks (to one sample at least) to fit it.
KEEP_BYTES = 512 * 2**20
MAX_SAMPLES = 4
# A sparkline's histogram is drawn from at most this many of a tensor's values (evenly spaced).
SPARKLINE_VALUES = 16_384


@dataclass(frozen=True)
class TensorStats:
    """What the Preview dock shows beside a tensor; ``histogram`` feeds the sparkline."""

    mean: float
    std: float
    min: float
    max: float
    zeros_percent: float
    nans: int
    infs: int
    histogram: tuple[int, ...]


@dataclass(frozen=True)
class NodePreview:
    node_id: str
    tensors: tuple[np.ndarray, ...]
    stats: tuple[TensorStats | None, ...]  # None: a tensor of strings


def sparkline(array: np.ndarray, bins: int = HISTOGRAM_BINS) -> list[float]:
    """A tensor's value distribution as ``bins`` heights in 0..1 (the tallest is 1); all 0
    for strings or a tensor without finite values."""
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        return [0.0] * bins
    flat = np.asarray(array).reshape(-1)
    step = max(1, flat.size // SPARKLINE_VALUES)
    values = flat[::step].astype(np.float64)
    finite = values[np.isfinite(values)]
    if not finite.size:
        return [0.0] * bins
    counts, _ = np.histogram(finite, bins=bins)
    return [float(c) / float(counts.max()) for c in counts]


def tensor_stats(array: np.ndarray, bins: int = HISTOGRAM_BINS) -> TensorStats | None:
    """Statistics over the finite values (NaN and Inf are counted apart); None for strings."""
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        return None
    values = np.asarray(array, dtype=np.float64).reshape(-1)
    finite = values[np.isfinite(values)]
    nans, infs = int(np.isnan(values).sum()), int(np.isinf(values).sum())
    zeros = 100.0 * float((values == 0).sum()) / values.size if values.size else 0.0
    if not finite.size:
        return TensorStats(float("nan"), float("nan"), float("nan"), float("nan"), zeros,
                           nans, infs, (0,) * bins)
    counts, _ = np.histogram(finite, bins=bins)
    return TensorStats(float(finite.mean()), float(finite.std()), float(finite.min()),
                       float(finite.max()), zeros, nans, infs, tuple(int(c) for c in counts))


# ------------------------------------------------------------ the sample batch
def sample_batch(doc: Document, model: Any, samples: int = 4, seed: int = 0
                 ) -> dict[str, np.ndarray]:
    """The first ``samples`` samples of each input's bound source, or synthetic data drawn
    as training draws it, by input name."""
    rng = np.random.default_rng(seed)
    bindings = doc.training.data
    io = model_io(doc, model)
    shapes = input_shapes(model, data_plan.open_lengths([t.name for t in io.inputs], bindings))
    return {t.name: _input_batch(t, bindings.get(t.name), rng, samples, shapes[t.name], model)
            for t in io.inputs}


def _input_batch(t: TensorInfo, src: Any, rng: np.random.Generator, samples: int,
                 shape: tuple[int, ...], model: Any) -> np.ndarray:
    if not data_plan.is_synthetic(src) and src is not None:
        array = conform(load_source(src, t), t.shape, t.dtype, t.label, t.loss, t.vocab,
                        src.params.get("scale"))
        return np.asarray(array[:samples])
    if t.text is not None:
        return synthetic_texts(rng, samples, shape, model, t.text.layer, t.text.most)
    kind, high = data_plan.input_kind(t.dtype, t.vocab)
    return synthetic_array(rng, samples, shape, t.dtype, kind, high)


# ------------------------------------------------------------ fingerprints
class Fingerprints:
    """Each node's fingerprint: its record, its layer's record (params, trainable flag, a
    block's whole graph, stored weights) and the fingerprints of the edges into it."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._memo: dict[str, str] = {}

    def of(self, node_id: str, graph: Graph | None = None) -> str:
        graph = graph or self.doc.graph
        if node_id not in self._memo:
            parts = [self._record(graph, node_id)]
            for edge in sorted(graph.in_edges(node_id), key=lambda e: str(e.dst_slot)):
                parts.append(f"{edge.dst_slot}<-{edge.src_index}:{self.of(edge.src, graph)}")
            self._memo[node_id] = _digest("|".join(parts))
        return self._memo[node_id]

    def _record(self, graph: Graph, node_id: str) -> str:
        node = graph.node(node_id)
        if isinstance(node, InputNode):
            return _stable(["input", node.name, node.shape, node.dtype])
        if isinstance(node, OutputNode):
            return _stable(["output", node.name])
        assert isinstance(node, CallNode)
        layer = graph.layer(node.layer_id)
        calls = [c.id for c in graph.calls_of(layer.id)]
        record = [layer.class_name, layer.name, layer.params, layer.trainable,
                  node.call_kwargs, calls.index(node.id), self._weights(layer.id)]
        if layer.block_id is not None:
            block = self.doc.block(layer.block_id).graph
            record.append(sorted(Fingerprints(self.doc).of(n.id, block) for n in block))
        return _stable(record)

    def _weights(self, layer_id: str) -> str:
        arrays = self.doc.weights.get(layer_id)
        if not arrays:
            return ""
        digest = hashlib.sha1()
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


def _stable(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


# ------------------------------------------------------------ the previewer
class Previewer:
    """Previews of one document's nodes on one sample batch. After an edit, ``update`` takes
    the edited document: the model is rebuilt with the unchanged layers' weights carried
    over, and only nodes whose upstream fingerprint changed are recomputed.

    Untrained weights are drawn from ``seed``, so the same graph previews the same numbers in
    any process. ``samples=None`` picks the largest batch (up to 4) whose every node output
    fits ``KEEP_BYTES``; then the first selection runs the whole model once and keeps every
    node's output, and later selections only look theirs up."""

    def __init__(self, doc: Document, batch: dict[str, np.ndarray] | None = None,
                 samples: int | None = None, seed: int = 0) -> None:
        self.doc = doc
        self.seed = seed
        self.model = _built(doc, seed)
        self.samples = samples if samples is not None else fitting_samples(doc, self.model)
        self._set_batch(batch if batch is not None else sample_batch(doc, self.model,
                                                                     self.samples, seed))
        # Like a run, a vocabulary the project saved none of is adapted on the data at hand.
        adapt_missing(doc, self.model, self.batch)
        self._fingerprints = Fingerprints(doc)
        self._tensors: dict[str, tuple[np.ndarray, ...]] = {}
        self._stats: dict[str, tuple[TensorStats | None, ...]] = {}
        self._sparks: dict[str, list[float]] = {}
        self.runs = 0  # Keras sub-model runs, for tests and the bench

    def _set_batch(self, batch: dict[str, np.ndarray]) -> None:
        self.batch = batch
        self._batch_id = _digest("".join(_array_digest(a) for a in batch.values()))

    def update(self, doc: Document) -> None:
        new = _built(doc, self.seed)
        if _input_specs(new) != _input_specs(self.model):  # the edit changed what is fed
            self._set_batch(sample_batch(doc, new, self.samples, self.seed))
        adapt_missing(doc, new, self.batch)
        _carry_weights(self.model, new)
        apply_weights(new, doc)
        self.doc, self.model, self._fingerprints = doc, new, Fingerprints(doc)
        # What no node of the edited graph is any more is dropped (kept outputs are large).
        live = {self.key(n) for n in doc.graph.nodes}
        for cache in (self._tensors, self._stats, self._sparks):
            for key in [k for k in cache if k not in live]:
                del cache[key]

    def clear(self) -> None:
        """Forget every cached preview (the bench times a selection's first preview)."""
        for cache in (self._tensors, self._stats, self._sparks):
            cache.clear()

    def key(self, node_id: str) -> str:
        return _digest(self._fingerprints.of(node_id) + self._batch_id)

    def is_cached(self, node_id: str) -> bool:
        return self.key(node_id) in self._tensors

    def preview(self, node_id: str) -> NodePreview:
        key = self.key(node_id)
        if key not in self._tensors:
            if isinstance(self.doc.graph.node(node_id), CallNode) and self._keeps_all():
                self.preview_all()  # one pass: every later selection is a lookup
            if key not in self._tensors:
                self._tensors[key] = self._compute(node_id)
        tensors = self._tensors[key]
        if key not in self._stats:
            self._stats[key] = tuple(tensor_stats(t) for t in tensors)
        return NodePreview(node_id, tensors, self._stats[key])

    def preview_all(self) -> int:
        """Compute every call node not cached yet in one pass of the model (what the nodes'
        sparklines need); returns how many nodes were computed."""
        missing = [n.id for n in self.doc.graph.calls() if self.key(n.id) not in self._tensors]
        for node_id, arrays in self._pass(missing):
            self._tensors[self.key(node_id)] = arrays
        return len(missing)

    def sparklines(self) -> dict[str, list[float]]:
        """Every call node's value distribution (of its first output), by node id; nodes
        neither kept nor drawn yet are computed in one pass."""
        calls = [n.id for n in self.doc.graph.calls()]
        wanted = [n for n in calls if self.key(n) not in self._sparks]
        if self._keeps_all():
            self.preview_all()
        fresh = dict(self._pass([n for n in wanted if self.key(n) not in self._tensors]))
        for node_id in wanted:
            arrays = fresh[node_id] if node_id in fresh else self._tensors[self.key(node_id)]
            self._sparks[self.key(node_id)] = sparkline(arrays[0]) if arrays else []
        return {n: self._sparks[self.key(n)] for n in calls}

    def _pass(self, node_ids: list[str]) -> list[tuple[str, tuple[np.ndarray, ...]]]:
        if not node_ids:
            return []
        outputs = [node_output(self.model, self.doc.graph, node_id) for node_id in node_ids]
        results = iter(self.run_cut([t for tensors in outputs for t in tensors]))
        return [(node_id, tuple(next(results) for _ in tensors))
                for node_id, tensors in zip(node_ids, outputs, strict=True)]

    def _keeps_all(self) -> bool:
        return activation_bytes(self.doc, self.model) * self.samples <= KEEP_BYTES

    def _compute(self, node_id: str) -> tuple[np.ndarray, ...]:
        graph = self.doc.graph
        node = graph.node(node_id)
        if isinstance(node, InputNode):
            return (np.asarray(self.batch[node.name]),)
        if isinstance(node, OutputNode):
            edge = graph.source_of(node_id)
            if edge is None:
                raise ValueError(f"expected output '{node.name}' to be connected to a layer; "
                                 "received an unconnected output: connect it to preview it")
            return self.preview(edge.src).tensors[edge.src_index:edge.src_index + 1]
        return self.run_cut(node_output(self.model, graph, node_id))

    def run_cut(self, outputs: list[Any]) -> tuple[np.ndarray, ...]:
        """Run the sub-model from the model's inputs to ``outputs`` on the batch."""
        import keras  # lazy: previews run where Keras is loaded already

        self.runs += 1
        cut = keras.Model(self.model.inputs, outputs)
        fed = [self.batch[t.name] for t in self.model.inputs]
        result = cut(fed, training=False)
        results = result if isinstance(result, list | tuple) else [result]
        return tuple(np.asarray(keras.ops.convert_to_numpy(r)) for r in results)


def activation_bytes(doc: Document, model: Any) -> int:
    """The bytes every call node's outputs take for one sample (an unknown length counts 1)."""
    total = 0
    for node in doc.graph.calls():
        for tensor in node_output(model, doc.graph, node.id):
            size = int(np.prod([d or 1 for d in tuple(tensor.shape)[1:]], dtype=np.int64))
            total += size * _itemsize(str(tensor.dtype))
    return total


def _itemsize(dtype: str) -> int:
    try:
        return np.dtype(dtype).itemsize
    except TypeError:  # strings, bfloat16: a guess is enough for a memory budget
        return 8


def fitting_samples(doc: Document, model: Any) -> int:
    """The largest batch, up to ``MAX_SAMPLES``, whose every node output fits ``KEEP_BYTES``
    (one sample at least: a model too large for that previews one cut at a time)."""
    per_sample = max(1, activation_bytes(doc, model))
    return max(1, min(MAX_SAMPLES, KEEP_BYTES // per_sample))


def node_output(model: Any, graph: Graph, node_id: str) -> list[Any]:
    """The symbolic tensors a call node produces in ``model``: a shared layer's call is
    picked by its index among the layer's calls; a block's, from the outer graph."""
    node = graph.node(node_id)
    assert isinstance(node, CallNode)
    layer = graph.layer(node.layer_id)
    index = [c.id for c in graph.calls_of(layer.id)].index(node_id)
    # Keras has no public per-call accessor (``output`` is the first call's, and a nested
    # model's own graph output for a block): the call's node holds its tensors.
    tensors = model.get_layer(layer.name)._inbound_nodes[index].output_tensors
    return list(tensors)


def _input_specs(model: Any) -> list[tuple[str, tuple[int | None, ...], str]]:
    return [(t.name, tuple(t.shape), str(t.dtype)) for t in model.inputs]


def _built(doc: Document, seed: int) -> Any:
    import keras  # lazy: previews run where Keras is loaded already

    keras.utils.set_random_seed(seed)  # the same graph draws the same untrained weights
    model = build_model(doc)
    if doc.weights:
        apply_weights(model, doc)
    return model


def _carry_weights(old: Any, new: Any) -> None:
    """Keep the current (even untrained) weights of every layer the edit left the same
    shapes, so that a cached preview upstream of the edit stays what the new model gives."""
    for layer in new.layers:
        try:
            before = old.get_layer(layer.name)
        except ValueError:
            continue
        arrays = before.get_weights()
        if arrays and [a.shape for a in arrays] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(arrays)


def _array_digest(array: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(array).tobytes()
                        if array.dtype.kind != "U" else repr(array.tolist()).encode()).hexdigest()
