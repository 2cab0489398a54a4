"""Copy/paste of sub-graphs (core/clipboard.py) and inserting a layer on an edge (a Fix)."""

from __future__ import annotations

import itertools
import json

import pytest

from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.clipboard import copy_subgraph, paste_subgraph
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.project import dumps
from layerforge.core.schema.errors import EditError, ProjectFileError


def chain(doc, stack, *classes):
    """input -> classes... -> output; returns the node ids in order."""
    ids = [stack.push(edits.add_input(doc, [8], name="x")).node.id]
    for i, class_name in enumerate(classes):
        ids.append(stack.push(edits.add_layer(doc, class_name, position=(0.0, 100.0 * i)))
                   .node.id)
        stack.push(edits.connect(doc, ids[-2], ids[-1]))
    ids.append(stack.push(edits.add_output(doc, name="y")).node.id)
    stack.push(edits.connect(doc, ids[-2], ids[-1]))
    return ids


def test_copy_keeps_only_the_edges_inside_the_selection(doc, stack):
    _, a, b, _ = chain(doc, stack, "Dense", "Dense")
    records = copy_subgraph(doc, "main", [a, b])
    graph = json.loads(json.dumps(records))["project"]["graph"]
    assert [n["id"] for n in graph["nodes"]] == [a, b]
    assert [(e["src"], e["dst"]) for e in graph["edges"]] == [(a, b)]
    assert sorted(lay["name"] for lay in graph["layers"]) == ["dense", "dense_1"]


def test_paste_makes_new_ids_names_and_inner_edges(doc, stack, round_trip):
    _, a, b, _ = chain(doc, stack, "Dense", "Dense")
    stack.push(SetParam(doc.graph.layer_of(a).id, "units", 7))
    records = json.loads(json.dumps(copy_subgraph(doc, "main", [a, b])))
    paste = round_trip(paste_subgraph(doc, records, "main", offset=(50.0, 20.0)))
    new_a, new_b = paste.node_ids
    assert {new_a, new_b}.isdisjoint({a, b})
    assert doc.graph.layer_of(new_a).params["units"] == 7
    assert doc.graph.layer_of(new_a).id != doc.graph.layer_of(a).id
    assert doc.graph.node(new_b).position == (50.0, 120.0)
    assert [(e.src, e.dst) for e in doc.graph.in_edges(new_b)] == [(new_a, new_b)]
    names = [lay.name for lay in doc.graph.layers.values()]
    assert len(names) == len(set(names)) == 4


def test_calls_sharing_a_layer_share_one_new_layer(doc, stack):
    x = stack.push(edits.add_input(doc, [5, 4], name="x")).node.id
    first = stack.push(edits.add_layer(doc, "LSTM")).node.id
    second = stack.push(edits.call_again(doc, first)).node.id
    stack.push(edits.connect(doc, x, first))
    stack.push(edits.connect(doc, x, second))
    paste = stack.push(paste_subgraph(doc, copy_subgraph(doc, "main", [first, second])))
    layers = {doc.graph.layer_of(nid).id for nid in paste.node_ids}
    assert len(layers) == 1, "the pasted pair should share one layer"
    assert layers.isdisjoint({doc.graph.layer_of(first).id}), "the paste shares the original"


def test_paste_inputs_and_outputs_get_free_names(doc, stack):
    x, d, y = chain(doc, stack, "Dense")
    paste = stack.push(paste_subgraph(doc, copy_subgraph(doc, "main", [x, d, y])))
    kinds = {doc.graph.node(nid).kind: doc.graph.node(nid) for nid in paste.node_ids}
    # The pasted output is named after the pasted layer that feeds it.
    pasted_dense = next(doc.graph.layer_of(nid) for nid in paste.node_ids
                        if doc.graph.node(nid).kind == "call")
    assert kinds["input"].name == "x_1" and kinds["output"].name == pasted_dense.name == "dense_1"
    doc.check_invariants()


def test_paste_into_another_document_brings_the_block(doc, stack, catalog):
    _, a, b, _ = chain(doc, stack, "Dense", "Dense")
    stack.push(edits.group_into_block(doc, [a, b], "mlp", [(8,)]))
    call = next(n.id for n in doc.graph.calls())
    records = json.loads(json.dumps(copy_subgraph(doc, "main", [call])))
    other = Document(catalog)
    other_stack = UndoStack(other)
    first = other_stack.push(paste_subgraph(other, records))
    assert [b.name for b in other.blocks.values()] == ["mlp"]
    block = next(iter(other.blocks.values()))
    assert sorted(lay.class_name for lay in block.graph.layers.values()) == ["Dense", "Dense"]
    second = other_stack.push(paste_subgraph(other, records))
    assert len(other.blocks) == 1, "a block the document has is reused"
    layers = [other.graph.layer_of(nid) for nid in first.node_ids + second.node_ids]
    assert {lay.block_id for lay in layers} == {block.id} and layers[0].id != layers[1].id
    other.check_invariants()
    other_stack.undo()
    other_stack.undo()
    assert not other.blocks and not other.graph.nodes


