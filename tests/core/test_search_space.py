"""Search dimensions: checked against the catalog, saved in the project, marked and applied
as undoable edits."""

from __future__ import annotations

import json

import pytest

from layerforge.core.document.document import Document
from layerforge.core.document.search_space import Dimension, SearchSpaceError
from layerforge.core.document.space_checks import dimension_error
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.space_edits import apply_values, mark_dimension, unmark_dimension
from layerforge.core.io import project
from layerforge.core.io.templates import load_template
from layerforge.core.schema.errors import ProjectFileError


@pytest.fixture
def mlp(catalog) -> Document:
    return load_template("sequential-mlp", catalog)


def layer_id(doc: Document, name: str) -> str:
    return next(la.id for la in doc.graph.layers.values() if la.name == name)


def units(doc: Document, **kw) -> Dimension:
    return Dimension("units", "int", 8, 64, layer_id=layer_id(doc, "dense"), **kw)


def test_legal_dimensions_of_layers_and_settings_have_no_error(mlp):
    dense = layer_id(mlp, "dense")
    for dim in [units(mlp, step=8), units(mlp, log=True),
                Dimension("activation", "choice", choices=("relu", "tanh", "elu"),
                          layer_id=dense),
                Dimension("learning_rate", "float", 1e-4, 1e-1, log=True),
                Dimension("batch_size", "choice", choices=(16, 32, 64)),
                Dimension("optimizer", "choice", choices=("adam", "rmsprop"))]:
        assert dimension_error(mlp, dim) is None, dim


@pytest.mark.parametrize("make, expected", [
    (lambda d: Dimension("unitz", "int", 1, 4, layer_id=layer_id(d, "dense")),
     "expected a parameter of Dense (units, activation"),
    (lambda d: Dimension("units", "float", 0.5, 4.0, layer_id=layer_id(d, "dense")),
     "'units' takes int values: expected an int range or a list of choices"),
    (lambda d: Dimension("activation", "choice", choices=("relu", 3),
                         layer_id=layer_id(d, "dense")), "'activation' expected one of"),
    (lambda d: units(d, step=8, log=True), "not both"),
    (lambda d: Dimension("units", "int", 64, 8, layer_id=layer_id(d, "dense")),
     "expected low < high; received 64..8"),
    (lambda d: Dimension("units", "int", 8, 64, layer_id="gone"),
     "expected the id of a layer in graph 'main'; received 'gone'"),
    (lambda d: Dimension("momentum", "float", 0.1, 0.9), "expected a training setting among"),
    (lambda d: Dimension("optimizer", "choice", choices=("adam", "fancy")),
     "received 'fancy'"),
    (lambda d: Dimension("batch_size", "float", 8, 64), "expected an int range or choices"),
    (lambda d: Dimension("learning_rate", "float", 0.0, 0.1, log=True), "low > 0 for a log"),
    (lambda d: Dimension("units", "choice", choices=(8,), layer_id=layer_id(d, "dense")),
     "at least 2 choices"),
])
def test_illegal_dimensions_are_refused_with_what_was_expected(mlp, make, expected):
    dim = make(mlp)
    problem = dimension_error(mlp, dim)
    assert problem is not None and expected in problem, problem
    with pytest.raises(SearchSpaceError, match="expected"):
        mark_dimension(mlp, dim)


def test_dropout_rate_must_stay_below_one(catalog):
    doc = load_template("sequential-mlp", catalog)
    stack = UndoStack(doc)
    from layerforge.core.editing import edits

    cmd = stack.push(edits.add_layer(doc, "Dropout", {"rate": 0.5}))
    bad = Dimension("rate", "float", 0.1, 1.5, layer_id=cmd.layer.id)
    assert "from 0 up to (not incl.) 1; received 1.5" in dimension_error(doc, bad)
    assert dimension_error(doc, Dimension("rate", "float", 0.0, 0.6,
                                          layer_id=cmd.layer.id)) is None


def test_mark_and_unmark_are_undoable_edits(mlp):
    stack = UndoStack(mlp)
    first = units(mlp, step=8)
    stack.push(mark_dimension(mlp, first))
    assert list(mlp.search_space) == [first]
    wider = units(mlp, step=4)
    stack.push(mark_dimension(mlp, wider))  # redefines the same parameter
    assert list(mlp.search_space) == [wider]
    stack.undo()
    assert list(mlp.search_space) == [first]
    stack.push(unmark_dimension(mlp, first.layer_id, "units"))
    assert len(mlp.search_space) == 0
    stack.undo()
    assert list(mlp.search_space) == [first]
    with pytest.raises(SearchSpaceError, match="not in the search space"):
        unmark_dimension(mlp, first.layer_id, "activation")


def test_marking_emits_settings_changed(mlp):
    seen: list[str] = []
    mlp.settings_changed.connect(seen.append)
    mark_dimension(mlp, units(mlp)).redo(mlp)
    assert seen == ["search_space"]


def test_search_space_is_saved_and_read_back(mlp, tmp_path):
    dense_1 = layer_id(mlp, "dense_1")
    dims = [units(mlp, step=8), Dimension("learning_rate", "float", 1e-4, 1e-2, log=True),
            Dimension("activation", "choice", choices=("relu", "tanh"), layer_id=dense_1)]
    for dim in dims:
        mark_dimension(mlp, dim).redo(mlp)
    path = tmp_path / "m.json"
    project.save(mlp, path)
    records = json.loads(path.read_text())["search_space"]
    assert records[1] == {"setting": "learning_rate", "kind": "float", "low": 0.0001,
                          "high": 0.01, "log": True}
    again = project.load(path)
    assert list(again.search_space) == dims
    assert project.dumps(again) == project.dumps(mlp)


