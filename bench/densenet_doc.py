"""A DenseNet121-sized document (the same layers as keras.applications.DenseNet121)."""

from __future__ import annotations

from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.layout import layered_layout


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def layer(self, class_name: str, src: list[str], name: str | None = None,
              **params: object) -> str:
        cmd = edits.add_layer(self.doc, class_name, params, name=name)
        cmd.redo(self.doc)
        for i, s in enumerate(src):
            slot = i if len(src) > 1 else 0
            edits.connect(self.doc, s, cmd.node.id, dst_slot=slot).redo(self.doc)
        return cmd.node.id

    def bn_relu(self, x: str) -> str:
        x = self.layer("BatchNormalization", [x], epsilon=1.001e-5)
        return self.layer("Activation", [x], activation="relu")


def densenet121_doc(blocks: tuple[int, ...] = (6, 12, 24, 16)) -> Document:
    doc = Document()
    b = _Builder(doc)
    inp = edits.add_input(doc, [224, 224, 3], name="input")
    inp.redo(doc)
    x = b.layer("ZeroPadding2D", [inp.node.id], padding=3)
    x = b.layer("Conv2D", [x], filters=64, kernel_size=7, strides=2, use_bias=False)
    x = b.bn_relu(x)
    x = b.layer("ZeroPadding2D", [x], padding=1)
    x = b.layer("MaxPooling2D", [x], pool_size=3, strides=2)
    channels = 64
    for i, count in enumerate(blocks):
        for _ in range(count):
            y = b.bn_relu(x)
            y = b.layer("Conv2D", [y], filters=128, kernel_size=1, use_bias=False)
            y = b.bn_relu(y)
            y = b.layer("Conv2D", [y], filters=32, kernel_size=3, padding="same", use_bias=False)
            x = b.layer("Concatenate", [x, y])
            channels += 32
        if i < len(blocks) - 1:
            x = b.bn_relu(x)
            channels //= 2
            x = b.layer("Conv2D", [x], filters=channels, kernel_size=1, use_bias=False)
            x = b.layer("AveragePooling2D", [x], pool_size=2, strides=2)
    x = b.bn_relu(x)
    x = b.layer("GlobalAveragePooling2D", [x])
    # Named like Keras' own DenseNet121, so the output needs no renaming layer.
    x = b.layer("Dense", [x], name="predictions", units=1000, activation="softmax")
    out = edits.add_output(doc, name="predictions")
    out.redo(doc)
    edits.connect(doc, x, out.node.id).redo(doc)
    return doc


def laid_out(doc: Document) -> Document:
    """The document built above has no positions (every node at the origin, one pile):
    lay it out as the app lays out a model it opens."""
    for node_id, position in layered_layout(doc.graph).items():
        doc.graph.move_node(node_id, position)
    return doc
