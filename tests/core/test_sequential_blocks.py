"""A nested ``keras.Sequential`` opens as a block that remembers it is one, and comes back as
a ``keras.Sequential`` with the same config; a branch added to it makes it a functional block.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from roundtrip_support import assert_cli_round_trip, assert_round_trip

from layerforge.core.analysis.check import full_check
from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.codegen.loader import load_generated
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.document import Block, Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import AddBlock, Disconnect, GraphRecords, SetParam
from layerforge.core.io.keras_import.graph import import_model
from layerforge.core.io.project import dumps, loads
from layerforge.core.io.weights import apply_weights
from layerforge.core.schema.errors import ProjectFileError

keras = pytest.importorskip("keras")
layers = keras.layers


def stem_model() -> keras.Model:
    """A functional model around a small nested Sequential (ConvNeXt's stem in small)."""
    inputs = keras.Input((8, 8, 3), name="image")
    stem = keras.Sequential([layers.Conv2D(4, 3, name="stem_conv"),
                             layers.BatchNormalization(name="stem_bn")], name="stem")
    outputs = layers.GlobalAveragePooling2D(name="pool")(stem(inputs))
    return keras.Model(inputs, outputs, name="small")


def stem_block(doc: Document) -> Block:
    block = doc.block_named("stem")
    assert block is not None
    return block


def test_nested_sequential_comes_back_as_a_sequential(tmp_path: Path) -> None:
    """Same classes and configs (the Sequential's own, InputLayer included), same outputs;
    the export writes it as a person does."""
    model = stem_model()
    exported = assert_cli_round_trip(model, tmp_path)
    source = exported.read_text(encoding="utf-8")
    assert "    return keras.Sequential([\n        keras.Input(shape=(8, 8, 3)," in source
    assert "        layers.Conv2D(4, 3, name='stem_conv'),\n" in source
    assert "    ], name=name)\n" in source


def test_the_mark_is_saved_only_on_a_sequential_block(tmp_path: Path) -> None:
    """Saved, read back and copied (what training and the Keras check read) with the block."""
    doc = assert_round_trip(stem_model(), tmp_path)
    assert stem_block(doc).is_sequential and stem_block(doc.copy()).is_sequential
    text = dumps(doc)
    assert [b.get("sequential") for b in json.loads(text)["blocks"]] == [True]
    again = loads(text)
    assert stem_block(again).is_sequential and dumps(again) == text


def residual_edit(doc: Document, stack: UndoStack) -> int:
    """Inside the stem: conv -> bn -> output becomes Add(conv, bn) -> output, a branch.
    Returns the number of commands pushed."""
    block = stem_block(doc)
    graph = block.graph
    conv, bn = (graph.calls_of(layer.id)[0].id for layer in graph.layers.values())
    (output,) = graph.outputs()
    (to_output,) = graph.in_edges(output.id)
    add = edits.add_layer(doc, "Add", graph_key=block.id)
    commands = [Disconnect(to_output.id, block.id), add]
    for command in commands:
        stack.push(command)
    for src, dst in ((conv, add.node.id), (bn, add.node.id), (add.node.id, output.id)):
        stack.push(edits.connect(doc, src, dst, graph_key=block.id))
    return len(commands) + 3


def test_a_branch_makes_the_block_functional_and_undo_makes_it_sequential(
        tmp_path: Path) -> None:
    """A Sequential cannot branch: with one the block is written and saved as a functional
    model (the export still builds); undoing the edit gives the Sequential back."""
    doc = assert_round_trip(stem_model(), tmp_path)
    stack = UndoStack(doc)
    pushed = residual_edit(doc, stack)
    assert not stem_block(doc).is_sequential
    rebuilt = load_generated(generate(doc)).build_model()
    assert type(rebuilt.get_layer("stem")).__name__ == "Functional"
    assert "sequential" not in json.loads(dumps(doc))["blocks"][0]
    for _ in range(pushed):
        stack.undo()
    assert stem_block(doc).is_sequential
    assert "keras.Sequential([" in generate(doc).source


def test_a_sequential_mark_on_a_branching_block_is_refused(tmp_path: Path) -> None:
    doc = assert_round_trip(stem_model(), tmp_path)
    residual_edit(doc, UndoStack(doc))
    records = json.loads(dumps(doc))
    records["blocks"][0]["sequential"] = True
    with pytest.raises(ProjectFileError, match=r"blocks\[0\]\.sequential: expected a block "
                       r"that is a single chain .*received \"2 edges leaving 'stem_conv'\""):
        loads(json.dumps(records))


def test_live_pass_keras_check_and_edits_of_a_sequential_block(tmp_path: Path) -> None:
    model = stem_model()
    doc = assert_round_trip(model, tmp_path)
    block = stem_block(doc)
    engine = ShapeEngine(doc)
    engine.refresh()
    (call,) = doc.graph.calls_of(next(iter(doc.graph.layers.values())).id)
    assert engine.shapes()[call.id].outputs == ((None, 6, 6, 4),)
    assert engine.total_params() == model.count_params()
    conv = next(lay for lay in block.graph.layers.values() if lay.name == "stem_conv")
    UndoStack(doc).push(SetParam(conv.id, "filters", 8, block.id))
    assert block.is_sequential
    result = full_check(doc)
    assert result.ok, result.diagnostics
    stem = result.model.get_layer("stem")
    assert type(stem).__name__ == "Sequential" and stem.output.shape == (None, 6, 6, 8)


def test_a_sequential_block_holding_an_application_is_written_functional() -> None:
    """An application's constructor takes the shape of the tensor it is called on, which a
    Sequential's list does not name: such a block is written as a functional model."""
    doc = Document()
    stack = UndoStack(doc)
    stack.push(AddBlock("base_block", "base", GraphRecords([], [], [])))
    x = stack.push(edits.add_input(doc, [32, 32, 3], name="image", graph_key="base_block"))
    app = stack.push(edits.add_layer(doc, "applications.MobileNetV2",
                                     {"include_top": False, "weights": None, "pooling": "avg"},
                                     name="mobilenet", graph_key="base_block"))
    out = stack.push(edits.add_output(doc, name="mobilenet", graph_key="base_block"))
    for src, dst in ((x, app), (app, out)):
        stack.push(edits.connect(doc, src.node.id, dst.node.id, graph_key="base_block"))
    doc.block("base_block").sequential = True
    main_in = stack.push(edits.add_input(doc, [32, 32, 3], name="picture"))
    use = stack.push(edits.use_block(doc, "base_block"))
    main_out = stack.push(edits.add_output(doc, name="base"))
    for src, dst in ((main_in, use), (use, main_out)):
        stack.push(edits.connect(doc, src.node.id, dst.node.id))
    assert doc.block("base_block").is_sequential
    source = generate(doc).source
    assert "keras.Sequential" not in source
    base = load_generated(generate(doc)).build_model().get_layer("base")
    assert type(base).__name__ == "Functional" and base.output.shape == (None, 1280)


def test_weights_of_a_sequential_block_are_kept() -> None:
    """Weights captured on import go back into the rebuilt Sequential, layer by name."""
    model = stem_model()
    doc = import_model(model, keep_weights=True)
    rebuilt = load_generated(generate(doc)).build_model()
    assert apply_weights(rebuilt, doc) == 2
    batch = np.random.default_rng(3).random((2, 8, 8, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(rebuilt(batch)), np.asarray(model(batch)),
                               rtol=1e-5, atol=1e-6)
