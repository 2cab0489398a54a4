"""The ``weights=`` argument of a keras.applications layer in the exported code: the same
weights the app loads (``catalog/pretrained.py``).

A file the user picked is passed by its path (Keras' ``weights=<path>``). ImageNet weights are
read from the Keras cache by ``keras.utils.get_file``, which downloads the file only when it
is not there, under the name keras.applications gives it; ``$KERAS_HOME`` is read when the
code runs, as the app reads it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..catalog.pretrained import imagenet_file
from ..document.graph import Graph
from ..schema.records import CallNode, InputNode, LayerSpec
from .python import literal

# The parameter that is LayerForge's, not Keras': it becomes the weights= argument.
WEIGHTS_FILE = "weights_file"


def keras_layer(layer: LayerSpec) -> LayerSpec:
    """The layer without the parameter Keras does not take."""
    return replace(layer, params={k: v for k, v in layer.params.items() if k != WEIGHTS_FILE})


def weights_argument(application: str, params: dict[str, Any], rows: int | None) -> str:
    """``weights=...`` for an application layer with ``params`` (``rows``: its input's height,
    when the code can know it, which picks MobileNet's file)."""
    picked = params.get(WEIGHTS_FILE)
    if picked:
        return f"weights={literal(str(picked))}"
    weights = params.get("weights", "imagenet")  # Keras' default
    if weights != "imagenet":
        return f"weights={literal(weights)}"
    known = imagenet_file(application, bool(params.get("include_top", True)), rows)
    if known is None:
        return "weights='imagenet'"
    return (f"weights=keras.utils.get_file({known.name!r}, {known.url!r}, "
            "cache_subdir='models', cache_dir=os.environ.get('KERAS_HOME'))")


def with_weights_argument(args: list[str], weights: str) -> list[str]:
    """``args`` with their ``weights=`` replaced (or added after ``include_top``)."""
    if any(a.startswith("weights=") for a in args):
        return [weights if a.startswith("weights=") else a for a in args]
    return [weights, *args]


# Layers that keep an image's height, which the code can see through to the model input
# (the usual preprocessing before a pretrained base).
SAME_SIZE = {"Rescaling", "Normalization", "RandomFlip", "RandomRotation", "RandomZoom",
             "RandomContrast", "RandomTranslation", "RandomBrightness", "Activation",
             "Identity"}


def input_rows(graph: Graph, node: CallNode) -> int | None:
    """The input height of an application, when the code can know it: a model input's, seen
    through preprocessing that keeps the size, or a Resizing's; else None."""
    seen: set[str] = set()
    current: str = node.id
    while current not in seen:
        seen.add(current)
        edges = graph.in_edges(current)
        source = graph.nodes.get(edges[0].src) if edges else None
        if isinstance(source, InputNode):
            height = source.shape[0] if source.shape else None
            return height if isinstance(height, int) else None
        if not isinstance(source, CallNode):
            return None
        layer = graph.layer(source.layer_id)
        if layer.class_name == "Resizing" and isinstance(layer.params.get("height"), int):
            return int(layer.params["height"])
        if layer.class_name not in SAME_SIZE or layer.block_id is not None:
            return None
        current = source.id
    return None