def test_pasting_a_block_inside_itself_is_refused(doc, stack):
    _, a, b, _ = chain(doc, stack, "Dense", "Dense")
    stack.push(edits.group_into_block(doc, [a, b], "mlp", [(8,)]))
    call = next(n.id for n in doc.graph.calls())
    block_id = next(iter(doc.blocks))
    with pytest.raises(EditError, match="inside itself"):
        paste_subgraph(doc, copy_subgraph(doc, "main", [call]), block_id)


@pytest.mark.parametrize("mangle, message", [
    (lambda r: r.update(format="something-else"), "expected \"layerforge-subgraph\""),
    (lambda r: r.update(format_version=99), "format_version up to 1"),
    (lambda r: r["project"]["graph"]["layers"][0]["params"].update(units="many"),
     "'units' expected an integer"),
    (lambda r: r["project"]["graph"]["edges"][0].update(dst="nowhere"),
     "the id of a node in this graph"),
])
def test_bad_clipboard_records_are_refused(doc, stack, mangle, message):
    _, a, b, _ = chain(doc, stack, "Dense", "Dense")
    records = json.loads(json.dumps(copy_subgraph(doc, "main", [a, b])))
    mangle(records)
    before = dumps(doc)
    with pytest.raises(ProjectFileError, match=message):
        paste_subgraph(doc, records)
    assert dumps(doc) == before


def test_copy_refuses_unknown_ids_and_empty_selection(doc, stack):
    chain(doc, stack, "Dense")
    with pytest.raises(EditError, match="expected node ids"):
        copy_subgraph(doc, "main", ["nope"])
    with pytest.raises(EditError, match="select one or more"):
        copy_subgraph(doc, "main", [])


def test_insert_on_edge(doc, stack, round_trip):
    x, d, _ = chain(doc, stack, "Dense")
    edge = doc.graph.in_edges(d)[0]
    command = round_trip(edits.insert_on_edge(doc, edge.id, "Dropout", {"rate": 0.25}))
    new = command.children[1].node.id
    assert doc.graph.layer_of(new).params["rate"] == 0.25
    assert [e.src for e in doc.graph.in_edges(new)] == [x]
    assert [(e.src, e.dst_slot) for e in doc.graph.in_edges(d)] == [(new, 0)]
    assert edge.id not in doc.graph.edges


def test_insert_on_edge_applies_a_shape_fix(doc, stack):
    x = stack.push(edits.add_input(doc, [4, 4], name="x")).node.id
    rep = stack.push(edits.add_layer(doc, "RepeatVector", {"n": 3})).node.id
    stack.push(edits.connect(doc, x, rep))
    engine = ShapeEngine(doc)
    (problem,) = engine.diagnostics()
    assert problem.fix is not None and problem.fix.class_name == "Flatten"
    fix = problem.fix
    stack.push(edits.insert_on_edge(doc, fix.edge_id, fix.class_name, fix.params))
    assert engine.diagnostics() == []
    assert engine.shapes()[rep].outputs == ((None, 3, 16),)


def covered_by(doc, node_id: str) -> list[str]:
    """The nodes whose 180x70 boxes (auto layout's size) overlap ``node_id``'s."""
    x, y = doc.graph.node(node_id).position
    return [nid for nid, node in doc.graph.nodes.items() if nid != node_id
            and abs(node.position[0] - x) < 180 and abs(node.position[1] - y) < 70]


def test_a_layer_put_between_stacked_layers_pushes_the_rest_down(doc, stack):
    """Layers a row apart, as auto layout leaves them, leave no room halfway: the new one
    takes the row below its source and everything from the destination on moves down; undo
    puts it back."""
    ids = [stack.push(edits.add_input(doc, [8], name="x", position=(0.0, 0.0))).node.id]
    for row in (1, 2):
        ids.append(stack.push(edits.add_layer(doc, "Dense", position=(0.0, 110.0 * row))).node.id)
    ids.append(stack.push(edits.add_output(doc, name="y", position=(0.0, 330.0))).node.id)
    for a, b in itertools.pairwise(ids):
        stack.push(edits.connect(doc, a, b))
    d1, d2 = ids[1], ids[2]
    before = {nid: node.position for nid, node in doc.graph.nodes.items()}
    edge = doc.graph.in_edges(d2)[0]
    command = stack.push(edits.insert_on_edge(doc, edge.id, "Dropout"))
    new = command.children[1].node.id
    assert covered_by(doc, new) == []
    assert doc.graph.node(new).position[1] > before[d1][1]
    assert doc.graph.node(d2).position[1] > doc.graph.node(new).position[1]
    assert doc.graph.node(d1).position == before[d1]  # upstream stays where it was
    stack.undo()
    assert {nid: node.position for nid, node in doc.graph.nodes.items()} == before


def test_a_layer_put_on_a_long_edge_goes_halfway(doc, stack):
    x = stack.push(edits.add_input(doc, [8], name="x", position=(0.0, 0.0))).node.id
    d = stack.push(edits.add_layer(doc, "Dense", position=(0.0, 400.0))).node.id
    stack.push(edits.connect(doc, x, d))
    command = stack.push(edits.insert_on_edge(doc, doc.graph.in_edges(d)[0].id, "Dropout"))
    assert doc.graph.node(command.children[1].node.id).position == (0.0, 200.0)
    assert doc.graph.node(d).position == (0.0, 400.0)
