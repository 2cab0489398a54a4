"""Live shapes: Keras' answers on every node, updated only downstream of an edit."""

from __future__ import annotations

import itertools
from dataclasses import replace

from layerforge.core.analysis.shapes import NodeShapes, ShapeEngine
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam


def chain(doc: Document, stack: UndoStack, shape: list[int | None], *layers: tuple[str, dict]):
    x = stack.push(edits.add_input(doc, shape, name="x")).node.id
    ids = [x]
    for class_name, params in layers:
        node = stack.push(edits.add_layer(doc, class_name, params)).node.id
        stack.push(edits.connect(doc, ids[-1], node))
        ids.append(node)
    out = stack.push(edits.add_output(doc, name="out")).node.id
    stack.push(edits.connect(doc, ids[-1], out))
    return [*ids, out]


def test_every_edge_gets_its_shape(doc, stack):
    ids = chain(doc, stack, [28, 28, 1], ("Conv2D", {"filters": 8, "kernel_size": 3}),
                ("MaxPooling2D", {}), ("Flatten", {}), ("Dense", {"units": 10}))
    engine = ShapeEngine(doc)
    shapes = [engine.shapes()[i].outputs[0] for i in ids]
    assert shapes == [(None, 28, 28, 1), (None, 26, 26, 8), (None, 13, 13, 8), (None, 1352),
                      (None, 10), (None, 10)]


def test_edit_recomputes_only_downstream_and_updates_shapes(doc, stack):
    ids = chain(doc, stack, [64], ("Dense", {"units": 32}), ("Dense", {"units": 16}),
                ("Dense", {"units": 4}))
    engine = ShapeEngine(doc)
    engine.refresh()
    second = doc.graph.layer_of(ids[2])
    changed = engine.refresh()
    assert changed == set()
    stack.push(SetParam(second.id, "units", 20))
    changed = engine.refresh()
    # the edited layer and the next one (its input changed); the output after it is unchanged
    assert changed == {ids[2]}
    assert engine.shapes()[ids[2]].outputs[0] == (None, 20)
    stack.undo()
    assert engine.refresh() == {ids[2]}
    assert engine.shapes()[ids[2]].outputs[0] == (None, 16)


def test_keras_error_lands_on_the_node_with_expected_and_received(doc, stack):
    ids = chain(doc, stack, [8], ("Conv2D", {"filters": 4, "kernel_size": 3}))
    engine = ShapeEngine(doc)
    result = engine.shapes()[ids[1]]
    assert result.outputs is None
    assert result.error is not None and result.error.target == ids[1]
    assert "ndim=4" in result.error.message and "ndim=2" in result.error.message
    assert result.error.fix is not None and result.error.fix.class_name == "Reshape"


def test_flatten_suggested_for_too_many_axes(doc, stack):
    ids = chain(doc, stack, [10, 8, 3], ("LSTM", {"units": 4}))
    error = ShapeEngine(doc).shapes()[ids[1]].error
    assert error is not None and "ndim=3" in error.message
    assert error.fix is None or error.fix.class_name in ("Flatten", "Reshape")


def test_residual_mismatch_suggests_a_projection(doc, stack):
    x = stack.push(edits.add_input(doc, [32, 32, 64], name="x")).node.id
    conv = stack.push(edits.add_layer(doc, "Conv2D", {"filters": 128, "kernel_size": 3,
                                                      "strides": 2, "padding": "same"})).node.id
    add = stack.push(edits.add_layer(doc, "Add")).node.id
    stack.push(edits.connect(doc, x, conv))
    stack.push(edits.connect(doc, conv, add))
    residual = stack.push(edits.connect(doc, x, add)).edge
    error = ShapeEngine(doc).shapes()[add].error
    assert error is not None
    assert error.fix is not None and error.fix.class_name == "Conv2D"
    assert error.fix.params == {"filters": 128, "kernel_size": 1, "padding": "same", "strides": 2}
    assert error.fix.edge_id == residual.id


def test_multi_output_layer_exposes_each_output(doc, stack):
    ids = chain(doc, stack, [10, 8], ("LSTM", {"units": 6, "return_state": True}))
    outputs = ShapeEngine(doc).shapes()[ids[1]].outputs
    assert outputs == ((None, 6), (None, 6), (None, 6))


def test_named_inputs_multi_head_attention(doc, stack):
    q = stack.push(edits.add_input(doc, [4, 8], name="q")).node.id
    v = stack.push(edits.add_input(doc, [5, 8], name="v")).node.id
    mha = stack.push(edits.add_layer(doc, "MultiHeadAttention",
                                     {"num_heads": 2, "key_dim": 4})).node.id
    stack.push(edits.connect(doc, q, mha, dst_slot="query"))
    stack.push(edits.connect(doc, v, mha, dst_slot="value"))
    assert ShapeEngine(doc).shapes()[mha].outputs == ((None, 4, 8),)


