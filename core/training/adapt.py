"""Adapt a vocabulary layer (TextVectorization, StringLookup, IntegerLookup) on the data
bound to the input that feeds it, and the undoable edit that saves the vocabulary.

The vocabulary is saved inline as the layer's ``vocabulary`` parameter (its tokens without
the padding and OOV tokens Keras puts first): a project stays one readable file, and
``max_tokens`` (1000 to start with) bounds it. The data is what a run trains on: a text
folder's training subset (the same split, seed and batches as ``training.data``), or the
whole array of a file source. The app runs this on a worker thread (``gui/vocabulary.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..catalog.keras_objects import make_layer
from ..codegen.vocabulary import (
    ADAPT_RECORDS,
    VocabularyUse,
    adapt_record,
    embedding_problem,
    vocabulary_uses,
)
from ..document.document import Document
from ..editing.commands import Command, Macro
from ..editing.graph_commands import SetParam
from ..schema.data_sources import DATA_SOURCES, load_directory
from ..schema.errors import LayerForgeError
from ..schema.records import InputNode
from ..schema.settings import TrainingSettings
from .data import texts_of


class AdaptError(LayerForgeError):
    """A vocabulary that cannot be adapted; the message names the layer and its input."""


@dataclass(frozen=True)
class Adapted:
    """The vocabulary adapted for one layer and what it was adapted on."""

    layer_id: str
    layer_name: str
    vocabulary: list[Any]
    source: str  # the data, in words
    size: int  # token ids the layer gives: the vocabulary and the tokens Keras adds first
    problem: str | None = None  # why the layer after it cannot take these ids
    record: dict[str, Any] | None = None  # what it was adapted with (``adapt_record``)

    def edit(self) -> Macro:
        """The undoable edit that saves this vocabulary on its layer, with its record."""
        text = f"Adapt vocabulary of {self.layer_name}"
        return Macro(text, [SetAdaptRecord(self.layer_id, self.record),
                            SetParam(self.layer_id, "vocabulary", self.vocabulary, text=text)])

    def summary(self) -> str:
        return (f"{self.layer_name}: {len(self.vocabulary)} tokens from {self.source} "
                f"(ids 0-{self.size - 1})")


@dataclass
class SetAdaptRecord(Command):
    """Keep (or, with None, drop) what a layer's vocabulary was adapted with in the project's
    meta; the key goes when no record is left, so the file is as before."""

    layer_id: str
    record: dict[str, Any] | None
    text: str = "Record vocabulary settings"
    _old: dict[str, Any] | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        self._old = doc.meta.extra.get(ADAPT_RECORDS, {}).get(self.layer_id)
        self._put(doc, self.record)

    def undo(self, doc: Document) -> None:
        self._put(doc, self._old)

    def _put(self, doc: Document, record: dict[str, Any] | None) -> None:
        records = dict(doc.meta.extra.get(ADAPT_RECORDS, {}))
        records.pop(self.layer_id, None)
        if record is not None:
            records[self.layer_id] = record
        if records:
            doc.meta.extra[ADAPT_RECORDS] = records
        else:
            doc.meta.extra.pop(ADAPT_RECORDS, None)


def adapt_layer(doc: Document, layer_id: str, settings: TrainingSettings | None = None
                ) -> Adapted:
    """Adapt the vocabulary of the layer ``layer_id`` on its input's training data."""
    settings = settings or doc.training
    use = _use_of(doc, layer_id)
    data, source = _input_data(doc, use, settings)
    layer = replace(use.layer, params={k: v for k, v in use.layer.params.items()
                                       if k != "vocabulary"})
    keras_layer = make_layer(doc.catalog, layer)
    try:
        keras_layer.adapt(data)
    except (ValueError, TypeError) as exc:
        raise AdaptError(f"layer '{layer.name}' ({layer.class_name}) could not be adapted on "
                         f"{source}: {exc}") from None
    tokens = keras_layer.get_vocabulary(include_special_tokens=False)
    cast = int if layer.class_name == "IntegerLookup" else _text
    size = int(keras_layer.vocabulary_size())
    return Adapted(layer.id, layer.name, [cast(t) for t in tokens], source, size,
                   embedding_problem(doc, layer, size),
                   adapt_record(layer, settings.source_of(str(use.input_name))))


def adapt_all(doc: Document, settings: TrainingSettings | None = None,
              only_missing: bool = True) -> list[Adapted]:
    """Every vocabulary layer fed by an input (those without a vocabulary by default)."""
    return [adapt_layer(doc, use.layer.id, settings) for use in vocabulary_uses(doc)
            if use.input_name is not None and not (only_missing and use.has_vocabulary)]


def _text(token: Any) -> str:
    return token.decode("utf-8") if isinstance(token, bytes) else str(token)


def _use_of(doc: Document, layer_id: str) -> VocabularyUse:
    for use in vocabulary_uses(doc):
        if use.layer.id == layer_id:
            if use.input_name is None:
                raise AdaptError(f"layer '{use.layer.name}': expected a model input connected "
                                 "straight into it (its data adapts the vocabulary); received "
                                 "another layer or nothing")
            return use
    raise AdaptError(f"expected a TextVectorization, StringLookup or IntegerLookup layer of the "
                     f"main graph; received layer id {layer_id!r}")


def _input_data(doc: Document, use: VocabularyUse, settings: TrainingSettings
                ) -> tuple[Any, str]:
    name = str(use.input_name)
    src = settings.source_of(name)
    kind = DATA_SOURCES.get(src.kind)
    label = f"input '{name}'"
    if kind is None or kind.loader is None or src.kind == "image_dir":
        received = "an image folder" if src.kind == "image_dir" else "synthetic data"
        raise AdaptError(f"layer '{use.layer.name}': expected {label} bound to a text folder or "
                         f"a file of strings or ids (Training dock, Data); received {received}")
    summary = f"{kind.title} {kind.summary(src.params)}"
    try:
        if kind.whole_model:
            node = next(n for n in doc.graph.inputs() if n.name == name)
            return texts_of(_training_folder(src.kind, src.params["path"], node, settings)), \
                summary
        return kind.load(src.params, None), summary
    except (OSError, ValueError, KeyError, RuntimeError, ImportError) as exc:
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise AdaptError(f"layer '{use.layer.name}': {label} ({summary}): {reason}") from None


def _training_folder(kind: str, path: str, node: InputNode, s: TrainingSettings) -> Any:
    """The training subset of a folder, as the run loads it (``data.load_directory_binding``)."""
    train_ds, _ = load_directory(kind, path, node.shape, "int", s.batch_size,
                                 s.validation_split, s.seed or 0, s.shuffle)
    return train_ds
