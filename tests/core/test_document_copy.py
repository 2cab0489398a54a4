"""Document.copy(): what training and studies read while the user goes on editing."""

from __future__ import annotations

import numpy as np
import pytest

from layerforge.core.catalog.catalog import Catalog
from layerforge.core.document.document import Document
from layerforge.core.document.records import to_records
from layerforge.core.document.search_space import Dimension
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.renames import RenameLayer
from layerforge.core.io.templates import load_template


@pytest.fixture
def mlp(catalog: Catalog) -> Document:
    """An MLP with a block, a search dimension, changed settings and weights."""
    doc = load_template("sequential-mlp", catalog)
    stack = UndoStack(doc)
    dense = next(n for n in doc.graph.calls() if doc.graph.layer_of(n.id).name == "dense")
    stack.push(edits.group_into_block(doc, [dense.id], "encoder", [(20,)]))
    doc.search_space.put(Dimension("epochs", "int", 1, 5))
    doc.training.epochs = 7
    doc.compile.optimizer = "adam"
    doc.meta.title = "copied"
    layer = next(iter(doc.graph.layers))
    doc.weights = {layer: [np.ones((2, 2))]}
    doc.check_invariants()
    return doc


def test_a_copy_has_the_same_records_blocks_settings_and_weights(mlp: Document) -> None:
    twin = mlp.copy()
    twin.check_invariants()
    assert to_records(twin) == to_records(mlp)
    assert list(twin.blocks) == list(mlp.blocks)
    assert twin.weights.keys() == mlp.weights.keys()
    assert twin.catalog is mlp.catalog


def test_editing_the_copy_leaves_the_original_unchanged(mlp: Document) -> None:
    before = to_records(mlp)
    heard: list[object] = []
    mlp.graph.layer_changed.connect(lambda layer, what: heard.append(layer))
    twin = mlp.copy()
    layer = next(la for la in twin.graph.layers.values() if la.block_id is None)
    UndoStack(twin).push(RenameLayer(layer.id, "renamed"))
    block = next(iter(twin.blocks.values()))
    inner = next(iter(block.graph.layers.values()))
    inner.params["units"] = 3  # even an in-place change of a record stays in the copy
    twin.training.epochs = 99
    twin.compile.optimizer = "sgd"
    twin.meta.extra["note"] = "only the copy"
    twin.search_space.put(Dimension("batch_size", "choice", choices=(8, 16)))
    twin.weights.clear()
    assert to_records(mlp) == before
    assert mlp.weights and heard == []
