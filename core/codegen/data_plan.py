"""Decisions about training data that the app's loader and the exported code share.

How many synthetic samples, which lengths open dimensions try, what kind of random
data suits an input or a loss, which binding feeds a whole model: the app's
training (:mod:`core.training.data`) and the code writer both ask here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..document.document import Document
from ..schema.data_sources import DATA_SOURCES
from ..schema.records import CallNode
from ..schema.settings import DataSource
from .vocabulary import vocabulary_uses

DEFAULT_SAMPLES = 256
# Lengths tried, in order, for sequence dimensions left open (None) in the graph: the
# first one the whole model accepts (pooling can need long sequences) is used.
SEQUENCE_LENGTHS = (100, 500, 2000)
# The most words of one synthetic text: a sentence for TextVectorization, one token for a lookup.
TEXT_WORDS = 8


@dataclass(frozen=True)
class TextPlan:
    """Synthetic texts for a string input: words from ``layer``'s vocabulary (None: made-up
    words), 1 to ``most`` of them a value."""

    layer: str | None
    most: int


def text_plans(doc: Document) -> dict[str, TextPlan]:
    """String input name -> how its synthetic texts are drawn."""
    fed = {use.input_name: use.layer for use in vocabulary_uses(doc)}
    plans = {}
    for node in doc.graph.inputs():
        if "string" in node.dtype:
            layer = fed.get(node.name)
            most = TEXT_WORDS if layer is None or layer.class_name == "TextVectorization" else 1
            plans[node.name] = TextPlan(None if layer is None else layer.name, most)
    return plans


def embedding_vocab(doc: Document) -> dict[str, int]:
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
    # Keras' compile also takes "ce"/"crossentropy" (it picks the crossentropy from the
    # targets: class ids suit it for any output width) and the registry alias "bce".
    if key in ("sparsecategoricalcrossentropy", "ce", "crossentropy"):
        return "sparse"
    if key in ("categoricalcrossentropy", "categoricalfocalcrossentropy"):
        return "onehot"
    if key in ("binarycrossentropy", "bce", "binaryfocalcrossentropy", "hinge", "squaredhinge"):
        return "binary"
    return "floats"


def label_mode(loss: str | None) -> str:
    """The label mode of a directory dataset for an output's loss."""
    return {"onehot": "categorical", "binary": "binary"}.get(target_kind(loss), "int")


def input_kind(dtype: str, vocab: int | None) -> tuple[str, int]:
    """Synthetic data for an input: word ids below the Embedding's vocabulary, 0/1 for
    other integer inputs, else floats."""
    if vocab is not None:
        return "ids", vocab
    return ("ids", 2) if "int" in dtype else ("floats", 0)


def uses_classes(kind: str) -> bool:
    """Whether synthetic targets of ``kind`` draw class ids below the output's last size."""
    return kind in ("onehot", "sparse")


def synthetic_samples(names: list[str], bindings: dict[str, DataSource]) -> int:
    """The sample count the first synthetic binding sets, else the default."""
    for name in names:
        src = bindings.get(name)
        if src is not None and is_synthetic(src) and "samples" in src.params:
            return int(src.params["samples"])
    return DEFAULT_SAMPLES


def open_lengths(inputs: list[str], bindings: dict[str, DataSource]) -> list[int]:
    """Lengths to try for open (None) dimensions: the sources' 'length', else
    SEQUENCE_LENGTHS."""
    chosen = [bindings[name].params.get("length") for name in inputs if name in bindings]
    return [int(c) for c in chosen if c] or list(SEQUENCE_LENGTHS)


def whole_model_sources(inputs: list[str], bindings: dict[str, DataSource]) -> list[DataSource]:
    """Bindings of inputs to sources that feed a whole model (image or text folders)."""
    return [bindings[name] for name in inputs
            if name in bindings and DATA_SOURCES[bindings[name].kind].whole_model]


def all_synthetic(names: list[str], bindings: dict[str, DataSource]) -> bool:
    """Whether every named tensor gets random data."""
    return all(is_synthetic(bindings.get(name)) for name in names)


def is_synthetic(src: DataSource | None) -> bool:
    """Random data shaped from the graph: an unbound tensor or a kind without a loader."""
    return src is None or DATA_SOURCES[src.kind].loader is None
