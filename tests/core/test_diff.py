"""The diff of two models: what a user reads in ``layerforge diff`` and relies on.

inception-module with one branch narrowed, ResNet50 against ResNet101 (imported), a project
against itself, two 400-layer chains, renamed layers and nested models.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from layerforge.core.analysis.diff import block_ranges, diff_documents, name_group
from layerforge.core.catalog.catalog import Catalog
from layerforge.core.cli.diff import diff_json, diff_lines
from layerforge.core.codegen.loader import build_model
from layerforge.core.document.document import Document
from layerforge.core.document.records import from_records
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.diff import RUN_SNAPSHOT, open_model
from layerforge.core.io.keras_import.graph import import_model
from layerforge.core.io.project import save
from layerforge.core.io.templates import load_template
from layerforge.core.schema.errors import LayerForgeError

keras = pytest.importorskip("keras")


def layer_named(doc: Document, name: str) -> str:
    return next(layer.id for layer in doc.graph.layers.values() if layer.name == name)


def set_param(doc: Document, layer: str, name: str, value: Any) -> None:
    UndoStack(doc).push(SetParam(layer_named(doc, layer), name, value))


def test_inception_with_one_branch_narrowed_is_one_changed_node() -> None:
    before, after = load_template("inception-module"), load_template("inception-module")
    set_param(after, "branch_b_2", "filters", 64)
    diff = diff_documents(before, after)
    graph = diff.graph
    assert not (graph.added or graph.removed or graph.rewired)
    [changed] = graph.changed
    assert changed.name == "branch_b_2" and changed.class_name == "Conv2D"
    assert [(c.field, c.old, c.new) for c in changed.changes] == [("filters", 128, 64)]
    counted = build_model(after).count_params() - build_model(before).count_params()
    assert diff.params_new - diff.params_old == counted  # type: ignore[operator]
    assert changed.params_new - changed.params_old == counted  # type: ignore[operator]


def test_a_project_against_itself_is_empty(tmp_path: Path) -> None:
    doc = load_template("inception-module")
    save(doc, tmp_path / "model.json")
    diff = diff_documents(doc, open_model(str(tmp_path / "model.json")))
    assert diff.is_empty()
    assert diff.params_old == diff.params_new == build_model(doc).count_params()
    assert diff_documents(doc, doc, counts=False).is_empty()


def architecture_file(model: Any, path: Path) -> Path:
    """A .keras archive with the architecture only (the diff never reads weights)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(keras.saving.serialize_keras_object(model)))
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
    return path


def test_resnet50_against_resnet101_lists_the_added_blocks(tmp_path: Path) -> None:
    small = {"weights": None, "input_shape": (32, 32, 3), "classes": 10}
    r50, r101 = keras.applications.ResNet50(**small), keras.applications.ResNet101(**small)
    diff = diff_documents(open_model(str(architecture_file(r50, tmp_path / "r50.keras"))),
                          open_model(str(architecture_file(r101, tmp_path / "r101.keras"))))
    graph = diff.graph
    added_groups = list(dict.fromkeys(layer.group for layer in graph.added))
    assert added_groups == [f"conv4_block{i}" for i in range(7, 24)]
    assert block_ranges(added_groups) == ["conv4_block7..conv4_block23"]
    assert len(graph.added) == 170 and not graph.removed and not graph.changed
    # conv5 now follows the last added block
    assert {(r.node, r.old, r.new) for r in graph.rewired} == {
        ("conv5_block1_1_conv", "conv4_block6_out", "conv4_block23_out"),
        ("conv5_block1_0_conv", "conv4_block6_out", "conv4_block23_out")}
    assert (diff.params_old, diff.params_new) == (r50.count_params(), r101.count_params())
    assert sum(layer.params_new or 0 for layer in graph.added) == \
        r101.count_params() - r50.count_params()
    data = diff_json(diff, "r50.keras", "r101.keras")  # what `layerforge diff --json` prints
    assert data["graph"]["added_blocks"] == ["conv4_block7..conv4_block23"]
    assert sum(layer["params_delta"] for layer in data["graph"]["added"]) == \
        data["params_delta"] == r101.count_params() - r50.count_params()
    assert "+ blocks added: conv4_block7..conv4_block23 (17 blocks, 170 layers)" in \
        diff_lines(diff, "r50.keras", "r101.keras")


