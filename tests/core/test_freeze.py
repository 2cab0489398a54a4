"""Frozen layers (trainable=False): training keeps their weights, files and exports keep the
freezing, an imported frozen layer stays frozen, and the summary counts their weights apart."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from layerforge.core.analysis.summary import format_summary, summarize
from layerforge.core.codegen.loader import build_and_compile
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.freeze import is_frozen, set_trainable
from layerforge.core.io.export import export_keras, export_python
from layerforge.core.io.keras_import.files import import_file
from layerforge.core.io.project import dumps, loads
from layerforge.core.io.templates import load_template
from layerforge.core.schema.records import CallNode
from layerforge.core.schema.settings import DataSource, TrainingSettings
from layerforge.core.training.fit import train
from layerforge.core.training.runs import load_run_model

keras = pytest.importorskip("keras")


def frozen_mlp() -> tuple[Document, str, str]:
    """sequential-mlp with its first Dense frozen: (document, frozen name, trainable name)."""
    doc = load_template("sequential-mlp")
    calls = [n for n in doc.graph.calls() if doc.graph.layer_of(n.id).class_name == "Dense"]
    UndoStack(doc).push(set_trainable(doc, calls[0].id, False))
    names = [doc.graph.layer_of(n.id).name for n in calls]
    return doc, names[0], names[1]


def test_a_frozen_layer_keeps_its_weights_in_training(tmp_path):
    doc, frozen, free = frozen_mlp()
    settings = TrainingSettings(batch_size=8, epochs=2, seed=1, data={
        "features": DataSource("synthetic", {"samples": 40})})
    keras.utils.set_random_seed(1)  # what the run does before it builds the same model
    before = build_and_compile(doc)
    result = train(doc, settings, run_dir=tmp_path / "run")
    assert result.status == "completed", result.message
    after = load_run_model(tmp_path / "run")
    for old, new in zip(before.get_layer(frozen).get_weights(),
                        after.get_layer(frozen).get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert not all(np.array_equal(old, new) for old, new in zip(
        before.get_layer(free).get_weights(), after.get_layer(free).get_weights(), strict=True))


def test_freezing_is_saved_only_when_frozen_and_undone():
    doc, frozen, _ = frozen_mlp()
    records = json.loads(dumps(doc))["graph"]["layers"]
    assert [r.get("trainable") for r in records if r["name"] == frozen] == [False]
    assert all("trainable" not in r for r in records if r["name"] != frozen)
    again = loads(dumps(doc))
    assert {layer.name: layer.trainable for layer in again.graph.layers.values()} == \
        {layer.name: layer.trainable for layer in doc.graph.layers.values()}
    plain = load_template("sequential-mlp")
    stack = UndoStack(plain)
    call = next(n for n in plain.graph.calls())
    stack.push(set_trainable(plain, call.id, False))
    assert plain.graph.layer_of(call.id).trainable is False
    stack.undo()
    assert dumps(plain) == dumps(load_template("sequential-mlp"))


def test_the_export_freezes_the_layer(tmp_path):
    doc, frozen, free = frozen_mlp()
    code = export_python(doc, tmp_path / "model.py")
    assert f"trainable=False, name={frozen!r}" in code.source.replace("\n", " ").replace(
        "    ", "")
    spec = importlib.util.spec_from_file_location("exported_model", tmp_path / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model()
    assert model.get_layer(frozen).trainable is False
    assert model.get_layer(free).trainable is True


def test_a_frozen_layer_survives_export_and_import(tmp_path):
    doc, frozen, free = frozen_mlp()
    export_keras(doc, tmp_path / "m.keras")
    imported = import_file(tmp_path / "m.keras").doc
    by_name = {layer.name: layer for layer in imported.graph.layers.values()}
    assert by_name[frozen].trainable is False and by_name[free].trainable is True
    assert "trainable=False" in generate(imported).source


def test_the_summary_counts_frozen_weights_as_non_trainable():
    doc, frozen, _ = frozen_mlp()
    data = summarize(doc)
    assert data["non_trainable_params"] == 64 * 32 + 32  # the frozen Dense(32) on 64 features
    assert data["trainable_params"] + data["non_trainable_params"] == data["params"]
    assert "Non-trainable params: 2,080" in format_summary(data)
    assert [row.get("trainable", True) for row in data["layers"] if row["name"] == frozen] \
        == [False]


def test_freezing_a_block_call_freezes_every_layer_of_the_block(doc, stack):
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    first = stack.push(edits.add_layer(doc, "Dense", {"units": 3}, name="d1")).node.id
    second = stack.push(edits.add_layer(doc, "Dense", {"units": 2}, name="d2")).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, first))
    stack.push(edits.connect(doc, first, second))
    stack.push(edits.connect(doc, second, out))
    stack.push(edits.group_into_block(doc, [first, second], "pair", [(4,)]))
    call = next(n for n in doc.graph.calls())
    assert isinstance(call, CallNode)
    stack.push(set_trainable(doc, call.id, False))
    block = next(iter(doc.blocks.values()))
    assert not any(layer.trainable for layer in block.graph.layers.values())
    assert not any(layer.trainable for layer in doc.graph.layers.values())
    assert is_frozen(doc, doc.graph.layer(call.layer_id))
    model = build_and_compile(doc)
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4
    stack.undo()
    assert all(layer.trainable for layer in block.graph.layers.values())
    assert not is_frozen(doc, doc.graph.layer(call.layer_id))


def test_a_frozen_application_is_frozen_once_made():
    """keras.applications.* take no trainable= argument: the code sets it on the model."""
    doc = load_template("dual-camera-xception")
    call = doc.graph.calls()[0]
    name = doc.graph.layer_of(call.id).name
    UndoStack(doc).push(set_trainable(doc, call.id, False))
    source = generate(doc).source
    assert f"    {name}_layer.trainable = False\n" in source
    assert source.index(f"{name}_layer = keras.applications.") < \
        source.index(f"{name}_layer.trainable = False")
