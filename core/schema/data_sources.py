"""The kinds of data source an input or output can be bound to: one entry and one loader each.

To add a data source, add its loader below (a *portable* function: it uses only the
standard library, numpy and Keras, so the exported module contains its exact source)
and one :class:`DataKind` in :data:`DATA_SOURCES`. Reading project files, the app's
training, the exported code, ``layerforge train`` and the binding editor all read
this table.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")
KERAS_DATASETS = ("imdb", "mnist", "fashion_mnist", "cifar10", "reuters")


# ------------------------------------------------------------ portable loaders
def load_npz(path, key):  # type: ignore[no-untyped-def]
    """One array of a .npz file."""
    with np.load(path, allow_pickle=False) as archive:
        if key not in archive.files:
            raise KeyError(f"expected a key among {', '.join(archive.files)} in {path}; "
                           f"received {key!r}")
        return archive[key]


def load_npy(path):  # type: ignore[no-untyped-def]
    """A .npy file."""
    return np.load(path, allow_pickle=False)


def load_csv(path, columns):  # type: ignore[no-untyped-def]
    """Columns of a CSV file with a header row, by name or index, as floats."""
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
    import sklearn.datasets  # lazy: scikit-learn is optional and slow to import

    loader = getattr(sklearn.datasets, f"load_{name}", None)
    if loader is None:
        raise ValueError(f"expected a scikit-learn bundled dataset (digits, iris, wine, "
                         f"breast_cancer, diabetes); received {name!r}")
    bunch = loader()
    return bunch.data if part in ("x", "data") else bunch.target


def load_keras_dataset(name, part, split="train", num_words=None):  # type: ignore[no-untyped-def]
    """A keras.datasets dataset: part 'x' or 'y' of split 'train' or 'test'."""
    import keras  # lazy: Keras loads only when data is

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


def load_directory(kind, path, shape, label_mode, batch_size, validation_split, seed,
                   shuffle=True):  # type: ignore[no-untyped-def]
    """(train, validation) tf.data datasets from a folder of class sub-folders."""
    import keras  # lazy: Keras loads only when data is

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
        if tuple(shape) == (1,):  # an input of shape (1,): one string a row, not a scalar
            made = [part.map(lambda x, y: (x[:, None], y)) for part in
                    (made if validation_split else [made])]
            made = made if validation_split else made[0]
    return tuple(made) if validation_split else (made, None)


# ------------------------------------------------------------ the kinds
@dataclass(frozen=True)
class Field:
    """One parameter in the binding editor's form.

    ``widget``: path (a file or folder with Browse), choice (``choices``), spin (a count,
    0 shown as ``hint``), columns (CSV columns with a preview), archive_key (a key of the
    chosen .npz). ``role`` limits the field to inputs or outputs.
    """

    key: str
    widget: str
    choices: tuple[str, ...] = ()
    hint: str = ""
    tip: str = ""
    role: str = ""


@dataclass(frozen=True)
class DataKind:
    """One kind of data source."""

    name: str
    title: str  # what the editor lists
    required: dict[str, type | tuple[type, ...]] = field(default_factory=dict)
    # The loader and its arguments from the source's params (and the vocabulary of the
    # Embedding an input feeds); None for synthetic data, made from the graph.
    loader: Callable[..., Any] | None = None
    arguments: Callable[[dict[str, Any], int | None], list[Any]] = lambda p, vocab: []
    whole_model: bool = False  # gives (inputs, labels) batches for a one-input model
    file_types: str = ""  # the file dialog's filter; a path without one is a folder
    fields: tuple[Field, ...] = ()
    defaults: Callable[[str], dict[str, Any]] = lambda part: {}  # part: x or y
    summary: Callable[[dict[str, Any]], str] = lambda p: Path(str(p.get("path", ""))).name

    def load(self, params: dict[str, Any], vocab: int | None) -> Any:
        if self.loader is None or self.whole_model:
            raise ValueError(f"a {self.name} source is not loaded as one array")
        return self.loader(*self.arguments(params, vocab))


def _path(dialog: str = "") -> Field:
    return Field("path", "path", hint="a file path" if dialog else "a folder of class folders")


PART = Field("part", "choice", ("x", "y"))
DATA_SOURCES: dict[str, DataKind] = {kind.name: kind for kind in (
    DataKind("synthetic", "synthetic (random, shaped from the graph)",
             fields=(Field("samples", "spin", hint="default (256)"),
                     Field("length", "spin", hint="auto", role="input",
                           tip="Length for dimensions the graph leaves open (None)")),
             summary=lambda p: ", ".join(f"{k} {v}" for k, v in p.items())),
    DataKind("npz", ".npz array", {"path": str, "key": str}, load_npz,
             lambda p, vocab: [p["path"], p["key"]], file_types="NumPy archives (*.npz)",
             fields=(_path("file"), Field("key", "archive_key")),
             defaults=lambda part: {"path": "", "key": ""},
             summary=lambda p: f"{Path(str(p.get('path', ''))).name} [{p.get('key', '')}]"),
    DataKind("npy", ".npy file", {"path": str}, load_npy, lambda p, vocab: [p["path"]],
             file_types="NumPy arrays (*.npy)", fields=(_path("file"),),
             defaults=lambda part: {"path": ""}),
    DataKind("csv", "CSV columns", {"path": str, "columns": list}, load_csv,
             lambda p, vocab: [p["path"], list(p["columns"])], file_types="CSV files (*.csv)",
             fields=(_path("file"), Field("columns", "columns")),
             defaults=lambda part: {"path": "", "columns": []},
             summary=lambda p: f"{Path(str(p.get('path', ''))).name}: "
                               f"{', '.join(map(str, p.get('columns', [])))}"),
    DataKind("image_dir", "image folder", {"path": str}, load_directory, whole_model=True,
             fields=(_path(),), defaults=lambda part: {"path": ""}),
    DataKind("text_dir", "text folder", {"path": str}, load_directory, whole_model=True,
             fields=(_path(),), defaults=lambda part: {"path": ""}),
    DataKind("sklearn", "scikit-learn dataset", {"name": str, "part": str}, load_sklearn,
             lambda p, vocab: [p["name"], p["part"]],
             fields=(Field("name", "choice", SKLEARN_DATASETS), PART),
             defaults=lambda part: {"name": "digits", "part": part},
             summary=lambda p: f"{p.get('name')} {p.get('part')}"),
    DataKind("keras_dataset", "keras.datasets", {"name": str, "part": str}, load_keras_dataset,
             lambda p, vocab: [p["name"], p["part"], p.get("split", "train"),
                               p.get("num_words", vocab)],
             fields=(Field("name", "choice", KERAS_DATASETS),
                     Field("split", "choice", ("train", "test")),
                     Field("num_words", "spin", hint="vocabulary of the Embedding",
                           tip="imdb/reuters: keep the most frequent words"), PART),
             defaults=lambda part: {"name": "mnist", "part": part, "split": "train"},
             summary=lambda p: f"{p.get('name')} {p.get('part')} ({p.get('split', 'train')})"),
)}
DATA_KINDS = tuple(DATA_SOURCES)
