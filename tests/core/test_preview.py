"""The data preview per node: a node's tensor is the Keras sub-model's output cut at that
node, its stats are numpy's, and an edit recomputes only what lies downstream of it."""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import numpy as np
import pytest

from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.templates import load_template, template_names
from layerforge.core.schema.records import CallNode
from layerforge.core.training import preview as preview_module
from layerforge.core.training.preview import Previewer, node_output, sparkline, tensor_stats
from layerforge.core.training.preview_words import token_words

SLOW = {"dual-camera-xception"}
TEMPLATES = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
             for n in template_names()]


@cache
def previewer(name: str) -> Previewer:
    return Previewer(load_template(name), samples=2)


def picked_nodes(doc: Document) -> list[str]:
    """The layer before each output and one call in the middle of the graph."""
    graph = doc.graph
    before_outputs = [e.src for o in graph.outputs() if (e := graph.source_of(o.id))]
    calls = [n for n in graph.topological_order() if isinstance(graph.node(n), CallNode)]
    return list(dict.fromkeys([*before_outputs, calls[len(calls) // 2]]))


def keras_cut(p: Previewer, node_id: str) -> list[np.ndarray]:
    """What a user would write: a sub-model from the inputs to the node's layer's output
    (a shared layer's or a block's call: that call's tensors)."""
    import keras  # lazy: only these tests need Keras

    graph, model = p.doc.graph, p.model
    node = graph.node(node_id)
    assert isinstance(node, CallNode)
    layer = graph.layer(node.layer_id)
    simple = len(graph.calls_of(layer.id)) == 1 and not layer.is_block
    outputs = model.get_layer(layer.name).output if simple else node_output(model, graph, node_id)
    fed = [p.batch[t.name] for t in model.inputs]
    result: Any = keras.Model(model.inputs, outputs)(fed)
    results = result if isinstance(result, list | tuple) else [result]
    return [keras.ops.convert_to_numpy(r) for r in results]


@pytest.mark.parametrize("name", TEMPLATES)
def test_preview_equals_a_keras_sub_model_cut_at_the_node(name: str) -> None:
    p = previewer(name)
    for node_id in picked_nodes(p.doc):
        shown = p.preview(node_id)
        expected = keras_cut(p, node_id)
        assert len(shown.tensors) == len(expected)
        for tensor, want, stats in zip(shown.tensors, expected, shown.stats, strict=True):
            np.testing.assert_allclose(tensor, want, atol=1e-6)
            assert stats is not None
            values = tensor.astype(np.float64)
            assert stats.mean == pytest.approx(values.mean(), abs=1e-9)
            assert stats.std == pytest.approx(values.std(), abs=1e-9)
            assert (stats.min, stats.max) == (values.min(), values.max())
            assert stats.zeros_percent == pytest.approx(100 * (values == 0).mean())
            assert list(stats.histogram) == np.histogram(values, 16)[0].tolist()
            assert (stats.nans, stats.infs) == (0, 0)


def test_an_input_node_previews_the_raw_batch() -> None:
    p = previewer("sequential-mlp")
    source = p.doc.graph.inputs()[0]
    np.testing.assert_array_equal(p.preview(source.id).tensors[0], p.batch[source.name])


def test_an_edit_recomputes_only_what_lies_downstream() -> None:
    doc = load_template("sequential-mlp")
    p = Previewer(doc, samples=2)
    calls = [n for n in doc.graph.topological_order() if isinstance(doc.graph.node(n), CallNode)]
    dense = [n for n in calls if doc.graph.layer_of(n).class_name == "Dense"]
    selected, downstream, upstream = dense[1], dense[-1], dense[0]
    before = p.preview(selected)
    runs = p.runs

    SetParam(doc.graph.layer_of(downstream).id, "activation", "linear").redo(doc)
    p.update(doc)
    after = p.preview(selected)
    assert p.runs == runs
    np.testing.assert_array_equal(after.tensors[0], before.tensors[0])
    np.testing.assert_allclose(after.tensors[0], keras_cut(p, selected)[0], atol=1e-6)

    SetParam(doc.graph.layer_of(upstream).id, "activation", "tanh").redo(doc)
    p.update(doc)
    recomputed = p.preview(selected)
    assert p.runs == runs + 1
    np.testing.assert_allclose(recomputed.tensors[0], keras_cut(p, selected)[0], atol=1e-6)


def test_nan_weights_are_counted_in_the_stats() -> None:
    doc = load_template("sequential-mlp")
    dense = next(n for n in doc.graph.topological_order()
                 if isinstance(doc.graph.node(n), CallNode)
                 and doc.graph.layer_of(n).class_name == "Dense")
    layer = doc.graph.layer_of(dense)
    model = Previewer(doc, samples=2).model.get_layer(layer.name)
    kernel, bias = model.get_weights()
    doc.weights[layer.id] = [np.full_like(kernel, np.nan), np.full_like(bias, np.inf)]
    stats = Previewer(doc, samples=2).preview(dense).stats[0]
    assert stats is not None and stats.nans > 0 and stats.nans + stats.infs == 2 * bias.size


def test_stats_count_nan_inf_and_zeros_apart_from_the_finite_values() -> None:
    stats = tensor_stats(np.array([0.0, 1.0, np.nan, np.inf, -np.inf, 3.0]))
    assert stats is not None
    assert (stats.nans, stats.infs, stats.min, stats.max) == (1, 2, 0.0, 3.0)
    assert stats.zeros_percent == pytest.approx(100 / 6)
    assert sum(stats.histogram) == 3


def test_one_pass_previews_every_node_as_its_own_cut() -> None:
    doc = load_template("residual-projection")
    p, alone = Previewer(doc, samples=2), Previewer(doc, samples=2)
    for layer in p.model.layers:
        alone.model.get_layer(layer.name).set_weights(layer.get_weights())
    assert p.preview_all() == len(doc.graph.calls()) and p.runs == 1
    for node in doc.graph.calls():
        for mine, cut in zip(p.preview(node.id).tensors, alone.preview(node.id).tensors,
                             strict=True):
            np.testing.assert_allclose(mine, cut, atol=1e-6)
    assert p.runs == 1 and p.preview_all() == 0


@pytest.mark.parametrize(("expression", "nans", "infs"), [("(x - x) / 0", 8, 0),
                                                          ("x / 0 + 1", 0, 8)])
def test_a_lambda_dividing_by_zero_is_counted_in_the_stats(expression: str, nans: int,
                                                            infs: int) -> None:
    doc = Document()
    x = edits.add_input(doc, [4], name="x")
    lam = edits.add_layer(doc, "Lambda", {"expression": expression})
    out = edits.add_output(doc, name="y")
    for cmd in (x, lam, out):
        cmd.redo(doc)
    edits.connect(doc, x.node.id, lam.node.id).redo(doc)
    edits.connect(doc, lam.node.id, out.node.id).redo(doc)
    stats = Previewer(doc, samples=2).preview(lam.node.id).stats[0]
    assert stats is not None and (stats.nans, stats.infs) == (nans, infs)


def test_a_block_call_previews_the_block_applied_to_its_input() -> None:
    doc = load_template("sequential-mlp")
    calls = [n for n in doc.graph.topological_order() if isinstance(doc.graph.node(n), CallNode)]
    grouped = calls[1]
    feeding = doc.graph.in_edges(grouped)[0].src
    shape = Previewer(doc, samples=2).preview(feeding).tensors[0].shape[1:]
    edits.group_into_block(doc, [grouped], "inner", [list(shape)]).redo(doc)
    p = Previewer(doc, samples=2)
    block_call = next(n.id for n in doc.graph.calls() if doc.graph.layer_of(n.id).is_block)
    block = p.model.get_layer(doc.graph.layer_of(block_call).name)
    expected = np.asarray(block(p.preview(feeding).tensors[0]))
    np.testing.assert_allclose(p.preview(block_call).tensors[0], expected, atol=1e-6)


def test_an_input_shape_edit_draws_a_new_batch() -> None:
    doc = load_template("sequential-mlp")
    p = Previewer(doc, samples=2)
    source = doc.graph.inputs()[0]
    last = next(e.src for o in doc.graph.outputs() if (e := doc.graph.source_of(o.id)))
    p.preview(last)
    doc.graph.replace_node(dataclasses.replace(source, shape=(32,)), "shape")
    p.update(doc)
    assert p.batch[source.name].shape == (2, 32)
    np.testing.assert_allclose(p.preview(last).tensors[0], keras_cut(p, last)[0], atol=1e-6)


def test_untrained_weights_are_the_same_for_the_same_graph() -> None:
    doc = load_template("separable-convnet")
    first, second = Previewer(doc, samples=1), Previewer(doc, samples=1)
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_selection_keeps_every_node_output_so_the_next_ones_run_nothing() -> None:
    doc = load_template("residual-projection")
    p = Previewer(doc)
    assert p.samples == preview_module.MAX_SAMPLES  # a small model: the whole batch fits
    calls = [n.id for n in doc.graph.calls()]
    p.preview(calls[len(calls) // 2])
    assert p.runs == 1 and all(p.is_cached(n) for n in calls)
    for node_id in calls:
        np.testing.assert_allclose(p.preview(node_id).tensors[0], keras_cut(p, node_id)[0],
                                   atol=1e-6)
    assert p.runs == 1


def test_a_model_too_large_to_keep_previews_one_sample_one_cut_at_a_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    doc = load_template("residual-projection")
    per_sample = preview_module.activation_bytes(doc, Previewer(doc, samples=1).model)
    monkeypatch.setattr(preview_module, "KEEP_BYTES", per_sample // 2)
    p = Previewer(doc)
    assert p.samples == 1
    calls = [n.id for n in doc.graph.calls()]
    p.preview(calls[-1])
    assert p.runs == 1 and not p.is_cached(calls[0])
    np.testing.assert_allclose(p.preview(calls[0]).tensors[0], keras_cut(p, calls[0])[0],
                               atol=1e-6)
    assert p.runs == 2


def test_sparklines_are_each_call_nodes_histogram_scaled_to_its_tallest_bin() -> None:
    doc = load_template("sequential-mlp")
    p = Previewer(doc, samples=2)
    bins = p.sparklines()
    assert set(bins) == {n.id for n in doc.graph.calls()}
    for node_id, heights in bins.items():
        counts = np.histogram(p.preview(node_id).tensors[0], 16)[0]
        assert heights == pytest.approx((counts / counts.max()).tolist())
    assert sparkline(np.array(["a", "b"])) == [0.0] * 16
    assert sparkline(np.array([np.nan, np.inf])) == [0.0] * 16


def test_texts_and_token_ids_read_as_words() -> None:
    doc = load_template("text-classifier")
    p = Previewer(doc, samples=3)
    graph = doc.graph
    text = graph.inputs()[0]
    texts = token_words(p, text.id)
    assert texts is not None and list(texts) == [
        v.decode() if isinstance(v, bytes) else str(v) for v in p.batch[text.name][:, 0]]
    vectorize = next(n for n in graph.calls()
                     if graph.layer(n.layer_id).class_name == "TextVectorization")
    ids = p.preview(vectorize.id).tensors[0]
    vocabulary = p.model.get_layer(graph.layer(vectorize.layer_id).name).get_vocabulary()
    words = token_words(p, vectorize.id)
    assert words is not None and len(words) == 3
    for row, shown in zip(ids, words, strict=True):
        assert shown.split() == [vocabulary[i] for i in row if i != 0][:60]
    dense = next(n for n in graph.calls() if graph.layer(n.layer_id).class_name == "Dense")
    assert token_words(p, dense.id) is None  # floats are not token ids