def test_shared_layer_params_counted_once(doc, stack):
    a = stack.push(edits.add_input(doc, [None, 16], name="a")).node.id
    b = stack.push(edits.add_input(doc, [None, 16], name="b")).node.id
    lstm = stack.push(edits.add_layer(doc, "LSTM", {"units": 8})).node.id
    again = stack.push(edits.call_again(doc, lstm)).node.id
    stack.push(edits.connect(doc, a, lstm))
    stack.push(edits.connect(doc, b, again))
    for name, call in (("ya", lstm), ("yb", again)):
        stack.push(edits.connect(doc, call, stack.push(edits.add_output(doc, name=name)).node.id))
    engine = ShapeEngine(doc)
    layer = doc.graph.layer_of(lstm)
    assert engine.layer_params(layer.id) == 4 * (16 * 8 + 8 * 8 + 8)
    assert engine.total_params() == 4 * (16 * 8 + 8 * 8 + 8)


def test_block_call_shapes_and_mismatch(doc, stack):
    x = stack.push(edits.add_input(doc, [12], name="x")).node.id
    d1 = stack.push(edits.add_layer(doc, "Dense", {"units": 6})).node.id
    d2 = stack.push(edits.add_layer(doc, "Dense", {"units": 3})).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    for s, t in ((x, d1), (d1, d2), (d2, out)):
        stack.push(edits.connect(doc, s, t))
    stack.push(edits.group_into_block(doc, [d1, d2], "head", [(12,)]))
    call = doc.graph.calls()[0]
    engine = ShapeEngine(doc)
    assert engine.shapes()[call.id].outputs == ((None, 3),)
    assert engine.total_params() == 12 * 6 + 6 + 6 * 3 + 3
    input_node = doc.graph.inputs()[0]
    from layerforge.core.editing.renames import EditNode

    stack.push(EditNode(input_node.id, {"shape": (7,)}))
    error = engine.shapes()[call.id].error
    assert error is not None and "expects an input of shape (None, 12)" in error.message
    assert "(None, 7)" in error.message


def test_densenet121_sized_graph_matches_keras_applications():
    """The graph the shape benchmark edits is DenseNet121: same parameter count."""
    import sys
    from pathlib import Path

    import keras

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from densenet_doc import densenet121_doc

    doc = densenet121_doc()
    engine = ShapeEngine(doc)
    assert engine.diagnostics() == []
    reference = keras.applications.DenseNet121(weights=None)
    assert len(doc.graph.calls()) == len(reference.layers) - 1
    assert engine.total_params() == reference.count_params()


def _inception_with(strides: int) -> tuple[Document, str]:
    from layerforge.core.io.templates import load_template

    doc = load_template("inception-module")
    branch_a = next(la for la in doc.graph.layers.values() if la.name == "branch_a")
    SetParam(branch_a.id, "strides", strides).redo(doc)
    concat = next(n.id for n in doc.graph.calls()
                  if doc.graph.layer(n.layer_id).class_name == "Concatenate")
    return doc, concat


def test_concatenate_of_mismatched_sizes_is_an_error_on_its_node_with_no_shape():
    doc, concat = _inception_with(1)
    engine = ShapeEngine(doc)
    engine.refresh()  # the cheap pass alone already catches merges
    result = engine.results[concat]
    assert result.outputs is None
    assert result.error is not None and result.error.target == concat
    assert "matching shapes except for the concatenation axis" in result.error.message
    assert "(None, 32, 32, 128), (None, 16, 16, 128)" in result.error.message
    out = doc.graph.outputs()[0].id
    assert engine.results[out].outputs is None  # no shape Keras would refuse downstream


def test_every_merge_layer_checks_its_inputs_live(doc, stack):
    for class_name in ("Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum",
                       "Minimum", "Dot"):
        a = stack.push(edits.add_input(doc, [4, 8])).node.id
        b = stack.push(edits.add_input(doc, [5, 6])).node.id
        merge = stack.push(edits.add_layer(doc, class_name, {})).node.id
        stack.push(edits.connect(doc, a, merge))
        stack.push(edits.connect(doc, b, merge))
        result = ShapeEngine(doc).shapes()[merge]
        assert result.outputs is None and result.error is not None, class_name


def test_refusal_found_by_building_the_weights_is_an_error_on_the_node(doc, stack):
    ids = chain(doc, stack, [8, 8, 3], ("BatchNormalization", {"axis": 0}), ("Flatten", {}))
    engine = ShapeEngine(doc)
    engine.refresh()
    assert engine.results[ids[1]].outputs == ((None, 8, 8, 3),)  # compute_output_shape passes
    assert engine.verify() == {ids[1], ids[2], ids[3]}
    error = engine.results[ids[1]].error
    assert error is not None and "fully-defined" in error.message
    assert engine.results[ids[2]].outputs is None
    assert [d.target for d in engine.diagnostics()] == [ids[1]]


