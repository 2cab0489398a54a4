"""Structural diagnostics (networkx) and the full check (Keras builds the generated code)."""

from __future__ import annotations

import pytest

from layerforge.core.analysis.check import full_check
from layerforge.core.analysis.validation import validate
from layerforge.core.editing import edits
from layerforge.core.editing.renames import RenameLayer


def codes(diagnostics):
    return sorted(d.code for d in diagnostics)


def dense_model(doc, stack, units: int, output: str) -> str:
    """Input x (8 features) -> Dense(units) -> output; returns the Dense call's id."""
    x = stack.push(edits.add_input(doc, [8], name="x")).node.id
    dense = stack.push(edits.add_layer(doc, "Dense", {"units": units})).node.id
    out = stack.push(edits.add_output(doc, name=output)).node.id
    stack.push(edits.connect(doc, x, dense))
    stack.push(edits.connect(doc, dense, out))
    return dense


def test_unconnected_inputs_unreachable_and_dead_ends(doc, stack):
    x = stack.push(edits.add_input(doc, [8], name="x")).node.id
    concat = stack.push(edits.add_layer(doc, "Concatenate")).node.id
    lonely = stack.push(edits.add_layer(doc, "Dense", {"units": 2})).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, concat))
    stack.push(edits.connect(doc, concat, out))
    found = {(d.code, d.target, d.severity) for d in validate(doc)}
    assert ("unconnected-input", concat, "error") in found
    # A stray layer is left out of the model: one warning, no error (Keras builds without it).
    assert {(c, s) for c, t, s in found if t == lonely} == {("dead-end", "warning")}
    stray = next(d.message for d in validate(doc) if d.code == "dead-end")
    assert stray.startswith("this layer is not connected to an output")
    message = next(d.message for d in validate(doc) if d.code == "unconnected-input")
    assert "1 more input" in message and "needs 2" in message


def test_a_layer_in_the_model_but_not_fed_by_an_input_is_an_error(doc, stack):
    x = stack.push(edits.add_input(doc, [8], name="x")).node.id
    add = stack.push(edits.add_layer(doc, "Add")).node.id
    floating = stack.push(edits.add_layer(doc, "Dense", {"units": 8})).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, add))
    stack.push(edits.connect(doc, floating, add))
    stack.push(edits.connect(doc, add, out))
    found = {(d.code, d.target, d.severity) for d in validate(doc)}
    assert ("unreachable", floating, "error") in found
    assert ("unconnected-input", floating, "error") in found


def test_duplicate_names_are_reported(doc, stack):
    a = dense_model(doc, stack, 2, "y")
    # the document refuses clashes on edit; a file edited by hand can still carry one
    layer = doc.graph.layer_of(a)
    doc.graph.layers[layer.id] = type(layer)(layer.id, layer.class_name, "x", layer.params)
    assert "duplicate-name" in codes(validate(doc))


def test_rename_to_a_taken_name_is_refused(doc, stack):
    import pytest

    from layerforge.core.schema.errors import NameClashError

    stack.push(edits.add_input(doc, [8], name="x"))
    a = stack.push(edits.add_layer(doc, "Dense", {"units": 2})).node.id
    with pytest.raises(NameClashError, match="'x' is already used"):
        stack.push(RenameLayer(doc.graph.layer_of(a).id, "x"))


def test_bad_parameter_kind_from_a_file(doc, stack):
    a = dense_model(doc, stack, 2, "y")
    doc.graph.layer_of(a).params["units"] = "many"
    found = [d for d in validate(doc) if d.code == "bad-param"]
    assert found and "expected an integer" in found[0].message and "'many'" in found[0].message


def test_full_check_catches_what_live_shapes_miss(doc, stack):
    """Concatenate of 8x8 and 4x4 maps passes compute_output_shape; the build catches it."""
    a = stack.push(edits.add_input(doc, [8, 8, 3], name="a")).node.id
    b = stack.push(edits.add_input(doc, [4, 4, 3], name="b")).node.id
    concat = stack.push(edits.add_layer(doc, "Concatenate")).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, a, concat))
    stack.push(edits.connect(doc, b, concat))
    stack.push(edits.connect(doc, concat, out))
    result = full_check(doc)
    assert not result.ok and result.model is None
    error = next(d for d in result.diagnostics if d.severity == "error")
    assert error.target == concat and error.code == "keras"
    assert "(None, 8, 8, 3)" in error.message and "(None, 4, 4, 3)" in error.message


def test_full_check_builds_a_valid_model(doc, stack):
    dense_model(doc, stack, 3, "dense")
    result = full_check(doc)
    assert result.ok
    assert result.model.count_params() == 8 * 3 + 3
    assert result.model.output_names == ["dense"]


# ------------------------------------------- empty graphs and output names (issue 10)
def test_an_empty_graph_has_nothing_to_report(doc):
    """A new project shows a hint on the canvas, not errors."""
    assert validate(doc) == []


def test_a_graph_with_nodes_but_no_input_or_output_keeps_its_errors(doc, stack):
    stack.push(edits.add_layer(doc, "Dense", {"units": 2}))
    assert {"no-input", "no-output"} <= set(codes(validate(doc)))


def test_an_output_named_like_another_layer_is_an_error(doc, stack):
    """Only a file edited elsewhere can hold one: its Identity would repeat a layer's name."""
    from dataclasses import replace

    dense_model(doc, stack, 2, "y")
    stack.push(edits.add_layer(doc, "Dense", {"units": 2}, name="taken"))
    out = doc.graph.outputs()[0]
    assert out.name == "dense"
    assert "duplicate-name" not in codes(validate(doc))
    doc.graph.replace_node(replace(out, name="taken"), "name")
    (found,) = [d for d in validate(doc) if d.code == "duplicate-name"]
    assert found.target == out.id
    assert "('dense')" in found.message and "received 'taken'" in found.message