def chain_records(length: int, units: dict[int, int] | None = None,
                  names: dict[int, str] | None = None, skip: int | None = None) -> dict:
    """Dense layers in a chain; ``units``/``names`` override some, ``skip`` leaves one out."""
    layers, nodes, edges = [], [{"id": "in", "kind": "input", "name": "x", "shape": [8]}], []
    previous = "in"
    for i in range(length):
        if i == skip:
            continue
        name = (names or {}).get(i, f"dense_{i}")
        layers.append({"id": f"l{i}", "class_name": "Dense", "name": name,
                       "params": {"units": (units or {}).get(i, 8)}})
        nodes.append({"id": f"n{i}", "kind": "call", "layer": f"l{i}"})
        edges.append({"id": f"e{i}", "src": previous, "dst": f"n{i}"})
        previous = f"n{i}"
    nodes.append({"id": "out", "kind": "output", "name": "y"})
    edges.append({"id": "e_out", "src": previous, "dst": "out"})
    return {"format": "layerforge-project", "format_version": 1,
            "graph": {"layers": layers, "nodes": nodes, "edges": edges}}


def test_two_400_layer_chains(catalog: Catalog) -> None:
    before = from_records(chain_records(400), "<a>", catalog)
    after = from_records(chain_records(400, units={100: 16}, names={200: "renamed"}, skip=300),
                         "<b>", catalog)
    graph = diff_documents(before, after, counts=False).graph
    assert [layer.name for layer in graph.removed] == ["dense_300"] and not graph.added
    assert [(c.name, c.old_name, [(v.field, v.old, v.new) for v in c.changes])
            for c in graph.changed] == [("dense_100", None, [("units", 8, 16)]),
                                        ("renamed", "dense_200", [])]
    assert [(r.node, r.slot, r.old, r.new) for r in graph.rewired] == [
        ("dense_301", "0", "dense_300", "dense_299")]


def test_counts_follow_the_live_pass(catalog: Catalog) -> None:
    before = from_records(chain_records(3), "<a>", catalog)
    after = from_records(chain_records(3, units={1: 16}), "<b>", catalog)
    diff = diff_documents(before, after)
    [changed] = diff.graph.changed
    assert (changed.params_old, changed.params_new) == (8 * 8 + 8, 8 * 16 + 16)
    assert diff.params_new - diff.params_old == \
        build_model(after).count_params() - build_model(before).count_params()


def stem_model(filters: int) -> Any:
    inputs = keras.Input((8, 8, 3), name="image")
    stem = keras.Sequential([keras.layers.Conv2D(filters, 3, name="stem_conv"),
                             keras.layers.BatchNormalization(name="stem_bn")], name="stem")
    outputs = keras.layers.GlobalAveragePooling2D(name="pool")(stem(inputs))
    return keras.Model(inputs, outputs, name="small")


def test_nested_models_are_compared_inside() -> None:
    diff = diff_documents(import_model(stem_model(4)), import_model(stem_model(6)))
    [stem] = diff.graph.changed
    assert stem.name == "stem" and stem.inner is not None
    assert [(c.name, [(v.field, v.old, v.new) for v in c.changes])
            for c in stem.inner.changed] == [("stem_conv", [("filters", 4, 6)])]
    assert stem.params_new - stem.params_old == \
        stem_model(6).count_params() - stem_model(4).count_params()  # type: ignore[operator]


def test_inputs_and_outputs_changes_are_listed(catalog: Catalog) -> None:
    records = chain_records(2)
    changed = json.loads(json.dumps(records))
    changed["graph"]["nodes"][0]["shape"] = [4]
    changed["graph"]["nodes"][-1]["loss"] = "mse"
    diff = diff_documents(from_records(records, "<a>", catalog),
                          from_records(changed, "<b>", catalog), counts=False).graph
    [shape] = diff.inputs["changed"]
    assert (shape.name, [(c.field, c.old, c.new) for c in shape.changes]) == \
        ("x", [("shape", (8,), (4,))])
    [loss] = diff.outputs["changed"]
    assert [(c.field, c.old, c.new) for c in loss.changes] == [("loss", None, "mse")]


def test_a_run_folder_opens_its_snapshot(tmp_path: Path) -> None:
    save(load_template("sequential-mlp"), tmp_path / RUN_SNAPSHOT)
    assert diff_documents(open_model(str(tmp_path)), load_template("sequential-mlp"),
                          counts=False).is_empty()
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayerForgeError, match=r"without a project\.json"):
        open_model(str(tmp_path / "empty"))


@pytest.mark.parametrize(("name", "group"), [
    ("conv4_block7_1_conv", "conv4_block7"), ("block2a_expand_conv", "block2a"),
    ("dense_3", "dense_3"), ("flatten", "flatten")])
def test_name_groups(name: str, group: str) -> None:
    assert name_group(name) == group


def test_a_layer_added_before_the_output_rewires_it(catalog: Catalog) -> None:
    graph = diff_documents(from_records(chain_records(4, skip=3), "<a>", catalog),
                           from_records(chain_records(4), "<b>", catalog), counts=False).graph
    assert [layer.name for layer in graph.added] == ["dense_3"]
    assert [(r.node, r.slot, r.old, r.new) for r in graph.rewired] == [
        ("output y", "0", "dense_2", "dense_3")]
