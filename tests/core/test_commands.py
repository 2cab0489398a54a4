"""Every command and edit factory, run redo -> undo -> redo with invariant checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import Macro, UndoStack
from layerforge.core.editing.graph_commands import (
    AddBlock,
    AddNode,
    Connect,
    Disconnect,
    GraphRecords,
    MoveNodes,
    RemoveBlock,
    RemoveNode,
    SetCallLayer,
    SetParam,
)
from layerforge.core.editing.renames import EditNode, RenameLayer
from layerforge.core.io.project import dumps
from layerforge.core.schema.errors import (
    ArityError,
    CycleError,
    EditError,
    NameClashError,
    ParameterError,
    UnknownIdError,
)
from layerforge.core.schema.records import CallNode, Edge, InputNode, LayerSpec, OutputNode, new_id


# ------------------------------------------------------------------ helpers
def add(stack: UndoStack, command: AddNode) -> Any:
    stack.push(command)
    return command.node


def link(stack: UndoStack, src: Any, dst: Any, **kw: Any) -> Edge:
    command = edits.connect(stack.doc, src.id, dst.id, **kw)
    stack.push(command)
    return command.edge


def chain(stack: UndoStack) -> dict[str, Any]:
    """input [8] -> Dense -> Dropout -> output."""
    doc = stack.doc
    x = add(stack, edits.add_input(doc, [8], name="x"))
    dense = add(stack, edits.add_layer(doc, "Dense", {"units": 4}))
    drop = add(stack, edits.add_layer(doc, "Dropout"))
    out = add(stack, edits.add_output(doc, name="y"))
    link(stack, x, dense)
    link(stack, dense, drop)
    link(stack, drop, out)
    return {"x": x, "dense": dense, "drop": drop, "out": out}


def assert_refused(stack: UndoStack, make: Callable[[], Any], error: type[Exception]) -> None:
    """The edit raises ``error`` (on building or pushing) and leaves the document unchanged."""
    doc = stack.doc
    before, index = dumps(doc), stack.index
    with pytest.raises(error):
        command = make()
        stack.push(command)
    assert dumps(doc) == before
    assert stack.index == index
    doc.check_invariants()


# -------------------------------------------------------------- undo stack
def test_undo_stack_bookkeeping(doc: Document, stack: UndoStack) -> None:
    assert not stack.can_undo and not stack.can_redo
    with pytest.raises(EditError):
        stack.undo()
    with pytest.raises(EditError):
        stack.redo()
    stack.set_clean()
    add(stack, edits.add_input(doc, [8]))
    add(stack, edits.add_output(doc))
    assert not stack.is_clean and stack.index == 2
    assert stack.texts() == ["Add input", "Add output"]
    stack.undo()
    stack.undo()
    assert stack.is_clean and stack.can_redo
    add(stack, edits.add_layer(doc, "Dense"))
    assert not stack.can_redo, "a push after undo drops the redo history"
    assert stack.texts() == ["Add Dense"]
    stack.undo()
    assert stack.is_clean


def test_undo_stack_changed_signal(doc: Document, stack: UndoStack) -> None:
    fired: list[int] = []
    stack.changed.connect(lambda: fired.append(stack.index))
    add(stack, edits.add_input(doc, [8]))
    stack.undo()
    stack.redo()
    assert fired == [1, 0, 1]


# ---------------------------------------------------------------- AddNode
def test_add_input(doc: Document, round_trip: Any) -> None:
    command = round_trip(edits.add_input(doc, [28, None], name="pixels", dtype="int32"))
    node = doc.graph.node(command.node.id)
    assert isinstance(node, InputNode)
    assert (node.name, node.shape, node.dtype) == ("pixels", (28, None), "int32")


def test_add_input_picks_unique_names(doc: Document, stack: UndoStack) -> None:
    first = add(stack, edits.add_input(doc, [8]))
    second = add(stack, edits.add_input(doc, [8]))
    assert (first.name, second.name) == ("input", "input_1")


def test_add_input_refuses_bad_shape(doc: Document, stack: UndoStack) -> None:
    for shape in ([0], [8.5], ["8"], [True], "8"):
        assert_refused(stack, lambda s=shape: edits.add_input(doc, s), EditError)


def test_add_input_refuses_taken_name(doc: Document, stack: UndoStack) -> None:
    add(stack, edits.add_layer(doc, "Dense", name="taken"))
    assert_refused(stack, lambda: edits.add_input(doc, [8], name="taken"), NameClashError)


def test_add_layer(doc: Document, round_trip: Any) -> None:
    command = round_trip(edits.add_layer(doc, "Conv2D", {"filters": 16}, position=(5.0, 6.0)))
    layer = doc.graph.layer_of(command.node.id)
    assert layer.class_name == "Conv2D"
    assert layer.name == "conv2d"
    assert layer.params == {"filters": 16, "kernel_size": 3}
    assert doc.graph.node(command.node.id).position == (5.0, 6.0)
    assert doc.graph.calls_of(layer.id) == [doc.graph.node(command.node.id)]


def test_add_layer_default_names(doc: Document, stack: UndoStack) -> None:
    names = [doc.graph.layer_of(add(stack, edits.add_layer(doc, cls)).id).name
             for cls in ("BatchNormalization", "Dense", "Dense", "LSTM", "MultiHeadAttention",
                         "Conv2D", "GlobalMaxPooling1D")]
    assert names == ["batch_normalization", "dense", "dense_1", "lstm", "multi_head_attention",
                     "conv2d", "global_max_pooling1d"]


def test_add_layer_with_taken_name_adds_nothing(doc: Document, stack: UndoStack) -> None:
    add(stack, edits.add_input(doc, [8], name="dense"))
    assert_refused(stack, lambda: edits.add_layer(doc, "Dense", name="dense"), NameClashError)
    assert doc.graph.layers == {}


def test_add_layer_unknown_class(doc: Document, stack: UndoStack) -> None:
    with pytest.raises(EditError, match="NoSuchLayer"):
        edits.add_layer(doc, "NoSuchLayer")
    with pytest.raises(EditError, match="input node"):
        edits.add_layer(doc, "InputLayer")


def test_add_layer_checks_params(doc: Document, stack: UndoStack) -> None:
    assert_refused(stack, lambda: edits.add_layer(doc, "Dense", {"units": "abc"}),
                   ParameterError)


def test_add_output(doc: Document, round_trip: Any) -> None:
    command = round_trip(edits.add_output(doc, name="label", loss="mse", loss_weight=0.5,
                                          metrics=["mae"]))
    node = doc.graph.node(command.node.id)
    assert isinstance(node, OutputNode)
    assert (node.name, node.loss, node.loss_weight, node.metrics) == ("label", "mse", 0.5, ["mae"])


def test_add_node_with_existing_id_is_refused(doc: Document, stack: UndoStack) -> None:
    x = add(stack, edits.add_input(doc, [8]))
    assert_refused(stack, lambda: AddNode(InputNode(x.id, "other", (8,))), EditError)


def test_add_call_of_missing_layer_is_refused(doc: Document, stack: UndoStack) -> None:
    assert_refused(stack, lambda: AddNode(CallNode(new_id(), "no-such-layer")), UnknownIdError)


# -------------------------------------------------------------- RemoveNode
def test_remove_node_with_its_edges(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = chain(stack)
    round_trip(RemoveNode(nodes["dense"].id))
    assert nodes["dense"].layer_id not in doc.graph.layers
    assert len(doc.graph.edges) == 1


def test_remove_input_and_output(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = chain(stack)
    round_trip(RemoveNode(nodes["x"].id))
    round_trip(RemoveNode(nodes["out"].id))
    assert [type(n).__name__ for n in doc.graph.nodes.values()] == ["CallNode", "CallNode"]


def diamond(stack: UndoStack) -> dict[str, Any]:
    """x -> a, x -> b; [a, b, x] -> concat -> y; a's layer called again on x (shared).

    Edges are created interleaved, so restoring the exact edge order matters.
    """
    doc = stack.doc
    x = add(stack, edits.add_input(doc, [8], name="x"))
    a = add(stack, edits.add_layer(doc, "Dense", {"units": 8}, name="a"))
    b = add(stack, edits.add_layer(doc, "Dense", {"units": 8}, name="b"))
    cat = add(stack, edits.add_layer(doc, "Concatenate", name="cat"))
    a2 = add(stack, edits.call_again(doc, a.id))
    y = add(stack, edits.add_output(doc, name="y"))
    y2 = add(stack, edits.add_output(doc, name="y2"))
    link(stack, x, a)
    link(stack, a, cat, dst_slot=0)
    link(stack, x, b)
    link(stack, x, a2)
    link(stack, b, cat, dst_slot=1)
    link(stack, cat, y)
    link(stack, x, cat, dst_slot=2)
    link(stack, a2, y2)
    return {"x": x, "a": a, "b": b, "cat": cat, "a2": a2, "y": y, "y2": y2}


def test_remove_node_with_several_edges(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = diamond(stack)
    round_trip(RemoveNode(nodes["cat"].id))
    assert len(doc.graph.edges) == 4
    assert "cat" not in [layer.name for layer in doc.graph.layers.values()]


def test_remove_one_call_of_a_shared_layer_keeps_the_layer(
    doc: Document, stack: UndoStack, round_trip: Any
) -> None:
    nodes = diamond(stack)
    layer_id = nodes["a"].layer_id
    round_trip(RemoveNode(nodes["a"].id))
    assert doc.graph.layer(layer_id).name == "a"
    assert doc.graph.calls_of(layer_id) == [doc.graph.node(nodes["a2"].id)]
    round_trip(RemoveNode(nodes["a2"].id))
    assert layer_id not in doc.graph.layers


def test_remove_nodes_macro(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = diamond(stack)
    ids = [nodes[k].id for k in ("a2", "cat", "x", "a")]
    command = round_trip(edits.remove_nodes(doc, [*ids, nodes["cat"].id]))
    assert isinstance(command, Macro) and len(command.children) == 4
    assert [n.name for n in doc.graph.layers.values()] == ["b"]
    assert doc.graph.edges == {}
    assert set(doc.graph.nodes) == {nodes["b"].id, nodes["y"].id, nodes["y2"].id}


def test_remove_nodes_checks_ids_first(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    assert_refused(stack, lambda: edits.remove_nodes(doc, [nodes["x"].id, "missing"]),
                   UnknownIdError)


# -------------------------------------------------------- Connect/Disconnect
def test_connect_and_disconnect(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = chain(stack)
    extra = add(stack, edits.add_output(doc, name="raw"))
    command = round_trip(edits.connect(doc, nodes["dense"].id, extra.id))
    assert doc.graph.edge(command.edge.id) == command.edge
    assert command.edge.dst_slot == 0
    round_trip(Disconnect(command.edge.id))
    assert command.edge.id not in doc.graph.edges
    middle = doc.graph.in_edges(nodes["drop"].id)[0]
    round_trip(Disconnect(middle.id))


def test_disconnect_unknown_edge(doc: Document, stack: UndoStack) -> None:
    chain(stack)
    assert_refused(stack, lambda: Disconnect("nope"), UnknownIdError)


def test_connect_picks_next_free_slot_of_merge(doc: Document, stack: UndoStack) -> None:
    x = add(stack, edits.add_input(doc, [8]))
    cat = add(stack, edits.add_layer(doc, "Concatenate"))
    slots = [link(stack, x, cat).dst_slot for _ in range(3)]
    assert slots == [0, 1, 2]
    assert len(doc.graph.in_edges(cat.id)) == 3, "parallel edges from one tensor are kept"
    doc.check_invariants()


@pytest.fixture
def refusals(stack: UndoStack) -> dict[str, Any]:
    doc = stack.doc
    nodes = chain(stack)
    nodes["x2"] = add(stack, edits.add_input(doc, [8], name="x2"))
    nodes["free"] = add(stack, edits.add_layer(doc, "Dense"))
    nodes["out2"] = add(stack, edits.add_output(doc, name="y2"))
    return nodes


REFUSED = [
    ("drop", 0, "dense", 0, CycleError),   # back edge
    ("drop", 0, "free", 0, None),           # fine (control)
    ("out", 0, "x", 0, ArityError),         # out of an output (and into an input)
    ("dense", 0, "dense", 0, CycleError),   # self-loop
    ("free", 0, "free", 0, CycleError),     # self-loop on an unconnected node
    ("free", 0, "x2", 0, ArityError),       # into an input
    ("out", 0, "free", 0, ArityError),      # out of an output
    ("x2", 0, "dense", 0, ArityError),      # slot already taken
    ("x2", 0, "out", 0, ArityError),        # output slot already taken
    ("x2", 0, "free", 1, ArityError),       # Dense has one input
    ("x2", 0, "free", "query", ArityError),  # not a named port
    ("x2", -1, "free", 0, ArityError),      # negative output index
]


@pytest.mark.parametrize(("src", "src_index", "dst", "slot", "error"), REFUSED)
def test_connect_refusals_agree_with_can_connect(
    stack: UndoStack, refusals: dict[str, Any], src: str, src_index: int, dst: str,
    slot: Any, error: type[Exception] | None,
) -> None:
    graph = stack.doc.graph
    s, d = refusals[src].id, refusals[dst].id
    assert graph.can_connect(s, src_index, d, slot) is (error is None)
    found = graph.connection_error(s, src_index, d, slot)
    if error is None:
        assert found is None
        return
    assert type(found) is error
    assert_refused(stack, lambda: edits.connect(stack.doc, s, d, src_index=src_index,
                                                dst_slot=slot), error)
    # The command itself refuses too (e.g. a stale command built before another edit).
    assert_refused(stack, lambda: Connect(Edge(new_id(), s, src_index, d, slot)), error)


def test_cycle_message_says_what_is_wrong(stack: UndoStack, refusals: dict[str, Any]) -> None:
    with pytest.raises(CycleError, match="cycle") as info:
        edits.connect(stack.doc, refusals["drop"].id, refusals["dense"].id, dst_slot=0)
    assert "Dropout 'dropout'" in str(info.value) and "Dense 'dense'" in str(info.value)


def test_connect_into_full_node_without_slot(stack: UndoStack, refusals: dict[str, Any]) -> None:
    assert_refused(stack, lambda: edits.connect(stack.doc, refusals["x2"].id,
                                                refusals["dense"].id), EditError)


def test_connect_unknown_node(stack: UndoStack, refusals: dict[str, Any]) -> None:
    graph = stack.doc.graph
    assert not graph.can_connect("nope", 0, refusals["free"].id, 0)
    assert_refused(stack, lambda: edits.connect(stack.doc, "nope", refusals["free"].id),
                   UnknownIdError)


@pytest.mark.parametrize("merge", ["Concatenate", "Add", "Average", "Maximum", "Multiply"])
def test_merge_layers_take_several_inputs(doc: Document, stack: UndoStack, merge: str) -> None:
    xs = [add(stack, edits.add_input(doc, [8])) for _ in range(3)]
    node = add(stack, edits.add_layer(doc, merge))
    spec = doc.graph.port_spec(node.id)
    assert (spec.kind, spec.min) == ("list", 2)
    for slot, x in enumerate(xs):
        assert doc.graph.can_connect(x.id, 0, node.id, slot)
        link(stack, x, node, dst_slot=slot)
    assert doc.graph.connected_slots(node.id) == {0, 1, 2}
    assert spec.missing({0}) and not spec.missing({0, 1})
    assert not doc.graph.can_connect(xs[0].id, 0, node.id, "query")
    doc.check_invariants()


def test_multi_head_attention_named_slots(doc: Document, stack: UndoStack,
                                          round_trip: Any) -> None:
    q = add(stack, edits.add_input(doc, [4, 8], name="q"))
    v = add(stack, edits.add_input(doc, [5, 8], name="v"))
    mha = add(stack, edits.add_layer(doc, "MultiHeadAttention"))
    assert doc.graph.next_free_slot(mha.id) == "query"
    for bad in ("foo", 0, 1):
        assert not doc.graph.can_connect(q.id, 0, mha.id, bad)
        assert_refused(stack, lambda b=bad: edits.connect(doc, q.id, mha.id, dst_slot=b),
                       ArityError)
    round_trip(edits.connect(doc, q.id, mha.id, dst_slot="query"))
    assert doc.graph.port_spec(mha.id).missing({"query"}) == ["value"]
    round_trip(edits.connect(doc, v.id, mha.id, dst_slot="value"))
    assert doc.graph.next_free_slot(mha.id) == "key"
    round_trip(edits.connect(doc, v.id, mha.id))
    assert doc.graph.connected_slots(mha.id) == {"query", "value", "key"}
    assert doc.graph.next_free_slot(mha.id) is None
    assert_refused(stack, lambda: edits.connect(doc, q.id, mha.id, dst_slot="query"),
                   ArityError)


# ---------------------------------------------------------------- SetParam
def test_set_param(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = chain(stack)
    layer_id = nodes["dense"].layer_id
    round_trip(SetParam(layer_id, "activation", "relu"))
    assert doc.graph.layer(layer_id).params == {"units": 4, "activation": "relu"}
    round_trip(SetParam(layer_id, "units", 10))
    assert doc.graph.layer(layer_id).params["units"] == 10


def test_set_param_back_to_default_removes_key(doc: Document, stack: UndoStack,
                                               round_trip: Any) -> None:
    nodes = chain(stack)
    layer_id = nodes["dense"].layer_id
    stack.push(SetParam(layer_id, "use_bias", False))
    stack.push(SetParam(layer_id, "activation", "tanh"))
    assert list(doc.graph.layer(layer_id).params) == ["units", "use_bias", "activation"]
    round_trip(SetParam(layer_id, "use_bias", True))
    assert list(doc.graph.layer(layer_id).params) == ["units", "activation"]
    round_trip(SetParam(layer_id, "activation", None))
    assert doc.graph.layer(layer_id).params == {"units": 4}


def test_set_param_back_to_a_named_default(doc: Document, stack: UndoStack) -> None:
    emb = add(stack, edits.add_layer(doc, "Embedding"))
    stack.push(SetParam(emb.layer_id, "embeddings_initializer", "zeros"))
    stack.push(SetParam(emb.layer_id, "embeddings_initializer", "uniform"))
    assert "embeddings_initializer" not in doc.graph.layer(emb.layer_id).params


def test_set_required_param_to_its_suggestion_keeps_key(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    layer_id = nodes["dense"].layer_id
    stack.push(SetParam(layer_id, "units", 32))
    assert doc.graph.layer(layer_id).params == {"units": 32}


@pytest.mark.parametrize(("name", "value"), [
    ("units", "abc"), ("units", 2.5), ("units", True), ("use_bias", 1),
    ("activation", "no_such_activation"), ("activation", 3), ("nope", 1),
])
def test_set_param_wrong_kind_changes_nothing(doc: Document, stack: UndoStack, name: str,
                                              value: Any) -> None:
    nodes = chain(stack)
    layer_id = nodes["dense"].layer_id
    assert_refused(stack, lambda: SetParam(layer_id, name, value), ParameterError)
    with pytest.raises(ParameterError, match=f"'{name}'"):
        SetParam(layer_id, name, value).redo(doc)


def test_set_param_message(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    with pytest.raises(ParameterError) as info:
        SetParam(nodes["dense"].layer_id, "units", "abc").redo(doc)
    text = str(info.value)
    assert "expected an integer" in text and "received 'abc'" in text and "'dense'" in text


def test_set_param_conv_tuples_and_choices(doc: Document, stack: UndoStack,
                                           round_trip: Any) -> None:
    conv = add(stack, edits.add_layer(doc, "Conv2D"))
    round_trip(SetParam(conv.layer_id, "kernel_size", [3, 5]))
    round_trip(SetParam(conv.layer_id, "padding", "same"))
    assert_refused(stack, lambda: SetParam(conv.layer_id, "kernel_size", [3, 3, 3]),
                   ParameterError)
    assert_refused(stack, lambda: SetParam(conv.layer_id, "padding", "causal"), ParameterError)


def test_set_param_on_block_is_refused(doc: Document, stack: UndoStack) -> None:
    block_id = make_block(stack)
    use = add(stack, edits.use_block(doc, block_id))
    assert_refused(stack, lambda: SetParam(use.layer_id, "units", 3), ParameterError)


# -------------------------------------------------------------- RenameLayer
def test_rename_layer(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = chain(stack)
    round_trip(RenameLayer(nodes["dense"].layer_id, "hidden"))
    assert doc.graph.layer(nodes["dense"].layer_id).name == "hidden"


def test_rename_layer_refusals(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    layer_id = nodes["dense"].layer_id
    assert_refused(stack, lambda: RenameLayer(layer_id, "dropout"), NameClashError)
    assert_refused(stack, lambda: RenameLayer(layer_id, "x"), NameClashError)
    for bad in ("", "   ", "a/b"):
        assert_refused(stack, lambda b=bad: RenameLayer(layer_id, b), EditError)
    assert_refused(stack, lambda: RenameLayer("missing", "fine"), UnknownIdError)


# ---------------------------------------------------------------- EditNode
def test_edit_input_shape_and_dtype(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = chain(stack)
    round_trip(EditNode(nodes["x"].id, {"shape": [16, None], "dtype": "float16"}))
    node = doc.graph.node(nodes["x"].id)
    assert list(node.shape) == [16, None] and node.dtype == "float16"
    round_trip(EditNode(nodes["x"].id, {"name": "features"}))
    assert doc.graph.node(nodes["x"].id).name == "features"


def test_edit_output_loss_and_metrics(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = chain(stack)
    round_trip(EditNode(nodes["out"].id, {"loss": "mse", "metrics": ["mae", "mse"],
                                          "loss_weight": 0.25}))
    node = doc.graph.node(nodes["out"].id)
    assert (node.loss, node.metrics, node.loss_weight) == ("mse", ["mae", "mse"], 0.25)


@pytest.mark.parametrize(("key", "changes"), [
    ("x", {"shape": [0]}), ("x", {"shape": "8"}), ("x", {"shape": [8.0]}),
    ("x", {"shape": [-1]}), ("x", {"loss": "mse"}), ("x", {"name": ""}),
    ("out", {"metrics": "mae"}), ("out", {"metrics": [1]}), ("out", {"loss_weight": "1"}),
    ("out", {"shape": [8]}), ("dense", {"name": "z"}),
])
def test_edit_node_refusals(doc: Document, stack: UndoStack, key: str,
                            changes: dict[str, Any]) -> None:
    nodes = chain(stack)
    assert_refused(stack, lambda: EditNode(nodes[key].id, changes), EditError)


def test_edit_input_name_clash(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    assert_refused(stack, lambda: EditNode(nodes["x"].id, {"name": "dense"}), NameClashError)


def test_bad_shape_message(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    with pytest.raises(EditError, match=r"expected a shape.*received \[0\]"):
        EditNode(nodes["x"].id, {"shape": [0]}).redo(doc)


# ---------------------------------------------------------------- MoveNodes
def test_move_nodes(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = chain(stack)
    round_trip(MoveNodes({nodes["x"].id: (10.0, 20.0), nodes["out"].id: [30, 40]}))
    assert doc.graph.node(nodes["x"].id).position == (10.0, 20.0)
    assert doc.graph.node(nodes["out"].id).position == (30, 40)
    assert doc.graph.node(nodes["dense"].id).position == (0.0, 0.0)


def test_move_unknown_node(doc: Document, stack: UndoStack) -> None:
    chain(stack)
    assert_refused(stack, lambda: MoveNodes({"nope": (1.0, 1.0)}), UnknownIdError)


def test_refused_move_moves_nothing(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    assert_refused(stack, lambda: MoveNodes({nodes["x"].id: (5.0, 5.0), "nope": (1.0, 1.0)}),
                   UnknownIdError)


# ------------------------------------------------------------ shared layers
def test_call_again_shares_the_layer(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = chain(stack)
    dense = doc.graph.node(nodes["dense"].id)
    command = round_trip(edits.call_again(doc, dense.id))
    again = doc.graph.node(command.node.id)
    assert again.layer_id == dense.layer_id
    assert again.position == (40.0, 40.0)
    assert len(doc.graph.layers) == 2
    assert doc.graph.calls_of(dense.layer_id) == [dense, again]


def test_call_again_needs_a_call(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    with pytest.raises(EditError, match="input node"):
        edits.call_again(doc, nodes["x"].id)


def test_share_layer(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    doc_nodes = diamond(stack)
    b_layer = doc_nodes["b"].layer_id
    layer_order = [layer.name for layer in doc.graph.layers.values()]
    assert layer_order == ["a", "b", "cat"]
    round_trip(edits.share_layer(doc, doc_nodes["b"].id, doc_nodes["a"].layer_id))
    assert b_layer not in doc.graph.layers, "the unused layer is dropped"
    assert len(doc.graph.calls_of(doc_nodes["a"].layer_id)) == 3


def test_share_layer_refuses_unfitting_ports(doc: Document, stack: UndoStack) -> None:
    nodes = diamond(stack)
    assert_refused(stack, lambda: edits.share_layer(doc, nodes["cat"].id, nodes["a"].layer_id),
                   ArityError)
    assert_refused(stack, lambda: edits.share_layer(doc, nodes["a"].id, "missing"),
                   UnknownIdError)
    assert_refused(stack, lambda: SetCallLayer(nodes["x"].id, nodes["a"].layer_id), EditError)


def test_make_unique(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = diamond(stack)
    shared = nodes["a"].layer_id
    stack.push(SetParam(shared, "activation", "relu"))
    round_trip(edits.make_unique(doc, nodes["a2"].id))
    own = doc.graph.layer_of(nodes["a2"].id)
    assert own.id != shared and own.name == "a_1"
    assert own.params == doc.graph.layer(shared).params == {"units": 8, "activation": "relu"}
    assert own.params is not doc.graph.layer(shared).params
    assert doc.graph.calls_of(shared) == [doc.graph.node(nodes["a"].id)]


def test_make_unique_of_single_call_replaces_layer(doc: Document, stack: UndoStack,
                                                   round_trip: Any) -> None:
    nodes = diamond(stack)
    old = nodes["b"].layer_id
    round_trip(edits.make_unique(doc, nodes["b"].id))
    assert old not in doc.graph.layers
    assert doc.graph.layer_of(nodes["b"].id).name == "b_1"


def test_make_unique_refuses_unfitting_ports_and_adds_nothing(doc: Document,
                                                              stack: UndoStack) -> None:
    nodes = diamond(stack)
    command = SetCallLayer(nodes["cat"].id, "copy",
                           LayerSpec("copy", "Dense", "copy", {"units": 2}))
    assert_refused(stack, lambda: command, ArityError)
    assert "copy" not in doc.graph.layers


# ------------------------------------------------------------------ blocks
def make_block(stack: UndoStack, name: str = "blk") -> str:
    """A block: input [8] -> Dense(4) -> output, added with AddBlock."""
    x = InputNode(new_id(), "block_in", (8,))
    layer = LayerSpec(new_id(), "Dense", "inner", {"units": 4})
    call = CallNode(new_id(), layer.id)
    out = OutputNode(new_id(), "block_out")
    records = GraphRecords([layer], [x, call, out],
                           [Edge(new_id(), x.id, 0, call.id, 0),
                            Edge(new_id(), call.id, 0, out.id, 0)])
    block_id = new_id()
    stack.push(AddBlock(block_id, name, records))
    return block_id


def test_add_and_remove_block(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    block_id = make_block(stack)
    assert [layer.name for layer in doc.block(block_id).graph.layers.values()] == ["inner"]
    stack.undo()
    x = InputNode(new_id(), "i", (8,))
    round_trip(AddBlock(block_id, "blk", GraphRecords([], [x], [])))
    round_trip(RemoveBlock(block_id))
    assert doc.blocks == {}


def test_add_block_name_clash(doc: Document, stack: UndoStack) -> None:
    make_block(stack)
    assert_refused(stack, lambda: AddBlock(new_id(), "blk", GraphRecords([], [], [])),
                   NameClashError)


def test_use_block(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    block_id = make_block(stack)
    x = add(stack, edits.add_input(doc, [8], name="x"))
    command = round_trip(edits.use_block(doc, block_id, position=(1.0, 2.0)))
    layer = doc.graph.layer_of(command.node.id)
    assert layer.is_block and layer.block_id == block_id and layer.name == "blk"
    assert doc.graph.port_spec(command.node.id).kind == "single"
    round_trip(edits.connect(doc, x.id, command.node.id))
    second = round_trip(edits.use_block(doc, block_id))
    assert doc.graph.layer_of(second.node.id).name == "blk_1"
    assert_refused(stack, lambda: RemoveBlock(block_id), EditError)


def test_use_block_inside_itself_is_refused(doc: Document, stack: UndoStack) -> None:
    block_id = make_block(stack)
    assert_refused(stack, lambda: edits.use_block(doc, block_id, graph_key=block_id), EditError)


def test_edits_inside_a_block_graph(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    block_id = make_block(stack)
    inner = doc.block(block_id).graph
    dense = inner.calls()[0]
    round_trip(SetParam(dense.layer_id, "units", 7, graph_key=block_id))
    round_trip(edits.add_layer(doc, "Dropout", graph_key=block_id))
    round_trip(RemoveNode(dense.id, graph_key=block_id))
    assert doc.graph.nodes == {}


def grouped_chain(stack: UndoStack) -> dict[str, Any]:
    """x -> d1 -> d2 -> y, and y2 fed from d1: grouping [d1, d2] has two outputs."""
    doc = stack.doc
    x = add(stack, edits.add_input(doc, [8], name="x"))
    d1 = add(stack, edits.add_layer(doc, "Dense", {"units": 8}, name="d1", position=(0.0, 10.0)))
    d2 = add(stack, edits.add_layer(doc, "Dropout", name="d2", position=(0.0, 30.0)))
    y = add(stack, edits.add_output(doc, name="y"))
    y2 = add(stack, edits.add_output(doc, name="y2"))
    link(stack, x, d1)
    link(stack, d1, d2)
    link(stack, d2, y)
    link(stack, d1, y2)
    return {"x": x, "d1": d1, "d2": d2, "y": y, "y2": y2}


def test_group_into_block_and_ungroup(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = grouped_chain(stack)
    original = {layer.name: layer.params for layer in doc.graph.layers.values()}
    command = round_trip(edits.group_into_block(doc, [nodes["d2"].id, nodes["d1"].id], "pair",
                                                [[8]]))
    assert isinstance(command, Macro)
    assert isinstance(command.children[0], AddBlock)
    (block,) = doc.blocks.values()
    assert block.name == "pair"
    assert [layer.name for layer in block.graph.layers.values()] == ["d1", "d2"]
    assert [n.name for n in block.graph.inputs()] == ["x_in"]
    assert len(block.graph.outputs()) == 2
    (call,) = doc.graph.calls()
    assert call.position == (0.0, 20.0)
    # Outputs are named after the layer feeding them: the block's call takes the first; the
    # second output of that layer keeps its name (an Identity carries it in the code).
    assert {doc.graph.node(e.dst).name: e.src_index for e in doc.graph.out_edges(call.id)} \
        == {"pair": 0, "d1": 1}

    round_trip(edits.ungroup(doc, call.id))
    assert doc.blocks == {}
    assert {layer.name: layer.params for layer in doc.graph.layers.values()} == original
    feeds = {doc.graph.node(e.dst).name: doc.graph.describe(e.src)
             for e in doc.graph.edges.values() if isinstance(doc.graph.node(e.dst), OutputNode)}
    assert feeds == {"d2": "Dropout 'd2'", "d1": "Dense 'd1'"}


def test_group_two_inputs_into_block(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    a = add(stack, edits.add_input(doc, [8], name="a"))
    b = add(stack, edits.add_input(doc, [4], name="b"))
    cat = add(stack, edits.add_layer(doc, "Concatenate", name="cat"))
    y = add(stack, edits.add_output(doc, name="y"))
    link(stack, a, cat)
    link(stack, b, cat)
    link(stack, cat, y)
    round_trip(edits.group_into_block(doc, [cat.id], "merge", [[8], [4]]))
    (block,) = doc.blocks.values()
    assert [n.shape for n in block.graph.inputs()] == [(8,), (4,)]
    (call,) = doc.graph.calls()
    spec = doc.graph.port_spec(call.id)
    assert (spec.kind, spec.min, spec.max) == ("list", 2, 2)
    assert sorted(e.dst_slot for e in doc.graph.in_edges(call.id)) == [0, 1]
    round_trip(edits.ungroup(doc, call.id))
    (cat_again,) = doc.graph.calls()
    assert [doc.graph.node(e.src).name for e in
            sorted(doc.graph.in_edges(cat_again.id), key=lambda e: e.dst_slot)] == ["a", "b"]


def test_ungroup_keeps_block_used_elsewhere(doc: Document, stack: UndoStack,
                                            round_trip: Any) -> None:
    block_id = make_block(stack)
    x = add(stack, edits.add_input(doc, [8], name="x"))
    first = add(stack, edits.use_block(doc, block_id))
    add(stack, edits.use_block(doc, block_id))
    link(stack, x, first)
    command = round_trip(edits.ungroup(doc, first.id))
    assert not any(isinstance(c, RemoveBlock) for c in command.children)
    assert block_id in doc.blocks
    assert [layer.name for layer in doc.graph.layers.values()] == ["blk_1", "inner"]


def test_group_refusals(doc: Document, stack: UndoStack) -> None:
    nodes = grouped_chain(stack)
    with pytest.raises(EditError, match="expected 1 input shapes"):
        edits.group_into_block(doc, [nodes["d1"].id], "g", [])
    with pytest.raises(EditError, match="input node"):
        edits.group_into_block(doc, [nodes["x"].id, nodes["d1"].id], "g", [[8]])
    with pytest.raises(EditError, match="select"):
        edits.group_into_block(doc, [], "g", [])
    again = add(stack, edits.call_again(doc, nodes["d1"].id))
    with pytest.raises(EditError, match="also called outside"):
        edits.group_into_block(doc, [nodes["d1"].id], "g", [[8]])
    with pytest.raises(EditError, match="not a block"):
        edits.ungroup(doc, again.id)


# ------------------------------------------------------------------ Macro
def test_macro_rolls_back_when_a_child_fails(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    extra = edits.add_layer(doc, "Dense", name="extra")
    bad = Macro("broken", [
        extra,
        SetParam(nodes["dense"].layer_id, "units", 99),
        RemoveNode(nodes["drop"].id),
        Connect(Edge(new_id(), nodes["out"].id, 0, extra.node.id, 0)),  # out of an output
    ])
    assert_refused(stack, lambda: bad, ArityError)
    assert doc.graph.layer(nodes["dense"].layer_id).params["units"] == 4
    assert nodes["drop"].id in doc.graph.nodes


def test_macro_rollback_restores_exact_order(doc: Document, stack: UndoStack) -> None:
    nodes = diamond(stack)
    bad = Macro("broken", [
        RemoveNode(nodes["a"].id),
        RemoveNode(nodes["x"].id),
        RenameLayer(nodes["b"].layer_id, "cat"),  # name clash
    ])
    assert_refused(stack, lambda: bad, NameClashError)


def test_macro_round_trip(doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = chain(stack)
    relu = edits.add_layer(doc, "Activation", {"activation": "relu"})
    round_trip(Macro("insert", [
        Disconnect(doc.graph.in_edges(nodes["out"].id)[0].id),
        relu,
        Connect(Edge(new_id(), nodes["drop"].id, 0, relu.node.id, 0)),
        Connect(Edge(new_id(), relu.node.id, 0, nodes["out"].id, 0)),
    ]))
    assert doc.graph.topological_order()[-2:] == [relu.node.id, nodes["out"].id]


# ------------------------------------------------------------------ signals
def record(obj: Any, *names: str) -> list[tuple[Any, ...]]:
    log: list[tuple[Any, ...]] = []
    for name in names:
        getattr(obj, name).connect(lambda *args, _n=name: log.append((_n, *args)))
    return log


def test_add_node_signals(doc: Document, stack: UndoStack) -> None:
    graph = doc.graph
    seen: list[bool] = []
    graph.node_adding.connect(lambda n: seen.append(n.id in graph.nodes))
    graph.node_added.connect(lambda n: seen.append(n.id in graph.nodes))
    log = record(graph, "layer_adding", "layer_added", "node_adding", "node_added",
                 "node_removing", "node_removed", "layer_removing", "layer_removed")
    command = edits.add_layer(doc, "Dense")
    stack.push(command)
    assert log == [("layer_adding", command.layer), ("layer_added", command.layer),
                   ("node_adding", command.node), ("node_added", command.node)]
    assert seen == [False, True]
    log.clear()
    stack.undo()
    assert log == [("node_removing", command.node), ("node_removed", command.node),
                   ("layer_removing", command.layer), ("layer_removed", command.layer)]


def test_edge_signals(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    graph = doc.graph
    edge = graph.in_edges(nodes["out"].id)[0]
    present: list[bool] = []
    graph.edge_removing.connect(lambda e: present.append(e.id in graph.edges))
    graph.edge_removed.connect(lambda e: present.append(e.id in graph.edges))
    log = record(graph, "edge_adding", "edge_added", "edge_removing", "edge_removed")
    stack.push(Disconnect(edge.id))
    assert log == [("edge_removing", edge), ("edge_removed", edge)]
    assert present == [True, False]
    log.clear()
    stack.undo()
    assert log == [("edge_adding", edge), ("edge_added", edge)]


def test_layer_changed_signals(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    graph = doc.graph
    old = graph.layer_of(nodes["dense"].id)
    log = record(graph, "layer_changing", "layer_changed")
    stack.push(SetParam(old.id, "units", 12))
    new = graph.layer(old.id)
    assert log == [("layer_changing", old, "units"), ("layer_changed", new, "units")]
    assert new.params["units"] == 12 and old.params["units"] == 4
    log.clear()
    stack.push(RenameLayer(old.id, "hidden"))
    assert [(n, layer.name, what) for n, layer, what in log] == [
        ("layer_changing", "dense", "name"), ("layer_changed", "hidden", "name")]
    log.clear()
    stack.undo()
    assert [(n, layer.name, what) for n, layer, what in log] == [
        ("layer_changing", "hidden", "name"), ("layer_changed", "dense", "name")]


def test_node_changed_signals(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    graph = doc.graph
    log = record(graph, "node_changing", "node_changed")
    stack.push(MoveNodes({nodes["x"].id: (3.0, 4.0)}))
    assert [(n, node.position, what) for n, node, what in log] == [
        ("node_changing", (0.0, 0.0), "position"), ("node_changed", (3.0, 4.0), "position")]
    log.clear()
    stack.push(EditNode(nodes["out"].id, {"loss": "mse", "metrics": ["mae"]}))
    assert [(n, what) for n, _, what in log] == [("node_changing", "loss,metrics"),
                                                 ("node_changed", "loss,metrics")]
    log.clear()
    stack.push(edits.share_layer(doc, nodes["drop"].id, nodes["dense"].layer_id))
    assert [(n, getattr(node, "layer_id", None) or node.name, what) for n, node, what in log] == [
        ("node_changing", nodes["drop"].layer_id, "layer"),
        ("node_changed", nodes["dense"].layer_id, "layer"),
        # the output fed by that call takes the name of its new layer
        ("node_changing", "dropout", "name"), ("node_changed", "dense", "name")]


def test_block_signals(doc: Document, stack: UndoStack) -> None:
    log = record(doc, "block_adding", "block_added", "block_removing", "block_removed")
    block_id = make_block(stack)
    block = doc.block(block_id)
    assert log == [("block_adding", block), ("block_added", block)]
    log.clear()
    stack.undo()
    assert log == [("block_removing", block), ("block_removed", block)]


def test_refused_edit_emits_nothing(doc: Document, stack: UndoStack) -> None:
    nodes = chain(stack)
    log = record(doc.graph, "edge_adding", "edge_added", "layer_changing", "layer_changed",
                 "layer_adding", "node_adding")
    with pytest.raises(CycleError):
        Connect(Edge(new_id(), nodes["drop"].id, 0, nodes["dense"].id, 0)).redo(doc)
    with pytest.raises(ParameterError):
        SetParam(nodes["dense"].layer_id, "units", "x").redo(doc)
    with pytest.raises(NameClashError):
        edits.add_layer(doc, "Dense", name="x").redo(doc)
    assert log == []


# ------------------------------------------------- output names are layer names
def names(doc: Document) -> tuple[list[str], list[str]]:
    """(layer and input names, output names) as a user reads them on the canvas."""
    graph = doc.graph
    return ([n.name for n in graph.inputs()] + [la.name for la in graph.layers.values()],
            [o.name for o in graph.outputs()])


def unconnected(stack: UndoStack, output: str = "answer") -> dict[str, Any]:
    """input x -> Dense 'dense', and an output not yet connected."""
    doc = stack.doc
    x = add(stack, edits.add_input(doc, [8], name="x"))
    dense = add(stack, edits.add_layer(doc, "Dense", {"units": 4}))
    link(stack, x, dense)
    return {"x": x, "dense": dense, "out": add(stack, edits.add_output(doc, name=output))}


def test_connecting_an_output_names_it_after_the_layer(doc: Document, stack: UndoStack,
                                                      round_trip: Any) -> None:
    nodes = unconnected(stack)
    round_trip(edits.connect(doc, nodes["dense"].id, nodes["out"].id))
    assert names(doc) == (["x", "dense"], ["dense"])
    stack.undo()
    assert names(doc) == (["x", "dense"], ["answer"])


def test_connecting_an_output_to_an_input_names_it_after_the_input(
        doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = unconnected(stack)
    round_trip(edits.connect(doc, nodes["x"].id, nodes["out"].id))
    assert names(doc)[1] == ["x"]


def test_a_tensor_that_is_already_an_output_keeps_the_second_outputs_name(
        doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = unconnected(stack)
    link(stack, nodes["dense"], nodes["out"])
    extra = add(stack, edits.add_output(doc, name="extra"))
    round_trip(edits.connect(doc, nodes["dense"].id, extra.id))
    assert names(doc)[1] == ["dense", "extra"]


def test_dragging_an_output_out_of_a_port_is_one_step(doc: Document, stack: UndoStack,
                                                      round_trip: Any) -> None:
    """What the canvas pushes when a user drops a new Output off a layer's port."""
    nodes = unconnected(stack)
    out = edits.add_output(doc)
    round_trip(Macro("Add output", [out, Connect(Edge(new_id(), nodes["dense"].id, 0,
                                                      out.node.id, 0))]))
    assert names(doc)[1] == ["answer", "dense"]
    stack.undo()
    assert names(doc)[1] == ["answer"]