def test_a_project_without_dimensions_has_no_search_space_key(mlp):
    assert "search_space" not in json.loads(project.dumps(mlp))


def test_a_bad_search_space_in_a_file_names_the_entry(mlp):
    records = json.loads(project.dumps(mlp))
    records["search_space"] = [{"layer": layer_id(mlp, "dense"), "param": "units",
                                "kind": "int", "low": "8", "high": 64}]
    with pytest.raises(ProjectFileError, match=r"search_space\[0\].low: expected int or float"):
        project.loads(json.dumps(records))
    records["search_space"] = [{"layer": "nope", "param": "units", "kind": "int", "low": 8,
                                "high": 64}]
    with pytest.raises(ProjectFileError, match="received 'nope'"):
        project.loads(json.dumps(records))


def test_apply_values_is_one_edit_that_changes_exactly_the_searched_params(mlp):
    dense_1 = layer_id(mlp, "dense_1")
    for dim in [units(mlp), Dimension("learning_rate", "float", 1e-4, 1e-2, log=True),
                Dimension("activation", "choice", choices=("relu", "tanh"), layer_id=dense_1),
                Dimension("batch_size", "choice", choices=(16, 64))]:
        mark_dimension(mlp, dim).redo(mlp)
    stack = UndoStack(mlp)
    before = json.loads(project.dumps(mlp))
    values = {"dense.units": 48, "learning_rate": 0.003, "dense_1.activation": "tanh",
              "batch_size": 64}
    stack.push(apply_values(mlp, values))
    after = json.loads(project.dumps(mlp))
    assert stack.texts() == ["Apply best trial"]
    assert mlp.search_space.current_values(mlp) == values
    changed = _changed_paths(before, after)
    assert changed == {"compile.learning_rate", "training.batch_size",
                       f"graph.layers[{_index(before, 'dense')}].params.units",
                       f"graph.layers[{_index(before, 'dense_1')}].params.activation"}
    stack.undo()
    assert json.loads(project.dumps(mlp)) == before


def test_apply_values_refuses_unknown_names_and_bad_values_before_changing(mlp):
    mark_dimension(mlp, units(mlp)).redo(mlp)
    with pytest.raises(SearchSpaceError, match=r"received 'dense\.filters'"):
        apply_values(mlp, {"dense.filters": 3})
    with pytest.raises(SearchSpaceError, match="'units' expected an integer"):
        apply_values(mlp, {"dense.units": "many"})


def _index(records: dict, name: str) -> int:
    return next(i for i, la in enumerate(records["graph"]["layers"]) if la["name"] == name)


def _changed_paths(a, b, path: str = "") -> set[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        found = set()
        for key in set(a) | set(b):
            found |= _changed_paths(a.get(key), b.get(key), f"{path}.{key}".lstrip("."))
        return found
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        found = set()
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found |= _changed_paths(x, y, f"{path}[{i}]")
        return found
    return set() if a == b else {path}


# ------------------------------------------------------------------ block repeats
@pytest.fixture
def block_doc(catalog) -> Document:
    """features (16) -> Dense 16 -> block 'res' (Dense 16 relu) -> Dense 10 -> output."""
    from layerforge.core.editing import edits

    doc = Document(catalog)
    stack = UndoStack(doc)
    x = stack.push(edits.add_input(doc, [16], name="features")).node.id
    ids = [x]
    for params in ({"units": 16}, {"units": 16, "activation": "relu"}, {"units": 10}):
        ids.append(stack.push(edits.add_layer(doc, "Dense", params)).node.id)
        stack.push(edits.connect(doc, ids[-2], ids[-1]))
    out = stack.push(edits.add_output(doc, name="out", loss="mse")).node.id
    stack.push(edits.connect(doc, ids[-1], out))
    stack.push(edits.group_into_block(doc, [ids[2]], "res", [(16,)]))
    return doc


def block_layer(doc: Document) -> str:
    return next(la.id for la in doc.graph.layers.values() if la.block_id is not None)


def test_repeats_of_a_block_chain_new_calls_with_their_own_weights(block_doc):
    from layerforge.core.codegen.loader import build_model

    dim = Dimension("repeats", "int", 1, 4, layer_id=block_layer(block_doc))
    mark_dimension(block_doc, dim).redo(block_doc)
    assert block_doc.search_space.current_values(block_doc) == {"res.repeats": 1}
    base = build_model(block_doc).count_params()
    stack = UndoStack(block_doc)
    before = project.dumps(block_doc)
    stack.push(apply_values(block_doc, {"res.repeats": 3}))
    assert block_doc.search_space.current_values(block_doc) == {"res.repeats": 3}
    block_doc.check_invariants()
    assert build_model(block_doc).count_params() == base + 2 * (16 * 16 + 16)
    stack.push(apply_values(block_doc, {"res.repeats": 2}))
    assert build_model(block_doc).count_params() == base + (16 * 16 + 16)
    stack.undo()
    stack.undo()
    assert project.dumps(block_doc) == before
    assert apply_values(block_doc, {"res.repeats": 1}).children == []


def test_repeats_need_a_block_called_once(block_doc, mlp):
    assert "expected a block's layer; received Dense 'dense'" in dimension_error(
        mlp, Dimension("repeats", "int", 1, 3, layer_id=layer_id(mlp, "dense")))
    assert "whole numbers of repeats from 1; received 0" in dimension_error(
        block_doc, Dimension("repeats", "int", 0, 3, layer_id=block_layer(block_doc)))
    assert "block 'res' has no parameters" in dimension_error(
        block_doc, Dimension("units", "int", 1, 3, layer_id=block_layer(block_doc)))
