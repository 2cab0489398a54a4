"""Which of the project's layers a converter's message is about.

Converters name TensorFlow graph nodes, not layers: ``model_1/text_vectorization_1/
StringSplitV2`` (tf2onnx, onnxruntime), ``loc("...dense_2/MatMul@__inference...")`` (the
TFLite converter). Keras traces each layer under a name scope of its own name, with a
``_N`` suffix when a scope repeats, so each path segment is matched against the project's
layer names, exactly first and then without that suffix; the deepest match wins (an outer
segment is the model or a block).
"""

from __future__ import annotations

import re

from ..document.document import Document
from .formats import ExportFailure

PATH = re.compile(r"[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-@]+)+")
QUOTED = re.compile(r"""['"`]([A-Za-z0-9_.\-]+)['"`]""")
SUFFIX = re.compile(r"_\d+$")
# the text of one message kept in a failure: converters print pages of MLIR
MAX_MESSAGE = 2000


def layer_in_message(doc: Document, message: str) -> tuple[str, str, str] | None:
    """(graph key, layer id, layer name) of the layer the message names, or None."""
    names = _layer_names(doc)
    block_call = None  # only a block's call matched: the layer is somewhere inside it
    for path in PATH.findall(message):
        segments = [s.split("@")[0] for s in path.split("/")]
        for segment in reversed(segments):
            found = _match(names, segment)
            if found is not None and not _is_container(doc, found):
                return found
            block_call = block_call or found
    for word in QUOTED.findall(message):
        found = _match(names, word)
        if found is not None:
            return found
    return block_call


def failure_from(doc: Document, fmt: str, message: str) -> ExportFailure:
    """The structured failure: the converter's text and the layer (and node) it names."""
    text = message.strip()
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE] + " …"
    found = layer_in_message(doc, message)
    if found is None:
        return ExportFailure(fmt, None, text)
    graph_key, layer_id, name = found
    calls = doc.graph_of(graph_key).calls_of(layer_id)
    return ExportFailure(fmt, name, text, calls[0].id if calls else None, graph_key)


def _layer_names(doc: Document) -> dict[str, tuple[str, str, str]]:
    names: dict[str, tuple[str, str, str]] = {}
    for key, graph in doc.graphs():
        for layer in graph.layers.values():
            names.setdefault(layer.name, (key, layer.id, layer.name))
    return names


def _match(names: dict[str, tuple[str, str, str]], segment: str
           ) -> tuple[str, str, str] | None:
    if segment in names:
        return names[segment]
    bare = SUFFIX.sub("", segment)
    return names.get(bare)


def _is_container(doc: Document, found: tuple[str, str, str]) -> bool:
    """A block's call names the scope of the layers inside it: look deeper first."""
    graph_key, layer_id, _name = found
    return doc.graph_of(graph_key).layer(layer_id).block_id is not None