def test_total_leaves_out_a_stray_layer(doc, stack):
    ids = chain(doc, stack, [12], ("Dense", {"units": 6}))
    stray = stack.push(edits.add_layer(doc, "Dense", {"units": 99})).node.id
    engine = ShapeEngine(doc)
    assert engine.total_params() == 12 * 6 + 6
    stack.push(edits.connect(doc, ids[1], stray))  # connected, yet still no output after it
    assert engine.total_params() == 12 * 6 + 6
    assert engine.layers_in_model() == [doc.graph.layer_of(ids[1]).id]


def test_a_shared_layer_refused_by_keras_is_flagged_once_at_its_first_call(doc, stack):
    a = stack.push(edits.add_input(doc, [None, 16], name="a")).node.id
    b = stack.push(edits.add_input(doc, [None, 16], name="b")).node.id
    first = stack.push(edits.add_layer(doc, "LSTM", {"units": 8})).node.id
    second = stack.push(edits.call_again(doc, first)).node.id
    stack.push(edits.connect(doc, a, first))
    stack.push(edits.connect(doc, b, second))
    engine = ShapeEngine(doc)
    assert engine.diagnostics() == []
    stack.push(SetParam(doc.graph.layer_of(first).id, "stateful", True))
    assert [d.target for d in engine.diagnostics()] == [first]
    assert "stateful" in engine.results[first].error.message
    assert engine.results[second] == NodeShapes(None)
    stack.undo()
    assert engine.diagnostics() == []
    assert engine.results[second].outputs == ((None, 8),)


def test_verify_with_a_budget_builds_a_slice_per_call_and_finishes(doc, stack):
    """A window builds a large model a slice at a time: each call with no time to spare still
    builds one layer, the total stays unknown (never built all at once) until every layer
    is built, then equals the count of a full build."""
    units = [7 + i for i in range(6)]  # sizes no other test builds: nothing is cached
    chain(doc, stack, [5], *[("Dense", {"units": u}) for u in units])
    engine = ShapeEngine(doc)
    assert engine.verifying
    engine.verify(budget_s=0.0)
    assert engine.verifying and engine.total_params(build=False) is None
    calls = 1
    while engine.verifying:
        engine.verify(budget_s=0.0)
        calls += 1
    assert calls >= len(units)  # one node per call when there is no time to spare
    sizes = [5, *units]
    expected = sum(a * b + b for a, b in itertools.pairwise(sizes))
    assert engine.total_params(build=False) == expected == ShapeEngine(doc).total_params()


def test_weights_too_many_to_build_are_refused_before_building(doc, stack):
    import time

    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    wide = stack.push(edits.add_layer(doc, "Dense", {"units": 2**31})).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, wide))
    stack.push(edits.connect(doc, wide, out))
    engine = ShapeEngine(doc)
    start = time.perf_counter()
    error = engine.shapes()[wide].error
    assert time.perf_counter() - start < 2.0  # building it takes tens of seconds, then fails
    assert error is not None and "expected at most 500,000,000 weights in one layer" in \
        error.message and "8,589,934,592" in error.message
    assert engine.total_params() is None


def test_an_embedding_table_too_large_is_refused_and_a_wide_dense_is_not(doc, stack):
    ids = stack.push(edits.add_input(doc, [10], name="ids", dtype="int32")).node.id
    table = stack.push(edits.add_layer(doc, "Embedding", {"input_dim": 2**30,
                                                         "output_dim": 8})).node.id
    stack.push(edits.connect(doc, ids, table))
    wide = stack.push(edits.add_layer(doc, "Dense", {"units": 100_000})).node.id
    stack.push(edits.connect(doc, table, wide))
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, wide, out))
    shapes = ShapeEngine(doc).shapes()
    assert "at least 8,589,934,592" in shapes[table].error.message
    assert shapes[wide].error is None or "weights in one layer" not in shapes[wide].error.message


def test_an_application_keras_refuses_to_make_is_an_error_not_a_crash(catalog):
    from layerforge.core.io.templates import load_template

    doc = load_template("dual-camera-xception", catalog)
    base = next(lay for lay in doc.graph.layers.values() if lay.class_name.startswith("app"))
    # imagenet weights with the top need 299x299 inputs; the template's are 250x250
    doc.graph.replace_layer(replace(base, params={"include_top": True, "weights": "imagenet"}),
                            "params")
    engine = ShapeEngine(doc)
    assert engine.total_params() is None
    assert any("input_shape" in d.message for d in engine.diagnostics())
