"""Rules that keep a document buildable: unique output names, no block inside itself,
normalised values, files that keep their permissions."""

from __future__ import annotations

import os
import stat

import pytest

from layerforge.core.document import records
from layerforge.core.editing import edits
from layerforge.core.editing.graph_commands import AddBlock, GraphRecords
from layerforge.core.editing.renames import EditNode
from layerforge.core.io import project
from layerforge.core.schema.errors import EditError, NameClashError, ProjectFileError


def test_two_outputs_cannot_share_a_name(doc, stack):
    stack.push(edits.add_output(doc, name="age"))
    second = stack.push(edits.add_output(doc, name="income")).node
    with pytest.raises(NameClashError, match="already named 'age'"):
        stack.push(EditNode(second.id, {"name": "age"}))
    with pytest.raises(NameClashError):
        stack.push(edits.add_output(doc, name="age"))
    assert sorted(o.name for o in doc.graph.outputs()) == ["age", "income"]


def test_a_block_cannot_contain_itself_through_another(doc, stack):
    stack.push(AddBlock("A", "a", GraphRecords([], [], [])))
    stack.push(AddBlock("B", "b", GraphRecords([], [], [])))
    stack.push(edits.use_block(doc, "A", graph_key="B"))
    with pytest.raises(EditError, match="inside itself"):
        edits.use_block(doc, "B", graph_key="A")
    with pytest.raises(EditError, match="inside itself"):
        edits.use_block(doc, "A", graph_key="A")


def test_edit_node_stores_tuples_and_checks_dtype(doc, stack):
    node = stack.push(edits.add_input(doc, [8], name="x")).node
    stack.push(EditNode(node.id, {"shape": [16, 2], "position": [3, 4]}))
    edited = doc.graph.node(node.id)
    assert edited.shape == (16, 2) and edited.position == (3.0, 4.0)
    with pytest.raises(EditError, match="expected a dtype"):
        stack.push(EditNode(node.id, {"dtype": "nonsense"}))
    with pytest.raises(EditError, match="expected a dtype"):
        edits.add_input(doc, [8], dtype="int33")


def test_save_keeps_the_files_permissions(doc, stack, tmp_path):
    stack.push(edits.add_input(doc, [8], name="x"))
    target = tmp_path / "p.json"
    project.save(doc, target)
    os.chmod(target, 0o644)
    project.save(doc, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


@pytest.mark.parametrize("field, value, expected", [
    ("name", "a/b", "without '/'"),
    ("dtype", "nonsense", "one of float32"),
    ("position", [True, 1], "[x, y]"),
])
def test_loader_refuses_values_the_editor_refuses(doc, stack, field, value, expected):
    stack.push(edits.add_input(doc, [8], name="x"))
    data = records.to_records(doc)
    data["graph"]["nodes"][0][field] = value
    with pytest.raises(ProjectFileError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        records.from_records(data, catalog=doc.catalog)
