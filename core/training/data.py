"""Data for training: each named input and output bound to a source, checked against the graph.

Sources: synthetic arrays shaped from the model, ``.npz``/``.npy`` files, CSV
columns, image and text directories, scikit-learn's bundled datasets and
``keras.datasets``. Every loaded array goes through :func:`conform` (pad word-id
sequences, add a channel axis, one-hot class ids, cast), which raises a message
naming the input or output with what was expected and what was received.

The functions marked *portable* import what they need themselves and use
nothing else from LayerForge: the exported module (``train_codegen``) contains
their exact source, so exported training loads the same data the same way.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..document.document import Document
from ..schema.errors import LayerForgeError
from ..schema.records import CallNode, format_shape
from ..schema.settings import DataSource, TrainingSettings

SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")
KERAS_DATASETS = ("imdb", "mnist", "fashion_mnist", "cifar10", "reuters")
DIRECTORY_KINDS = ("image_dir", "text_dir")
DEFAULT_SAMPLES = 256
# Lengths tried, in order, for sequence dimensions left open (None) in the graph: the
# first one the whole model accepts (pooling can need long sequences) is used.
SEQUENCE_LENGTHS = (100, 500, 2000)


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

    def fit_arguments(self, feed: str, batch_size: int, shuffle: bool) -> dict[str, Any]:
        if self.dataset is not None:
            return {"x": self.dataset, "validation_data": self.val_dataset}
        args: dict[str, Any] = {"x": self._feed(self.x, self.inputs, feed),
                                "y": self._feed(self.y, self.outputs, feed),
                                "batch_size": batch_size, "shuffle": shuffle}
        if self.val_x:
            args["validation_data"] = (self._feed(self.val_x, self.inputs, feed),
                                       self._feed(self.val_y, self.outputs, feed))
        return args

    def as_datasets(self, feed: str, batch_size: int, shuffle: bool, seed: int | None
                    ) -> tuple[Any, Any]:
        """tf.data datasets (sharded by data across workers) for distributed training."""
        import tensorflow as tf

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = \
            tf.data.experimental.AutoShardPolicy.DATA

        def make(x: dict[str, np.ndarray], y: dict[str, np.ndarray], mix: bool) -> Any:
            ds = tf.data.Dataset.from_tensor_slices((self._feed(x, self.inputs, feed),
                                                     self._feed(y, self.outputs, feed)))
            if mix:
                ds = ds.shuffle(len(next(iter(x.values()))), seed=seed)
            return ds.batch(batch_size).with_options(options)

        return make(self.x, self.y, shuffle), \
            (make(self.val_x, self.val_y, False) if self.val_x else None)

    @staticmethod
    def _feed(arrays: dict[str, np.ndarray], names: list[str], feed: str) -> Any:
        """A dict of names or a list in graph order; a model's only input or output is passed
        as the bare array (Keras reads a one-key dict for a single tensor as a structure)."""
        if feed == "dict" and len(names) > 1:
            return {name: arrays[name] for name in names}
        return arrays[names[0]] if len(names) == 1 else [arrays[n] for n in names]

    def activation_inputs(self) -> Any:
        """Inputs to take the activation logger's sample from: the validation inputs (else
        the training inputs), as fed to the model; for a dataset its first batch."""
        if self.dataset is not None:
            batch = next(iter(self.val_dataset if self.val_dataset is not None else self.dataset))
            return np.asarray(batch[0])
        return self._feed(self.val_x or self.x, self.inputs, "dict")


# ------------------------------------------------------------ the model's I/O
def model_io(doc: Document, model: Any) -> ModelIO:
    losses = {o.name: o.loss for o in doc.graph.outputs()}
    vocab = _embedding_vocab(doc)
    inputs = [TensorInfo(t.name, "input", tuple(t.shape[1:]), str(t.dtype), vocab=vocab.get(t.name))
              for t in model.inputs]
    outputs = [TensorInfo(name, "output", tuple(t.shape[1:]), str(t.dtype), losses.get(name))
               for name, t in zip(model.output_names, model.outputs, strict=True)]
    return ModelIO(inputs, outputs)


def _embedding_vocab(doc: Document) -> dict[str, int]:
    """Input name -> the input_dim of an Embedding it feeds directly."""
    graph = doc.graph
    found: dict[str, int] = {}
    for node in graph.inputs():
        for edge in graph.out_edges(node.id):
            dst = graph.nodes[edge.dst]
            if isinstance(dst, CallNode):
                layer = graph.layer(dst.layer_id)
                if layer.class_name == "Embedding" and "input_dim" in layer.params:
                    found[node.name] = int(layer.params["input_dim"])
    return found


def target_kind(loss: str | None) -> str:
    """What synthetic targets suit a loss: class ids, one-hot rows, 0/1 or floats."""
    key = (loss or "").lower().replace("_", "")
    if key == "sparsecategoricalcrossentropy":
        return "sparse"
    if key in ("categoricalcrossentropy", "categoricalfocalcrossentropy"):
        return "onehot"
    if key in ("binarycrossentropy", "binaryfocalcrossentropy", "hinge", "squaredhinge"):
        return "binary"
    return "floats"


# ------------------------------------------------------------ loading
def load_training_data(doc: Document, model: Any, settings: TrainingSettings) -> TrainData:
    io = model_io(doc, model)
    names = ([t.name for t in io.inputs], [t.name for t in io.outputs])
    directory = _directory_binding(io, settings.data)
    if directory is not None:
        train_ds, val_ds = load_directory_binding(io, directory, settings)
        return TrainData(*names, dataset=train_ds, val_dataset=val_ds)
    x, y = _load_bindings(io, model, settings.data, settings.seed)
    data = TrainData(*names, x=x, y=y)
    if settings.validation_data:
        data.val_x, data.val_y = _load_bindings(io, model, settings.validation_data,
                                                settings.seed)
    elif settings.validation_split > 0:
        data.x, data.y, data.val_x, data.val_y = split_validation(data.x, data.y,
                                                                  settings.validation_split)
    return data


def _load_bindings(io: ModelIO, model: Any, bindings: dict[str, DataSource], seed: int | None
                   ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    samples = _synthetic_samples(io, bindings)
    shapes = _input_shapes(io, model, bindings)
    x = {t.name: _load_one(t, bindings.get(t.name), rng, samples, shapes[t.name])
         for t in io.inputs}
    count = len(next(iter(x.values())))
    out_shapes = output_shapes(model, x)
    y = {t.name: _load_one(t, bindings.get(t.name), rng, count, out_shapes[t.name])
         for t in io.outputs}
    _check_counts({**x, **y})
    return x, y


def _synthetic_samples(io: ModelIO, bindings: dict[str, DataSource]) -> int:
    for t in io.inputs + io.outputs:
        src = bindings.get(t.name)
        if src is not None and src.kind == "synthetic" and "samples" in src.params:
            return int(src.params["samples"])
    return DEFAULT_SAMPLES


def open_lengths(io: ModelIO, bindings: dict[str, DataSource]) -> list[int]:
    """Lengths to try for open (None) dimensions: the synthetic sources' 'length', else
    SEQUENCE_LENGTHS."""
    chosen = [bindings[t.name].params.get("length") for t in io.inputs if t.name in bindings]
    return [int(c) for c in chosen if c] or list(SEQUENCE_LENGTHS)


def _input_shapes(io: ModelIO, model: Any, bindings: dict[str, DataSource]
                  ) -> dict[str, tuple[int, ...]]:
    try:
        return input_shapes(model, open_lengths(io, bindings))
    except ValueError as exc:
        raise DataError(str(exc)) from None


def _load_one(t: TensorInfo, src: DataSource | None, rng: np.random.Generator, samples: int,
              shape: tuple[int | None, ...] | None) -> np.ndarray:
    src = src or DataSource()
    try:
        if src.kind == "synthetic":
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
        if t.vocab is not None:
            return "ids", t.vocab
        return ("ids", 2) if "int" in t.dtype else ("floats", 0)
    kind = target_kind(t.loss)
    classes = int(shape[-1] or 1) if shape else 1
    return kind, classes


def load_source(src: DataSource, t: TensorInfo) -> np.ndarray:
    p = src.params
    if src.kind == "npz":
        return load_npz(p["path"], p["key"])
    if src.kind == "npy":
        return load_npy(p["path"])
    if src.kind == "csv":
        return load_csv(p["path"], p["columns"])
    if src.kind == "sklearn":
        return load_sklearn(p["name"], p["part"])
    if src.kind == "keras_dataset":
        return load_keras_dataset(p["name"], p["part"], p.get("split", "train"),
                                  p.get("num_words", t.vocab))
    raise DataError(f"{t.label}: a {src.kind} source feeds a whole model (images or texts "
                    "with their labels); bind it to the model's one input")


def _check_counts(arrays: dict[str, np.ndarray]) -> None:
    counts = {name: len(a) for name, a in arrays.items()}
    if len(set(counts.values())) > 1:
        shown = ", ".join(f"{n}: {c}" for n, c in counts.items())
        raise DataError(f"expected every input and output to have the same number of samples; "
                        f"received {shown}")


# ------------------------------------------------------------ directories
def _directory_binding(io: ModelIO, bindings: dict[str, DataSource]) -> DataSource | None:
    found = [bindings[t.name] for t in io.inputs if t.name in bindings
             and bindings[t.name].kind in DIRECTORY_KINDS]
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
    try:
        train_ds, val_ds = load_directory(src.kind, src.params["path"], t_in.shape,
                                          label_mode(t_out.loss), settings.batch_size,
                                          settings.validation_split, settings.seed or 0,
                                          settings.shuffle)
    except (OSError, ValueError) as exc:
        raise DataError(f"{t_in.label} ({src.kind} {src.params['path']!r}): {exc}") from None
    _check_element_spec(train_ds, t_in, t_out)
    return train_ds, val_ds


def label_mode(loss: str | None) -> str:
    return {"onehot": "categorical", "binary": "binary"}.get(target_kind(loss), "int")


def _check_element_spec(ds: Any, t_in: TensorInfo, t_out: TensorInfo) -> None:
    x_spec, y_spec = ds.element_spec
    got = tuple(x_spec.shape[1:])
    if len(got) != len(t_in.shape) or any(w is not None and g is not None and w != g
                                          for w, g in zip(t_in.shape, got, strict=True)):
        raise DataError(f"{t_in.label}: expected samples of shape {format_shape(t_in.shape)}; the "
                        f"directory gives {format_shape(got)}")
    want_classes = t_out.shape[-1] if t_out.shape else None
    got_y = tuple(y_spec.shape[1:])
    if label_mode(t_out.loss) == "categorical" and got_y and got_y[-1] != want_classes:
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


def keras_cache_dir() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets"


# ------------------------------------------------------------ portable functions
def synthetic_array(rng, samples, shape, dtype, kind, high):  # type: ignore[no-untyped-def]
    """Random data for one input or output (portable: exported as is).

    kind: ids (integers below ``high``), floats, sparse (class ids), onehot, binary.
    """
    import numpy as np

    shape = tuple(shape)
    if kind == "ids":
        return rng.integers(0, high, size=(samples, *shape)).astype(dtype)
    if kind == "sparse":
        return rng.integers(0, high, size=(samples, *shape[:-1])).astype("int32")
    if kind == "onehot":
        return np.eye(high, dtype=dtype)[rng.integers(0, high, size=(samples, *shape[:-1]))]
    if kind == "binary":
        return rng.integers(0, 2, size=(samples, *shape)).astype(dtype)
    return rng.random(size=(samples, *shape)).astype(dtype)


def input_shapes(model, lengths=(100, 500, 2000)):  # type: ignore[no-untyped-def]
    """Per-sample shape of each model input by name; open (None) dimensions get the first
    of ``lengths`` that the whole model accepts (portable)."""
    import numpy as np

    specs = [(t.name, tuple(t.shape[1:]), t.dtype) for t in model.inputs]
    if all(None not in shape for _, shape, _ in specs):
        return {name: shape for name, shape, _ in specs}
    for length in lengths:
        shapes = {n: tuple(length if d is None else d for d in s) for n, s, _ in specs}
        batch = [np.zeros((1, *shapes[n]), dtype) for n, _, dtype in specs]
        try:
            model(batch[0] if len(batch) == 1 else batch, training=False)
        except Exception:  # Keras raises many kinds for a too-short input
            continue
        return shapes
    names = ", ".join(f"input '{n}'" for n, s, _ in specs if None in s)
    raise ValueError(f"{names}: the graph leaves the length open and the model accepts none "
                     f"of the lengths {list(lengths)}; set 'length' in the synthetic source")


def output_shapes(model, x):  # type: ignore[no-untyped-def]
    """Per-sample shape of each model output by name, run on one sample of ``x`` (a dict of
    input arrays) when the graph leaves a dimension open (portable)."""
    shapes = [tuple(t.shape[1:]) for t in model.outputs]
    if any(None in shape for shape in shapes):
        first = [x[t.name][:1] for t in model.inputs]
        out = model(first[0] if len(first) == 1 else first, training=False)
        out = out if isinstance(out, list | tuple) else [out]
        shapes = [tuple(o.shape[1:]) for o in out]
    return dict(zip(model.output_names, shapes, strict=True))


def split_validation(x, y, fraction):  # type: ignore[no-untyped-def]
    """(x, y, val_x, val_y): the last ``fraction`` of the samples held out, as Keras'
    validation_split does; no validation when that leaves no sample on a side (portable)."""
    count = len(next(iter(x.values())))
    cut = int(count * (1 - fraction))
    if cut < 1 or cut == count:
        return x, y, {}, {}
    return ({k: v[:cut] for k, v in x.items()}, {k: v[:cut] for k, v in y.items()},
            {k: v[cut:] for k, v in x.items()}, {k: v[cut:] for k, v in y.items()})


def load_npz(path, key):  # type: ignore[no-untyped-def]
    """One array of a .npz file (portable)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as archive:
        if key not in archive.files:
            raise KeyError(f"expected a key among {', '.join(archive.files)} in {path}; "
                           f"received {key!r}")
        return archive[key]


