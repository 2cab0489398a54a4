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
    over, and only nodes whose upstream fingerprint changed are recomputed."""

    def __init__(self, doc: Document, batch: dict[str, np.ndarray] | None = None,
                 samples: int = 4, seed: int = 0) -> None:
        self.doc = doc
        self.model = _built(doc)
        self.samples, self.seed = samples, seed
        self._set_batch(batch if batch is not None else sample_batch(doc, self.model, samples,
                                                                     seed))
        # Like a run, a vocabulary the project saved none of is adapted on the data at hand.
        adapt_missing(doc, self.model, self.batch)
        self._fingerprints = Fingerprints(doc)
        self._cache: dict[str, NodePreview] = {}
        self.runs = 0  # Keras sub-model runs, for tests and the bench

    def _set_batch(self, batch: dict[str, np.ndarray]) -> None:
        self.batch = batch
        self._batch_id = _digest("".join(_array_digest(a) for a in batch.values()))

    def update(self, doc: Document) -> None:
        new = _built(doc)
        if _input_specs(new) != _input_specs(self.model):  # the edit changed what is fed
            self._set_batch(sample_batch(doc, new, self.samples, self.seed))
        adapt_missing(doc, new, self.batch)
        _carry_weights(self.model, new)
        apply_weights(new, doc)
        self.doc, self.model, self._fingerprints = doc, new, Fingerprints(doc)

    def clear(self) -> None:
        """Forget every cached preview (the bench times a selection's first preview)."""
        self._cache.clear()

    def key(self, node_id: str) -> str:
        return _digest(self._fingerprints.of(node_id) + self._batch_id)

    def preview(self, node_id: str) -> NodePreview:
        key = self.key(node_id)
        if key not in self._cache:
            tensors = self._compute(node_id)
            self._cache[key] = NodePreview(node_id, tensors,
                                           tuple(tensor_stats(t) for t in tensors))
        cached = self._cache[key]
        return NodePreview(node_id, cached.tensors, cached.stats)

    def preview_all(self) -> int:
        """Fill the cache for every call node not cached yet in one pass of the model (what
        the nodes' sparklines need); returns how many nodes were computed."""
        graph = self.doc.graph
        missing = [n.id for n in graph.calls() if self.key(n.id) not in self._cache]
        if not missing:
            return 0
        outputs = [node_output(self.model, graph, node_id) for node_id in missing]
        results = iter(self.run_cut([t for tensors in outputs for t in tensors]))
        for node_id, tensors in zip(missing, outputs, strict=True):
            arrays = tuple(next(results) for _ in tensors)
            self._cache[self.key(node_id)] = NodePreview(
                node_id, arrays, tuple(tensor_stats(a) for a in arrays))
        return len(missing)

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


def _built(doc: Document) -> Any:
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
