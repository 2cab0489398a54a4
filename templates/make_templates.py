"""Build the chapter-7 templates with the public document API and save them as project files.

Run from the repository root after changing a template here (the JSON files beside this
script are what the app and ``layerforge templates`` ship; tests/core/test_templates.py checks
that running this script reproduces them byte for byte)::

    .venv/bin/python templates/make_templates.py

Ids are derived from the template name and a counter (uuid5), so running the
script again writes byte-identical files. Layout: inputs on top, one row every
``ROW`` pixels downwards, parallel branches ``COLUMN`` pixels apart.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.io import project
from layerforge.core.schema import records as model

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
ROW = 110.0
COLUMN = 220.0
NAMESPACE = uuid.UUID("5f0c6a52-3c1e-4d5e-9a57-6c61796572f0")


class _Ids:
    """Deterministic replacement for ``uuid4``: uuid5 of the template name and a counter."""

    def __init__(self) -> None:
        self.template = ""
        self.count = 0

    def reset(self, template: str) -> None:
        self.template, self.count = template, 0

    def __call__(self) -> str:
        self.count += 1
        return uuid.uuid5(NAMESPACE, f"{self.template}/{self.count}").hex


IDS = _Ids()


@contextmanager
def deterministic_ids() -> Iterator[None]:
    """Make the edit factories draw ids from :data:`IDS` (restored afterwards)."""
    saved = (model.new_id, edits.new_id)
    model.new_id = edits.new_id = IDS
    try:
        yield
    finally:
        model.new_id, edits.new_id = saved


def keras_name(class_name: str) -> str:
    """Keras' own automatic layer name (its ``to_snake_case``): Conv1D -> conv1d,
    MaxPooling2D -> max_pooling2d, so template layers are named as the book's code names them."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def at(column: float, row: float) -> tuple[float, float]:
    return (column * COLUMN, row * ROW)