def load_npy(path):  # type: ignore[no-untyped-def]
    """A .npy file (portable)."""
    import numpy as np

    return np.load(path, allow_pickle=False)


def load_csv(path, columns):  # type: ignore[no-untyped-def]
    """Columns of a CSV file with a header row, by name or index, as floats (portable)."""
    import csv

    import numpy as np

    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        index = [c if isinstance(c, int) else header.index(c) if c in header else -1
                 for c in columns]
        missing = [c for c, i in zip(columns, index, strict=True) if i == -1]
        if missing:
            raise KeyError(f"expected columns among {', '.join(header)} in {path}; "
                           f"received {', '.join(map(str, missing))}")
        rows = [[float(row[i]) for i in index] for row in reader if row]
    return np.asarray(rows, dtype="float32").reshape(len(rows), len(index))


def load_sklearn(name, part):  # type: ignore[no-untyped-def]
    """A scikit-learn bundled dataset (offline): part 'x' (features) or 'y' (targets)."""
    import sklearn.datasets

    loader = getattr(sklearn.datasets, f"load_{name}", None)
    if loader is None:
        raise ValueError(f"expected a scikit-learn bundled dataset (digits, iris, wine, "
                         f"breast_cancer, diabetes); received {name!r}")
    bunch = loader()
    return bunch.data if part in ("x", "data") else bunch.target