# ------------------------------------------------------------ files that cannot be read
def chain_records(length: int, units: int = 4) -> dict:
    """A valid input -> Dense x length -> output project, as records."""
    layers, nodes, edges = [], [{"id": "in", "kind": "input", "name": "x", "shape": [4]}], []
    previous = "in"
    for i in range(length):
        layers.append({"id": f"l{i}", "class_name": "Dense", "name": f"d{i}",
                       "params": {"units": units}})
        nodes.append({"id": f"n{i}", "kind": "call", "layer": f"l{i}"})
        edges.append({"id": f"e{i}", "src": previous, "dst": f"n{i}"})
        previous = f"n{i}"
    nodes.append({"id": "out", "kind": "output", "name": "y"})
    edges.append({"id": "e_out", "src": previous, "dst": "out"})
    return {"format": "layerforge-project", "format_version": 1,
            "graph": {"layers": layers, "nodes": nodes, "edges": edges}}


def block_graph(uses: str) -> dict:
    """A graph records x -> Block(uses) -> y."""
    return {"layers": [{"id": "b", "class_name": "Block", "name": "inner", "block": uses}],
            "nodes": [{"id": "i", "kind": "input", "name": "x", "shape": [4]},
                      {"id": "c", "kind": "call", "layer": "b"},
                      {"id": "o", "kind": "output", "name": "y"}],
            "edges": [{"id": "e1", "src": "i", "dst": "c"}, {"id": "e2", "src": "c", "dst": "o"}]}


def read(data, catalog):
    import pytest

    from layerforge.core.document.records import from_records
    from layerforge.core.schema.errors import ProjectFileError

    with pytest.raises(ProjectFileError) as caught:
        from_records(data, "p.json", catalog)
    return str(caught.value)


def test_a_block_using_itself_is_refused_at_read_naming_the_blocks(catalog):
    base = {"format": "layerforge-project", "format_version": 1, "graph": block_graph("B1")}
    itself = read({**base, "blocks": [{"id": "B1", "name": "b1", "graph": block_graph("B1")}]},
                  catalog)
    assert "expected blocks that do not use themselves" in itself and "'b1' -> 'b1'" in itself
    mutual = read({**base, "blocks": [{"id": "B1", "name": "b1", "graph": block_graph("B2")},
                                      {"id": "B2", "name": "b2", "graph": block_graph("B1")}]},
                  catalog)
    assert "'b1'" in mutual and "'b2'" in mutual


def test_a_block_may_use_a_block_listed_after_it(catalog):
    from layerforge.core.document.records import from_records

    inner = chain_records(1)["graph"]
    doc = from_records({"format": "layerforge-project", "format_version": 1,
                        "graph": block_graph("B1"),
                        "blocks": [{"id": "B1", "name": "outer", "graph": block_graph("B2")},
                                   {"id": "B2", "name": "core", "graph": inner}]},
                       "p.json", catalog)
    assert not [d for d in validate(doc) if d.severity == "error"]


def test_unencodable_text_and_deep_values_are_refused_naming_the_place(catalog):
    data = chain_records(2)
    data["graph"]["layers"][1]["name"] = "bad\ud800name"
    assert "at graph.layers[1].name: expected text encodable as UTF-8" in read(data, catalog)
    data = chain_records(2)
    deep = "relu"
    for _ in range(900):
        deep = {"class_name": "x", "config": deep}
    data["graph"]["layers"][0]["params"]["activation"] = deep
    message = read(data, catalog)
    assert "at graph.layers[0].params.activation.config" in message
    assert "expected values nested at most 64 deep" in message


def test_a_10000_layer_chain_reads_and_validates_in_under_5_s(catalog):
    import time

    from layerforge.core.document.records import from_records

    data = chain_records(10_000)
    start = time.perf_counter()
    doc = from_records(data, "chain.json", catalog)
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    assert validate(doc) == []
    validate_s = time.perf_counter() - start
    assert read_s < 5.0 and validate_s < 5.0, (read_s, validate_s)
    layer = doc.graph.layer("l5000")
    doc.graph.replace_layer(type(layer)(layer.id, "Dense", "d5000", {"units": "many"}), "units")
    assert [d.target for d in validate(doc) if d.code == "bad-param"] == ["n5000"]


def test_validation_sees_renames_and_new_connections_after_a_cached_pass(doc, stack):
    a = dense_model(doc, stack, 2, "y")
    assert validate(doc) == []
    stack.push(edits.add_layer(doc, "Dense", {"units": 2}))
    assert "dead-end" in codes(validate(doc))
    stack.undo()
    assert validate(doc) == []
    stack.push(RenameLayer(doc.graph.layer_of(a).id, "renamed"))
    assert validate(doc) == []


@pytest.mark.slow
def test_a_2000_layer_chain_builds_in_the_full_check(catalog):
    """Keras walks the graph recursively: the loader gives it room, so a long valid chain
    is built and checked instead of failing with 'maximum recursion depth exceeded'."""
    from layerforge.core.document.records import from_records

    doc = from_records(chain_records(2000), "chain.json", catalog)
    result = full_check(doc)
    assert result.ok and result.diagnostics == [], result.diagnostics
    dense = [layer for layer in result.model.layers if type(layer).__name__ == "Dense"]
    assert len(dense) == len(doc.graph.layers) >= 2000
