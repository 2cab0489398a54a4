"""Data for training: each named input and output bound to a source, checked against the graph.

The kinds of source (synthetic arrays shaped from the model, ``.npz``/``.npy``
files, CSV columns, image and text directories, scikit-learn's bundled datasets,
``keras.datasets``) and their loaders are listed in :mod:`core.schema.data_sources`.
Every loaded array goes through :func:`conform` (pad word-id sequences, add a
channel axis, one-hot class ids, cast), which raises a message naming the input
or output with what was expected and what was received. The helpers the exported
module shares with this one are in :mod:`core.codegen.portable`.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..codegen import data_plan
from ..codegen.portable import (
    conform,
    feed,
    input_shapes,
    output_shapes,
    split_validation,
    string_tensors,
    synthetic_array,
    synthetic_texts,
)
from ..codegen.vocabulary import embedding_problem, missing_vocabularies
from ..document.document import Document
from ..schema.data_sources import DATA_SOURCES, load_directory
from ..schema.errors import LayerForgeError
from ..schema.records import format_shape
from ..schema.settings import DataSource, TrainingSettings, split_seed


class DataError(LayerForgeError):
    """Data that does not fit the model; the message names the input or output."""


@dataclass
class TensorInfo:
    """One named model input or output: per-sample shape (no batch axis) and dtype."""

    name: str
    role: str  # "input" or "output"
    shape: tuple[int | None, ...]
    dtype: str
    loss: str | None = None
    vocab: int | None = None  # input_dim of the Embedding this input feeds
    text: data_plan.TextPlan | None = None  # how synthetic texts for a string input are drawn

    @property
    def label(self) -> str:
        return f"{self.role} '{self.name}'"


@dataclass
class ModelIO:
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]


@dataclass
class TrainData:
    """Arrays (or tf.data datasets for directories) ready for ``fit``."""

    inputs: list[str]
    outputs: list[str]
    x: dict[str, np.ndarray] = field(default_factory=dict)
    y: dict[str, np.ndarray] = field(default_factory=dict)
    val_x: dict[str, np.ndarray] = field(default_factory=dict)
    val_y: dict[str, np.ndarray] = field(default_factory=dict)
    dataset: Any = None
    val_dataset: Any = None

    @property
    def samples(self) -> int | None:
        return len(next(iter(self.x.values()))) if self.x else None

    @property
    def has_validation(self) -> bool:
        return bool(self.val_x) or self.val_dataset is not None

    def fit_arguments(self, how: str, batch_size: int, shuffle: bool) -> dict[str, Any]:
        if self.dataset is not None:
            return {"x": self.dataset, "validation_data": self.val_dataset}
        args: dict[str, Any] = {"x": feed(string_tensors(self.x), self.inputs, how),
                                "y": feed(self.y, self.outputs, how),
                                "batch_size": batch_size, "shuffle": shuffle}
        if self.val_x:
            args["validation_data"] = (feed(string_tensors(self.val_x), self.inputs, how),
                                       feed(self.val_y, self.outputs, how))
        return args

    def as_datasets(self, how: str, batch_size: int, shuffle: bool, seed: int | None
                    ) -> tuple[Any, Any]:
        """tf.data datasets (sharded by data across workers) for distributed training."""
        import tensorflow as tf  # lazy: only distributed runs need tf.data here

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA

        def make(x: dict[str, np.ndarray], y: dict[str, np.ndarray], mix: bool) -> Any:
            ds = tf.data.Dataset.from_tensor_slices((feed(x, self.inputs, how),
                                                     feed(y, self.outputs, how)))
            if mix:
                ds = ds.shuffle(len(next(iter(x.values()))), seed=seed)
            return ds.batch(batch_size).with_options(options)

        return make(self.x, self.y, shuffle), \
            (make(self.val_x, self.val_y, False) if self.val_x else None)

    def activation_inputs(self) -> Any:
        """Inputs to take the activation logger's sample from: the validation inputs (else
        the training inputs), as fed to the model; for a dataset its first batch."""
        if self.dataset is not None:
            batch = next(iter(self.val_dataset if self.val_dataset is not None else self.dataset))
            return np.asarray(batch[0])
        return feed(string_tensors(self.val_x or self.x), self.inputs, "dict")


# ------------------------------------------------------------ the model's I/O
def model_io(doc: Document, model: Any) -> ModelIO:
    losses = {o.name: o.loss for o in doc.graph.outputs()}
    vocab, texts = data_plan.embedding_vocab(doc), data_plan.text_plans(doc)
    inputs = [TensorInfo(t.name, "input", tuple(t.shape[1:]), str(t.dtype), vocab=vocab.get(t.name),
                         text=texts.get(t.name)) for t in model.inputs]
    outputs = [TensorInfo(name, "output", tuple(t.shape[1:]), str(t.dtype), losses.get(name))
               for name, t in zip(model.output_names, model.outputs, strict=True)]
    return ModelIO(inputs, outputs)


# ------------------------------------------------------------ loading
def load_training_data(doc: Document, model: Any, settings: TrainingSettings) -> TrainData:
    io = model_io(doc, model)
    names = ([t.name for t in io.inputs], [t.name for t in io.outputs])
    directory = _directory_binding(io, settings.data)
    if directory is not None:
        train_ds, val_ds = load_directory_binding(io, directory, settings)
        adapt_missing(doc, model, {names[0][0]: texts_of(train_ds)})
        return TrainData(*names, dataset=train_ds, val_dataset=val_ds)
    x, y = _load_bindings(io, model, settings.data, settings.seed)
    adapt_missing(doc, model, x)
    data = TrainData(*names, x=x, y=y)
    if settings.validation_data:
        data.val_x, data.val_y = _load_bindings(io, model, settings.validation_data,
                                                settings.seed)
    elif settings.validation_split > 0:
        # random inputs need no shuffle (the exported code writes their split as slices)
        shuffle = settings.shuffle_split and not data_plan.all_synthetic(names[0], settings.data)
        data.x, data.y, data.val_x, data.val_y = split_validation(
            data.x, data.y, settings.validation_split, shuffle, split_seed(settings))
    check_finite(data, settings.allow_nan)
    return data


def texts_of(dataset: Any) -> Any:
    """The inputs of a directory dataset of (inputs, labels) batches."""
    return dataset.map(lambda x, y: x)


def adapt_missing(doc: Document, model: Any, data: dict[str, Any]) -> None:
    """Adapt, in the built model, each vocabulary layer the project saved no vocabulary for,
    on the training data of the input that feeds it (as the exported code does)."""
    for use in missing_vocabularies(doc):
        if use.input_name in data:
            layer = model.get_layer(use.layer.name)
            try:
                layer.adapt(data[use.input_name])
            except (ValueError, TypeError) as exc:
                raise DataError(f"layer '{use.layer.name}' ({use.layer.class_name}): its "
                                f"vocabulary could not be adapted on input '{use.input_name}'"
                                f": {exc}") from None
            problem = embedding_problem(doc, use.layer, int(layer.vocabulary_size()))
            if problem is not None:
                raise DataError(problem)


def check_finite(data: TrainData, allow_nan: bool) -> None:
    """Refuse arrays holding NaN or Inf before the first batch, naming each with its counts
    (NaN reaches the loss and then every weight)."""
    if allow_nan:
        return
    found = []
    for part, arrays in (("", data.x), ("", data.y), ("validation ", data.val_x),
                         ("validation ", data.val_y)):
        for name, array in arrays.items():
            if not np.issubdtype(array.dtype, np.floating):
                continue
            nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
            if nan or inf:
                role = "input" if name in data.inputs else "output"
                found.append(f"{part}{role} '{name}': {nan} NaN and {inf} Inf of {array.size} "
                             "values")
    if found:
        raise DataError(f"expected finite numbers in the training data; received {'; '.join(found)}"
                        " (clean the data, or allow it: --allow-nan / 'Allow NaN' in the "
                        "training settings)")


def _load_bindings(io: ModelIO, model: Any, bindings: dict[str, DataSource], seed: int | None
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    samples = data_plan.synthetic_samples([t.name for t in io.inputs + io.outputs], bindings)
    shapes = _input_shapes(io, model, bindings)
    x = {t.name: _load_one(t, bindings.get(t.name), rng, samples, shapes[t.name], model)
         for t in io.inputs}
    count = len(next(iter(x.values())))
    out_shapes = output_shapes(model, x)
    y = {t.name: _load_one(t, bindings.get(t.name), rng, count, out_shapes[t.name])
         for t in io.outputs}
    _check_counts({**x, **y})
    return x, y


def _input_shapes(io: ModelIO, model: Any, bindings: dict[str, DataSource]
                  ) -> dict[str, tuple[int, ...]]:
    try:
        return input_shapes(model, data_plan.open_lengths([t.name for t in io.inputs], bindings))
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _load_one(t: TensorInfo, src: DataSource | None, rng: np.random.Generator, samples: int,
              shape: tuple[int | None, ...] | None, model: Any = None) -> np.ndarray:
    src = src or DataSource()
    try:
        if data_plan.is_synthetic(src) and t.text is not None:
            return synthetic_texts(rng, samples, shape or t.shape, model, t.text.layer,
                                   t.text.most)
        if data_plan.is_synthetic(src):
            concrete = shape or t.shape
            kind, high = _synthetic_kind(t, concrete)
            return synthetic_array(rng, samples, concrete, t.dtype, kind, high)
        array = load_source(src, t)
        return conform(array, t.shape, t.dtype, t.label, t.loss, t.vocab,
                       src.params.get("scale"))
    except DataError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc  # no quotes
        raise DataError(f"{t.label} ({src.kind}): {reason}") from None


def _synthetic_kind(t: TensorInfo, shape: tuple[int | None, ...]) -> tuple[str, int]:
    if t.role == "input":
        return data_plan.input_kind(t.dtype, t.vocab)
    kind = data_plan.target_kind(t.loss)
    classes = int(shape[-1] or 1) if shape else 1
    return kind, classes


def load_source(src: DataSource, t: TensorInfo) -> np.ndarray:
    kind = DATA_SOURCES[src.kind]
    if kind.whole_model:
        raise DataError(f"{t.label}: a {src.kind} source feeds a whole model (images or texts "
                        "with their labels); bind it to the model's one input")
    return kind.load(src.params, t.vocab)


def _check_counts(arrays: dict[str, np.ndarray]) -> None:
    counts = {name: len(a) for name, a in arrays.items()}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{n}: {c}" for n, c in counts.items())
        raise DataError(f"expected every input and output to have the same number of samples; "
                        f"received {shown}")


# ------------------------------------------------------------ directories
def _directory_binding(io: ModelIO, bindings: dict[str, DataSource]) -> DataSource | None:
    found = data_plan.whole_model_sources([t.name for t in io.inputs], bindings)
    if not found:
        return None
    if len(io.inputs) != 1 or len(io.outputs) != 1:
        raise DataError(f"a {found[0].kind} source gives images or texts with one label each: "
                        f"expected a model with one input and one output; received "
                        f"{len(io.inputs)} inputs and {len(io.outputs)} outputs")
    return found[0]


def load_directory_binding(io: ModelIO, src: DataSource, settings: TrainingSettings
                           ) -> tuple[Any, Any]:
    t_in, t_out = io.inputs[0], io.outputs[0]
    _check_directory_input(src.kind, t_in)
    try:
        train_ds, val_ds = load_directory(src.kind, src.params["path"], t_in.shape,
                                          data_plan.label_mode(t_out.loss), settings.batch_size,
                                          settings.validation_split, settings.seed or 0,
                                          settings.shuffle)
    except (OSError, ValueError) as exc:
        raise DataError(f"{t_in.label} ({src.kind} {src.params['path']!r}): {exc}") from None
    _check_element_spec(train_ds, t_in, t_out)
    return train_ds, val_ds


def _check_directory_input(kind: str, t: TensorInfo) -> None:
    """The input a folder feeds must take what it gives: images of a fixed height and width
    (with channels), or strings."""
    if kind == "image_dir" and (len(t.shape) != 3 or None in t.shape[:2]):
        raise DataError(f"{t.label}: an image folder gives images of shape (height, width, "
                        f"channels): expected an input of rank 3 with a fixed height and width;"
                        f" received an input of shape {format_shape(t.shape)}")
    if kind == "text_dir" and "string" not in t.dtype:
        raise DataError(f"{t.label}: a text folder gives strings: expected an input of dtype "
                        f"string (text vectorization inside the model); received dtype {t.dtype}")


def _check_element_spec(ds: Any, t_in: TensorInfo, t_out: TensorInfo) -> None:
    x_spec, y_spec = ds.element_spec
    got = tuple(x_spec.shape[1:])
    if len(got) != len(t_in.shape) or any(w is not None and g is not None and w != g
                                          for w, g in zip(t_in.shape, got, strict=True)):
        raise DataError(f"{t_in.label}: expected samples of shape {format_shape(t_in.shape)}; the "
                        f"directory gives {format_shape(got)}")
    want_classes = t_out.shape[-1] if t_out.shape else None
    got_y = tuple(y_spec.shape[1:])
    if data_plan.label_mode(t_out.loss) == "categorical" and got_y and got_y[-1] != want_classes:
        raise DataError(f"{t_out.label}: expected {want_classes} classes; the directory has "
                        f"{got_y[-1]} class folders")


# ------------------------------------------------------------ CSV preview
def preview(path: str | os.PathLike[str], n: int = 5) -> tuple[list[str], list[list[str]]]:
    """The header and the first ``n`` rows of a CSV file."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows = [row for _, row in zip(range(n), reader, strict=False)]
    return header, rows