def load_keras_dataset(name, part, split="train", num_words=None):  # type: ignore[no-untyped-def]
    """A keras.datasets dataset: part 'x' or 'y' of split 'train' or 'test' (portable)."""
    import os

    import keras

    module = getattr(keras.datasets, name, None)
    if module is None:
        raise ValueError(f"expected a keras.datasets name (imdb, mnist, fashion_mnist, cifar10, "
                         f"reuters); received {name!r}")
    kwargs = {"num_words": num_words} if name in ("imdb", "reuters") and num_words else {}
    try:
        train, test = module.load_data(**kwargs)
    except Exception as exc:
        home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
        raise RuntimeError(
            f"keras.datasets.{name} is not in Keras' cache ({os.path.join(home, 'datasets')}) "
            f"and downloading it failed ({exc}); run once while online, or copy the dataset "
            f"file into that folder") from None
    x, y = train if split == "train" else test
    return x if part in ("x", "data") else y


def conform(array, shape, dtype, name, loss=None, vocab=None, scale=None):  # type: ignore[no-untyped-def]
    """Fit loaded data to a model input or output of per-sample ``shape`` (portable).

    Pads word-id sequences, adds a trailing channel axis, one-hot encodes class ids for
    categorical losses and casts; anything else that does not fit raises ValueError.
    """
    import keras
    import numpy as np

    if array.dtype == object:  # lists of word ids (imdb, reuters)
        array = keras.utils.pad_sequences(list(array), maxlen=shape[0] if shape else None)
    if scale is not None:
        array = array * scale
    key = (loss or "").lower().replace("_", "")
    if key == "sparsecategoricalcrossentropy":  # class ids: one value per sample
        shape, dtype = tuple(shape[:-1]), "int32"
        if array.ndim == 2 and array.shape[1] == 1 and not shape:
            array = array.reshape(-1)
    if key == "categoricalcrossentropy" and shape and array.ndim in (1, 2) \
            and array.shape[1:] in ((), (1,)) and shape[-1] not in (None, 1):
        array = keras.utils.to_categorical(array.reshape(-1), shape[-1])
    got = tuple(array.shape[1:])
    if len(got) + 1 == len(shape) and shape[-1] == 1:  # grayscale images, scalar targets
        array, got = array[..., None], (*got, 1)
    if len(got) != len(shape) or any(w is not None and w != g
                                     for w, g in zip(shape, got, strict=True)):
        raise ValueError(f"{name}: expected samples of shape {tuple(shape)}; received "
                         f"{got} ({len(array)} samples of shape {got})")
    if "int" in str(dtype) and np.issubdtype(array.dtype, np.floating) \
            and not np.all(np.mod(array, 1) == 0):
        raise ValueError(f"{name}: expected whole numbers ({dtype}); received fractions "
                         f"({array.dtype})")
    if vocab is not None and array.size and array.max() >= vocab:
        raise ValueError(f"{name}: expected word ids below {vocab} (the Embedding's "
                         f"input_dim); received ids up to {int(array.max())}")
    return array.astype(dtype)


def load_directory(kind, path, shape, label_mode, batch_size, validation_split, seed,
                   shuffle=True):  # type: ignore[no-untyped-def]
    """(train, validation) tf.data datasets from a folder of class sub-folders (portable)."""
    import keras

    split = {"validation_split": validation_split, "subset": "both"} if validation_split \
        else {}
    if kind == "image_dir":
        modes = {1: "grayscale", 3: "rgb", 4: "rgba"}
        made = keras.utils.image_dataset_from_directory(
            path, label_mode=label_mode, color_mode=modes.get(shape[-1], "rgb"),
            batch_size=batch_size, image_size=tuple(shape[:2]), shuffle=shuffle, seed=seed,
            verbose=False, **split)
    else:
        made = keras.utils.text_dataset_from_directory(
            path, label_mode=label_mode, batch_size=batch_size, shuffle=shuffle, seed=seed,
            verbose=False, **split)
    return tuple(made) if validation_split else (made, None)