def test_renaming_a_layer_renames_its_output(doc: Document, stack: UndoStack,
                                             round_trip: Any) -> None:
    nodes = unconnected(stack)
    link(stack, nodes["dense"], nodes["out"])
    extra = add(stack, edits.add_output(doc, name="extra"))
    link(stack, nodes["dense"], extra)
    round_trip(RenameLayer(nodes["dense"].layer_id, "answer"))
    assert names(doc) == (["x", "answer"], ["answer", "extra"])


def test_renaming_an_output_renames_its_layer(doc: Document, stack: UndoStack,
                                             round_trip: Any) -> None:
    nodes = unconnected(stack)
    link(stack, nodes["dense"], nodes["out"])
    round_trip(EditNode(nodes["out"].id, {"name": "answer", "loss": "mse"}))
    assert names(doc) == (["x", "answer"], ["answer"])
    assert doc.graph.node(nodes["out"].id).loss == "mse"


def test_renaming_an_output_fed_by_an_input_renames_the_input(
        doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = unconnected(stack)
    link(stack, nodes["x"], nodes["out"])
    round_trip(EditNode(nodes["out"].id, {"name": "features"}))
    assert names(doc) == (["features", "dense"], ["features"])
    round_trip(EditNode(nodes["x"].id, {"name": "raw", "shape": [4]}))
    assert names(doc) == (["raw", "dense"], ["raw"])
    assert doc.graph.node(nodes["x"].id).shape == (4,)


def test_renaming_an_output_to_a_taken_name_is_refused(doc: Document, stack: UndoStack) -> None:
    nodes = unconnected(stack)
    link(stack, nodes["dense"], nodes["out"])
    other = add(stack, edits.add_layer(doc, "Dense", {"units": 2}, name="other"))
    link(stack, nodes["dense"], other)
    with pytest.raises(NameClashError, match="'other' is already used"):
        stack.push(EditNode(nodes["out"].id, {"name": "other"}))
    assert_refused(stack, lambda: EditNode(nodes["out"].id, {"name": "x", "loss": "mse"}),
                   NameClashError)
    assert names(doc) == (["x", "dense", "other"], ["dense"])


def test_renaming_a_layer_to_an_output_name_is_refused(doc: Document, stack: UndoStack) -> None:
    nodes = unconnected(stack)
    link(stack, nodes["dense"], nodes["out"])
    other = add(stack, edits.add_layer(doc, "Dense", {"units": 2}, name="other"))
    link(stack, nodes["x"], other)
    with pytest.raises(NameClashError, match="'dense' is already used by an output"):
        stack.push(RenameLayer(other.layer_id, "dense"))
    assert_refused(stack, lambda: RenameLayer(other.layer_id, "dense"), NameClashError)


def test_renaming_the_second_output_of_a_tensor_renames_only_it(
        doc: Document, stack: UndoStack, round_trip: Any) -> None:
    nodes = unconnected(stack)
    link(stack, nodes["dense"], nodes["out"])
    extra = add(stack, edits.add_output(doc, name="extra"))
    link(stack, nodes["dense"], extra)
    round_trip(EditNode(extra.id, {"name": "copy"}))
    assert names(doc) == (["x", "dense"], ["dense", "copy"])
    # its Identity layer would clash with a layer of that name
    assert_refused(stack, lambda: EditNode(extra.id, {"name": "x"}), NameClashError)


def test_a_renamed_output_keeps_its_training_data(doc: Document, stack: UndoStack,
                                                  round_trip: Any) -> None:
    from layerforge.core.schema.settings import DataSource

    nodes = unconnected(stack)
    link(stack, nodes["dense"], nodes["out"])
    bound = DataSource("npz", {"path": "y.npy"})
    doc.training.data = {"x": DataSource(), "dense": bound}
    round_trip(RenameLayer(nodes["dense"].layer_id, "answer"))
    assert list(doc.training.data) == ["x", "answer"] and doc.training.data["answer"] == bound
    stack.undo()
    assert list(doc.training.data) == ["x", "dense"]


def test_making_a_call_unique_renames_its_output(doc: Document, stack: UndoStack,
                                                 round_trip: Any) -> None:
    nodes = unconnected(stack)
    again = add(stack, edits.call_again(doc, nodes["dense"].id))
    link(stack, nodes["dense"], again)
    link(stack, again, nodes["out"])
    assert names(doc)[1] == ["dense"]
    round_trip(edits.make_unique(doc, again.id))
    assert names(doc) == (["x", "dense", "dense_1"], ["dense_1"])


def test_an_output_named_otherwise_in_a_file_links_on_rename(
        doc: Document, stack: UndoStack, round_trip: Any) -> None:
    """A file written before names were linked: renaming either side makes them one."""
    nodes = unconnected(stack)
    link(stack, nodes["dense"], nodes["out"])
    output = doc.graph.node(nodes["out"].id)
    doc.graph.replace_node(OutputNode(output.id, "answer", position=output.position), "name")
    round_trip(RenameLayer(nodes["dense"].layer_id, "answer"))
    assert names(doc) == (["x", "answer"], ["answer"])
    stack.undo()
    round_trip(EditNode(nodes["out"].id, {"name": "reply"}))
    assert names(doc) == (["x", "reply"], ["reply"])


def test_grouping_names_block_outputs_after_their_layers(doc: Document, stack: UndoStack) -> None:
    nodes = grouped_chain(stack)
    stack.push(edits.group_into_block(doc, [nodes["d1"].id, nodes["d2"].id], "pair", [[8]]))
    (block,) = doc.blocks.values()
    assert [o.name for o in block.graph.outputs()] == ["d2", "d1"]
