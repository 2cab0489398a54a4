"""A tiny model with a base to fine-tune, shared by the core and window tests of the plan."""

from __future__ import annotations

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.renames import RenameLayer
from layerforge.core.schema.settings import (
    CallbackSpec,
    CompileSettings,
    DataSource,
    FineTune,
    TrainingSettings,
)

BASE_LAYERS = ["feat_a", "feat_bn", "feat_b", "feat_c"]  # inside the block, bottom to top
PHASE_TWO = ["feat_b", "feat_c"]  # the top 3 of the block's layers, less BatchNormalization
PLAN = FineTune("base", top=3, epochs=1, learning_rate=0.001)


def based_doc() -> Document:
    """features(8) -> block 'base' [Dense 6, BatchNormalization, Dense 5, Dense 4] -> head
    Dense 2 -> y, adam at 0.01, tiny settings that keep the last epoch's weights."""
    doc = Document(get_catalog())
    stack = UndoStack(doc)
    x = stack.push(edits.add_input(doc, [8], name="features")).node.id
    ids = [stack.push(edits.add_layer(doc, cls, params, name=name)).node.id
           for cls, params, name in (("Dense", {"units": 6}, "feat_a"),
                                     ("BatchNormalization", {}, "feat_bn"),
                                     ("Dense", {"units": 5}, "feat_b"),
                                     ("Dense", {"units": 4}, "feat_c"),
                                     ("Dense", {"units": 2}, "head"))]
    out = stack.push(edits.add_output(doc, name="head", loss="mse")).node.id
    for src, dst in zip([x, *ids], [*ids, out], strict=True):
        stack.push(edits.connect(doc, src, dst))
    stack.push(edits.group_into_block(doc, ids[:4], "base", [(8,)]))
    call = next(n for n in doc.graph.calls() if doc.graph.layer_of(n.id).block_id)
    stack.push(RenameLayer(call.layer_id, "base"))
    doc.compile = CompileSettings("adam", 0.01)
    doc.training = TrainingSettings(
        batch_size=8, epochs=1, seed=3, validation_split=0.25,
        callbacks=[CallbackSpec("ModelCheckpoint", {"save_best_only": False})],
        data={"features": DataSource("synthetic", {"samples": 32})})
    return doc