class Builder:
    """A thin layer over the edit factories: every edit goes through an undo stack."""

    def __init__(self, name: str, *, title: str, section: str, description: str,
                 optimizer: str = "rmsprop") -> None:
        IDS.reset(name)
        self.name = name
        self.doc = Document()
        self.stack = UndoStack(self.doc)
        self.doc.meta.title = title
        self.doc.meta.section = section
        self.doc.meta.description = description
        self.doc.compile.optimizer = optimizer

    def input(self, name: str, shape: Sequence[int | None], *, dtype: str = "float32",
              pos: tuple[float, float] = (0.0, 0.0)) -> str:
        cmd = edits.add_input(self.doc, shape, name=name, dtype=dtype, position=pos)
        self.stack.push(cmd)
        return cmd.node.id

    def layer(self, class_name: str, sources: str | Sequence[str], params: dict[str, Any],
              *, name: str | None = None, pos: tuple[float, float] = (0.0, 0.0)) -> str:
        name = name or self.doc.graph.unique_name(keras_name(class_name))
        cmd = edits.add_layer(self.doc, class_name, self.non_default(class_name, params),
                              name=name, position=pos)
        self.stack.push(cmd)
        self.connect(sources, cmd.node.id)
        return cmd.node.id

    def non_default(self, class_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Drop values equal to the catalog default, as SetParam stores them ('unset').

        Applications keep every value: their catalog defaults (include_top False, weights
        None) are not Keras' defaults (True, 'imagenet'), so an unset value would be wrong
        wherever a Keras object is made from the stored params alone.
        """
        entry = self.doc.catalog.get(class_name)
        if entry.is_application:
            return dict(params)
        return {k: v for k, v in params.items()
                if entry.param(k).required or k in entry.initial or v != entry.param(k).default}

    def again(self, node_id: str, sources: str | Sequence[str], *,
              pos: tuple[float, float]) -> str:
        """A second call of ``node_id``'s layer instance (shared weights)."""
        cmd = edits.call_again(self.doc, node_id, position=pos)
        self.stack.push(cmd)
        self.connect(sources, cmd.node.id)
        return cmd.node.id

    def output(self, source: str, *, loss: str | None = None, loss_weight: float = 1.0,
               metrics: list[str] | None = None, pos: tuple[float, float]) -> str:
        """An output; connecting names it after the layer that produces it, as in the app
        (so the code has no Identity layer)."""
        cmd = edits.add_output(self.doc, loss=loss, loss_weight=loss_weight, metrics=metrics,
                               position=pos)
        self.stack.push(cmd)
        self.connect(source, cmd.node.id)
        return cmd.node.id

    def connect(self, sources: str | Sequence[str], dst: str) -> None:
        for src in [sources] if isinstance(sources, str) else sources:
            self.stack.push(edits.connect(self.doc, src, dst))

    def chain(self, source: str, specs: Sequence[tuple[str, dict[str, Any]]], *,
              column: float = 0.0, first_row: float = 1.0) -> str:
        """Layers one after another in a column; returns the last node id."""
        node = source
        for i, (class_name, spec) in enumerate(specs):
            params = dict(spec)
            name = params.pop("name", None)
            node = self.layer(class_name, node, params, name=name,
                              pos=at(column, first_row + i))
        return node

    def save(self, directory: Path) -> Path:
        self.doc.check_invariants()
        path = directory / f"{self.name}.json"
        project.save(self.doc, path)
        return path


# ------------------------------------------------------------------ templates
def sequential_mlp() -> Builder:
    b = Builder("sequential-mlp", title="Sequential MLP", section="7.1.1",
                description="Three Dense layers on a 64-feature input, written with the "
                            "functional API: the book's first comparison with Sequential.")
    x = b.input("features", [64], pos=at(0, 0))
    x = b.chain(x, [("Dense", {"units": 32, "activation": "relu"}),
                    ("Dense", {"units": 32, "activation": "relu"}),
                    ("Dense", {"units": 10, "activation": "softmax", "name": "predictions"})])
    b.output(x, loss="categorical_crossentropy", pos=at(0, 4))
    return b


def question_answering() -> Builder:
    b = Builder("question-answering", title="Question answering (two inputs)", section="7.1.2",
                description="A reference text and a question, each embedded and encoded by an "
                            "LSTM, concatenated, then a softmax over 500 possible answers.")
    encoded = []
    for column, name in ((-0.5, "text"), (0.5, "question")):
        x = b.input(name, [None], dtype="int32", pos=at(column, 0))
        x = b.layer("Embedding", x, {"input_dim": 10000, "output_dim": 64},
                    name=f"embedded_{name}", pos=at(column, 1))
        encoded.append(b.layer("LSTM", x, {"units": 32}, name=f"encoded_{name}",
                               pos=at(column, 2)))
    x = b.layer("Concatenate", encoded, {"axis": -1}, name="concatenated", pos=at(0, 3))
    x = b.layer("Dense", x, {"units": 500, "activation": "softmax"}, name="answer", pos=at(0, 4))
    b.output(x, loss="categorical_crossentropy", metrics=["acc"], pos=at(0, 5))
    return b


def social_media_multi_output() -> Builder:
    b = Builder("social-media-multi-output", title="Social media: age, income, gender",
                section="7.1.3",
                description="A 1D convnet over a user's posts with three heads: age "
                            "(regression, mse), income group (10-way softmax) and gender "
                            "(sigmoid); losses weighted 0.25, 1 and 10.")
    x = b.input("posts", [None], dtype="int32", pos=at(0, 0))
    conv = "Conv1D"
    x = b.chain(x, [("Embedding", {"input_dim": 50000, "output_dim": 256}),
                    (conv, {"filters": 128, "kernel_size": 5, "activation": "relu"}),
                    ("MaxPooling1D", {"pool_size": 5}),
                    (conv, {"filters": 256, "kernel_size": 5, "activation": "relu"}),
                    (conv, {"filters": 256, "kernel_size": 5, "activation": "relu"}),
                    ("MaxPooling1D", {"pool_size": 5}),
                    (conv, {"filters": 256, "kernel_size": 5, "activation": "relu"}),
                    (conv, {"filters": 256, "kernel_size": 5, "activation": "relu"}),
                    ("GlobalMaxPooling1D", {}),
                    ("Dense", {"units": 128, "activation": "relu"})])
    heads = [("age", {"units": 1}, "mse", 0.25),
             ("income", {"units": 10, "activation": "softmax"}, "categorical_crossentropy", 1.0),
             ("gender", {"units": 1, "activation": "sigmoid"}, "binary_crossentropy", 10.0)]
    for column, (name, params, loss, weight) in zip((-1, 0, 1), heads, strict=True):
        head = b.layer("Dense", x, params, name=name, pos=at(column, 11))
        b.output(head, loss=loss, loss_weight=weight, pos=at(column, 12))
    return b


def inception_module() -> Builder:
    b = Builder("inception-module", title="Inception module", section="7.1.4",
                description="Four parallel branches (1x1 convolutions, 3x3 convolutions, average "
                            "pooling) concatenated along channels; 'same' padding and stride 2 "
                            "take 32x32x64 to 16x16x512.")
    x = b.input("input", [32, 32, 64], pos=at(0, 0))
    relu = {"activation": "relu", "padding": "same"}
    branches = {
        "branch_a": [("Conv2D", {"filters": 128, "kernel_size": 1, "strides": 2, **relu})],
        "branch_b": [("Conv2D", {"filters": 128, "kernel_size": 1, **relu}),
                     ("Conv2D", {"filters": 128, "kernel_size": 3, "strides": 2, **relu})],
        "branch_c": [("AveragePooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}),
                     ("Conv2D", {"filters": 128, "kernel_size": 3, **relu})],
        "branch_d": [("Conv2D", {"filters": 128, "kernel_size": 1, **relu}),
                     ("Conv2D", {"filters": 128, "kernel_size": 3, **relu}),
                     ("Conv2D", {"filters": 128, "kernel_size": 3, "strides": 2, **relu})],
    }
    ends = []
    for column, (branch, specs) in zip((-1.5, -0.5, 0.5, 1.5), branches.items(), strict=True):
        named = [(cls, {**params, "name": f"{branch}_{i + 1}" if len(specs) > 1 else branch})
                 for i, (cls, params) in enumerate(specs)]
        ends.append(b.chain(x, named, column=column))
    out = b.layer("Concatenate", ends, {"axis": -1}, name="inception_output", pos=at(0, 4))
    b.output(out, pos=at(0, 5))
    return b


def residual_identity() -> Builder:
    b = Builder("residual-identity", title="Residual connection (identity)", section="7.1.4",
                description="Three 3x3 convolutions with 'same' padding keep the 32x32x128 shape, "
                            "so the input is added back unchanged.")
    x = b.input("input", [32, 32, 128], pos=at(0, 0))
    conv = {"filters": 128, "kernel_size": 3, "activation": "relu", "padding": "same"}
    y = b.chain(x, [("Conv2D", dict(conv)) for _ in range(3)])
    out = b.layer("Add", [y, x], {}, name="residual_add", pos=at(0, 4))
    b.output(out, pos=at(0, 5))
    return b


def residual_projection() -> Builder:
    b = Builder("residual-projection", title="Residual connection (projection)",
                section="7.1.4",
                description="Two convolutions and a 2x2 max pooling change the shape to "
                            "16x16x128, so the input is projected by a strided 1x1 convolution "
                            "before the addition.")
    x = b.input("input", [32, 32, 64], pos=at(0, 0))
    conv = {"filters": 128, "kernel_size": 3, "activation": "relu", "padding": "same"}
    y = b.chain(x, [("Conv2D", dict(conv)), ("Conv2D", dict(conv)),
                    ("MaxPooling2D", {"pool_size": 2})])
    residual = b.layer("Conv2D", x, {"filters": 128, "kernel_size": 1, "strides": 2,
                                     "padding": "same"}, name="residual", pos=at(1, 2))
    out = b.layer("Add", [y, residual], {}, name="residual_add", pos=at(0, 4))
    b.output(out, pos=at(0, 5))
    return b


def siamese_lstm() -> Builder:
    b = Builder("siamese-lstm", title="Siamese LSTM (shared weights)", section="7.1.5",
                description="One LSTM layer called on two sentences (left and right) shares its "
                            "weights; the two encodings are concatenated and scored by a sigmoid.")
    left = b.input("left", [None, 128], pos=at(-0.5, 0))
    right = b.input("right", [None, 128], pos=at(0.5, 0))
    first = b.layer("LSTM", left, {"units": 32}, name="lstm", pos=at(-0.5, 1))
    second = b.again(first, right, pos=at(0.5, 1))
    x = b.layer("Concatenate", [first, second], {"axis": -1}, name="merged", pos=at(0, 2))
    x = b.layer("Dense", x, {"units": 1, "activation": "sigmoid"}, name="predictions",
                pos=at(0, 3))
    b.output(x, loss="binary_crossentropy", pos=at(0, 4))
    return b


def dual_camera_xception() -> Builder:
    b = Builder("dual-camera-xception", title="Dual camera (a model as a layer)", section="7.1.6",
                description="One Xception convolutional base (no top, untrained) applied to the "
                            "left and right camera images, sharing its weights; the two feature "
                            "maps are concatenated.")
    left = b.input("left_camera", [250, 250, 3], pos=at(-0.5, 0))
    right = b.input("right_camera", [250, 250, 3], pos=at(0.5, 0))
    params = {"include_top": False, "weights": None}
    first = b.layer("applications.Xception", left, params, name="xception_base",
                    pos=at(-0.5, 1))
    second = b.again(first, right, pos=at(0.5, 1))
    x = b.layer("Concatenate", [first, second], {"axis": -1}, name="merged_features",
                pos=at(0, 2))
    b.output(x, pos=at(0, 3))
    return b


def imdb_conv1d() -> Builder:
    b = Builder("imdb-conv1d", title="IMDB 1D convnet", section="7.2.2",
                description="The text classifier trained with TensorBoard: an embedding of the "
                            "2,000 most frequent words over reviews cut to 500 words, two 1D "
                            "convolutions and one output unit.")
    x = b.input("review", [500], dtype="int32", pos=at(0, 0))
    x = b.chain(x, [("Embedding", {"input_dim": 2000, "output_dim": 128, "name": "embed"}),
                    ("Conv1D", {"filters": 32, "kernel_size": 7, "activation": "relu"}),
                    ("MaxPooling1D", {"pool_size": 5}),
                    ("Conv1D", {"filters": 32, "kernel_size": 7, "activation": "relu"}),
                    ("GlobalMaxPooling1D", {}),
                    ("Dense", {"units": 1, "name": "sentiment"})])
    b.output(x, loss="binary_crossentropy", metrics=["acc"], pos=at(0, 7))
    return b


def separable_convnet() -> Builder:
    b = Builder("separable-convnet", title="Depthwise separable convnet", section="7.3.1",
                description="A light image classifier built from SeparableConv2D layers: "
                            "64x64 RGB images, 10 classes.")
    x = b.input("image", [64, 64, 3], pos=at(0, 0))

    def sep(filters: int) -> tuple[str, dict[str, Any]]:
        return ("SeparableConv2D", {"filters": filters, "kernel_size": 3, "activation": "relu"})

    pool = ("MaxPooling2D", {"pool_size": 2})
    x = b.chain(x, [sep(32), sep(64), pool, sep(64), sep(128), pool,
                    sep(64), sep(128), ("GlobalAveragePooling2D", {}),
                    ("Dense", {"units": 32, "activation": "relu"}),
                    ("Dense", {"units": 10, "activation": "softmax", "name": "predictions"})])
    b.output(x, loss="categorical_crossentropy", pos=at(0, 12))
    return b


def batchnorm_convnet() -> Builder:
    b = Builder("batchnorm-convnet", title="Batch normalization", section="7.3.1",
                description="28x28x1 input; Conv2D(32, 3, relu), BatchNormalization, "
                            "MaxPooling2D(2), Flatten, Dense(32, relu), BatchNormalization, "
                            "Dense(10, softmax): batch normalization after a convolution and "
                            "after a dense layer.")
    x = b.input("image", [28, 28, 1], pos=at(0, 0))
    x = b.chain(x, [("Conv2D", {"filters": 32, "kernel_size": 3, "activation": "relu"}),
                    ("BatchNormalization", {}),
                    ("MaxPooling2D", {"pool_size": 2}),
                    ("Flatten", {}),
                    ("Dense", {"units": 32, "activation": "relu"}),
                    ("BatchNormalization", {}),
                    ("Dense", {"units": 10, "activation": "softmax", "name": "predictions"})])
    b.output(x, loss="categorical_crossentropy", pos=at(0, 8))
    return b


def wide_and_deep() -> Builder:
    b = Builder("wide-and-deep", title="Wide and deep", section="7.3.3",
                description="A linear model of 100 wide (sparse, crossed) features and a deep "
                            "network of 20 dense features, trained together: their outputs "
                            "are added and squashed by a sigmoid.")
    wide = b.input("wide", [100], pos=at(-1, 0))
    deep = b.input("deep", [20], pos=at(0.5, 0))
    linear = b.layer("Dense", wide, {"units": 1}, name="wide_linear", pos=at(-1, 3))
    x = b.chain(deep, [("Dense", {"units": 64, "activation": "relu"}),
                       ("Dense", {"units": 32, "activation": "relu"}),
                       ("Dense", {"units": 1, "name": "deep_output"})], column=0.5)
    x = b.layer("Add", [linear, x], {}, name="wide_plus_deep", pos=at(0, 4))
    x = b.layer("Activation", x, {"activation": "sigmoid"}, name="prediction", pos=at(0, 5))
    b.output(x, loss="binary_crossentropy", metrics=["accuracy"], pos=at(0, 6))
    return b


def text_classifier() -> Builder:
    b = Builder("text-classifier", title="Text classifier (raw strings)", section="11.3",
                description="Raw text in, a yes/no score out: TextVectorization keeps the 1,000 "
                            "most frequent words and cuts each text to 64 token ids, an "
                            "Embedding and an average over the words feed one sigmoid unit. "
                            "It trains on random texts as it is; bind a text folder in the "
                            "Training dock (then Adapt vocabulary) to learn from real ones.")
    x = b.input("text", [1], dtype="string", pos=at(0, 0))
    x = b.chain(x, [("TextVectorization", {"max_tokens": 1000, "output_sequence_length": 64}),
                    ("Embedding", {"input_dim": 1000, "output_dim": 16}),
                    ("GlobalAveragePooling1D", {}),
                    ("Dense", {"units": 1, "activation": "sigmoid", "name": "score"})])
    b.output(x, loss="binary_crossentropy", metrics=["accuracy"], pos=at(0, 5))
    return b


TEMPLATES: list[Callable[[], Builder]] = [
    sequential_mlp, question_answering, social_media_multi_output, inception_module,
    residual_identity, residual_projection, siamese_lstm, dual_camera_xception, imdb_conv1d,
    separable_convnet, batchnorm_convnet, wide_and_deep, text_classifier,
]


def write_templates(directory: Path = TEMPLATES_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    with deterministic_ids():
        return [make().save(directory) for make in TEMPLATES]


def main(argv: Sequence[str] = ()) -> int:
    for path in write_templates(Path(argv[0]) if argv else TEMPLATES_DIR):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
