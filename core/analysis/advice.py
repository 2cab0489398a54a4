"""The chapter's advice as hints: info-level diagnostics, each naming its section of Deep
Learning with Python, chapter 7, and carrying a one-click fix where one exists.

Hints read the live pass's results (shapes from :class:`ShapeEngine`); they never build a
layer and never block: validating, exporting and training ignore them. A project silences a
kind of hint in its meta (``silenced_hints``, written only when non-empty).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..document.document import Document
from ..document.graph import Graph
from ..editing.advice_fixes import silenced
from ..schema.diagnostics import Diagnostic, Fix
from ..schema.errors import LayerForgeError
from ..schema.records import CallNode, LayerSpec, OutputNode, Shape
from .shapes import ShapeEngine
from .validation import nodes_in_model

BIAS_BEFORE_BN = "hint-bias-before-bn"
ACTIVATION_BEFORE_BN = "hint-activation-before-bn"
SEPARABLE_CONV = "hint-separable-conv"
DEEP_WITHOUT_RESIDUAL = "hint-deep-without-residual"
LOSS_DOMINATES = "hint-loss-dominates"
SHARED_FEATURES_DIFFER = "hint-shared-features-differ"

#: Each kind of hint, the section of the chapter it comes from and a title for menus.
HINT_KINDS: dict[str, tuple[str, str]] = {
    BIAS_BEFORE_BN: ("7.3.1 batch normalization", "bias before BatchNormalization"),
    ACTIVATION_BEFORE_BN: ("7.3.1 batch normalization", "activation before BatchNormalization"),
    SEPARABLE_CONV: ("7.3.1 depthwise separable convolution", "Conv2D → SeparableConv2D"),
    DEEP_WITHOUT_RESIDUAL: ("7.1.4 residual connections", "deep stack without residuals"),
    LOSS_DOMINATES: ("7.1.3 multi-output models", "one loss dominates"),
    SHARED_FEATURES_DIFFER: ("7.1.5 layer weight sharing", "shared layer, different features"),
}

BATCH_NORM = "BatchNormalization"
LINEAR = (None, "linear")
# Fewer input channels: the first convolution on an image stays a Conv2D (as in Xception's
# entry flow); a depthwise filter per channel of a grey image learns too little.
SEPARABLE_MIN_CHANNELS = 8
# A Conv2D replaced by its SeparableConv2D twin saves at least this many times its weights.
SEPARABLE_MIN_SAVING = 4.0
# "Adding residual connections to any model that has more than 10 layers is likely to help."
DEEP_LAYERS = 10
# Layers that learn a transformation: what "deep" counts (reshaping and pooling do not).
_WEIGHTED_PREFIXES = ("Conv", "SeparableConv", "DepthwiseConv", "Dense", "EinsumDense",
                      "LSTM", "GRU", "SimpleRNN", "Bidirectional", "MultiHeadAttention")
_MERGES = ("Add", "Average", "Concatenate", "Subtract", "Multiply", "Maximum", "Minimum")
# One weighted loss this many times the next largest leaves the other outputs unlearned.
DOMINANT_RATIO = 10.0

EngineFor = Callable[[str], ShapeEngine]


def hints(doc: Document, engine_for: EngineFor,
          first_epoch_losses: dict[str, float] | None = None,
          include_silenced: bool = False) -> list[Diagnostic]:
    """Every hint the project's model earns, in graph order; silenced kinds are left out
    unless ``include_silenced``. ``first_epoch_losses``: each output's loss in a run's first
    epoch (the multi-output hint needs a run)."""
    found: list[Diagnostic] = []
    for key, graph in doc.graphs():
        engine = engine_for(key)
        engine.refresh()  # shapes only (cheap); nothing is built for a hint
        used = nodes_in_model(graph)
        calls = [graph.nodes[n] for n in graph.topological_order()
                 if n in used and isinstance(graph.nodes[n], CallNode)]
        for node in calls:
            found += _node_hints(doc, graph, engine, node)
        found += _depth_hint(graph, calls, key)
        found += _shared_hints(graph, engine, key)
    if first_epoch_losses:
        found += loss_hints(doc.graph, first_epoch_losses)
    quiet = set() if include_silenced else set(silenced(doc))
    return [d for d in found if d.code not in quiet]


def _hint(kind: str, target: str, graph_key: str, message: str, fix: Fix | None = None
          ) -> Diagnostic:
    section = HINT_KINDS[kind][0]
    return Diagnostic(target, "info", f"{message} (book {section})", kind, graph_key, fix)


def _node_hints(doc: Document, graph: Graph, engine: ShapeEngine, node: CallNode
                ) -> list[Diagnostic]:
    layer = graph.layer(node.layer_id)
    if layer.is_block:
        return []
    found = []
    found += _bias_hint(doc, graph, engine, node, layer)
    found += _activation_hint(doc, graph, engine, node, layer)
    found += _separable_hint(doc, graph, engine, node, layer)
    return found


def _value(doc: Document, layer: LayerSpec, name: str) -> Any:
    """A parameter's value, its default when unset (None when the class has no such one)."""
    if name in layer.params:
        return layer.params[name]
    try:
        entry = doc.catalog.get(layer.class_name)
    except LayerForgeError:
        return None  # e.g. a custom layer whose module is not trusted yet: no advice on it
    return entry.param(name).default if entry.has_param(name) else None


def _feeds_only_batch_norm(graph: Graph, node: CallNode) -> CallNode | None:
    """The BatchNormalization call that takes this call's only output, else None."""
    out = graph.out_edges(node.id)
    if len(out) != 1 or out[0].src_index != 0:
        return None
    dst = graph.nodes[out[0].dst]
    if isinstance(dst, CallNode) and graph.layer(dst.layer_id).class_name == BATCH_NORM:
        return dst
    return None


def _normalizes_channels(doc: Document, graph: Graph, engine: ShapeEngine, bn: CallNode
                         ) -> bool:
    """Whether the BatchNormalization normalizes the last axis (where a bias is added)."""
    axis = _value(doc, graph.layer(bn.layer_id), "axis")
    shape = _input_shape(graph, engine, bn)
    return axis == -1 or (shape is not None and axis == len(shape) - 1)


def _input_shape(graph: Graph, engine: ShapeEngine, node: CallNode) -> Shape | None:
    edges = graph.in_edges(node.id)
    return engine.edge_shape(edges[0]) if edges else None


def _bias_hint(doc: Document, graph: Graph, engine: ShapeEngine, node: CallNode,
               layer: LayerSpec) -> list[Diagnostic]:
    if _value(doc, layer, "use_bias") is not True or _value(doc, layer, "activation") \
            not in LINEAR:
        return []
    bn = _feeds_only_batch_norm(graph, node)
    if bn is None or len(graph.calls_of(layer.id)) > 1 or \
            not _normalizes_channels(doc, graph, engine, bn):
        return []
    fix = Fix(f"set use_bias=False on {layer.name}", layer.class_name, {"use_bias": False},
              action="set_params", node_id=node.id)
    return [_hint(BIAS_BEFORE_BN, node.id, engine.key,
                  f"the bias of {layer.name} is wasted: the BatchNormalization after it "
                  "subtracts each channel's mean, bias included; use_bias=False saves "
                  "its weights", fix)]


def _activation_hint(doc: Document, graph: Graph, engine: ShapeEngine, node: CallNode,
                     layer: LayerSpec) -> list[Diagnostic]:
    activation = _value(doc, layer, "activation")
    if layer.class_name == "Activation" or activation in LINEAR or \
            not isinstance(activation, str):
        return []
    bn = _feeds_only_batch_norm(graph, node)
    if bn is None or len(graph.calls_of(layer.id)) > 1:
        return []
    edge = graph.out_edges(node.id)[0]
    fix = Fix(f"move {activation} into an Activation layer after the BatchNormalization",
              "Activation", {"activation": activation}, edge.id, "activation_after",
              node.id)
    return [_hint(ACTIVATION_BEFORE_BN, node.id, engine.key,
                  f"{layer.name} applies {activation} before the BatchNormalization; the "
                  "usual order normalizes first, then activates (Conv/Dense without "
                  "activation → BatchNormalization → Activation)", fix)]


def separable_saving(shape: Shape, filters: int, kernel: tuple[int, int], use_bias: bool
                     ) -> tuple[int, int] | None:
    """(Conv2D weights, SeparableConv2D weights) on a channels-last input, or None."""
    channels = shape[-1] if len(shape) == 4 else None
    if not isinstance(channels, int) or channels < SEPARABLE_MIN_CHANNELS:
        return None
    area = kernel[0] * kernel[1]
    bias = filters if use_bias else 0
    return area * channels * filters + bias, area * channels + channels * filters + bias


def _kernel(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and \
            all(isinstance(v, int) for v in value):
        return value[0], value[1]
    return None


_SEPARABLE_KEEPS = ("filters", "kernel_size", "strides", "padding", "activation", "use_bias",
                    "dilation_rate", "data_format")


def _separable_hint(doc: Document, graph: Graph, engine: ShapeEngine, node: CallNode,
                    layer: LayerSpec) -> list[Diagnostic]:
    if layer.class_name != "Conv2D" or len(graph.calls_of(layer.id)) > 1 or \
            _value(doc, layer, "groups") not in (None, 1) or \
            _value(doc, layer, "data_format") == "channels_first":
        return []
    shape, kernel = _input_shape(graph, engine, node), _kernel(_value(doc, layer, "kernel_size"))
    filters = _value(doc, layer, "filters")
    if shape is None or kernel is None or not isinstance(filters, int):
        return []
    counts = separable_saving(shape, filters, kernel, _value(doc, layer, "use_bias") is True)
    if counts is None or counts[0] < SEPARABLE_MIN_SAVING * counts[1]:
        return []
    saving = counts[0] / counts[1]
    params = {k: v for k, v in layer.params.items() if k in _SEPARABLE_KEEPS}
    fix = Fix(f"replace {layer.name} with SeparableConv2D ({counts[1]:,} weights instead of "
              f"{counts[0]:,})", "SeparableConv2D", params, action="replace_layer",
              node_id=node.id)
    return [_hint(SEPARABLE_CONV, node.id, engine.key,
                  f"{layer.name} as a SeparableConv2D would have {saving:.1f}× fewer "
                  f"parameters ({counts[0]:,} → {counts[1]:,}): a depthwise then a pointwise "
                  "convolution learn space and channels separately, lighter and often "
                  "better on small data", fix)]


def _weighted(graph: Graph, node: CallNode) -> bool:
    layer = graph.layer(node.layer_id)
    return layer.is_block or layer.class_name.startswith(_WEIGHTED_PREFIXES)


def _depth_hint(graph: Graph, calls: list[CallNode], key: str) -> list[Diagnostic]:
    """The longest chain of weighted layers, when no merge joins paths of different depth."""
    depth: dict[str, int] = {}
    deepest: CallNode | None = None
    for node in calls:
        before = [depth.get(e.src, 0) for e in graph.in_edges(node.id)]
        if _is_merge(graph, node) and len(set(before)) > 1:
            return []  # a shortcut: a residual (or dense) connection
        depth[node.id] = max(before, default=0) + _weighted(graph, node)
        if deepest is None or depth[node.id] > depth[deepest.id]:
            deepest = node
    if deepest is None or depth[deepest.id] <= DEEP_LAYERS:
        return []
    return [_hint(DEEP_WITHOUT_RESIDUAL, deepest.id, key,
                  f"{depth[deepest.id]} weighted layers in a row without a residual "
                  "connection: from about 10 layers on, adding the input of a block to its "
                  "output (Add) helps gradients reach the first layers")]


def _is_merge(graph: Graph, node: CallNode) -> bool:
    return graph.layer(node.layer_id).class_name in _MERGES and len(graph.in_edges(node.id)) > 1


def _shared_hints(graph: Graph, engine: ShapeEngine, key: str) -> list[Diagnostic]:
    found = []
    for layer_id, layer in graph.layers.items():
        calls = graph.calls_of(layer_id)
        if len(calls) < 2 or layer.is_block:
            continue
        dims = [(c, _last_dim(_input_shape(graph, engine, c))) for c in calls]
        if any(d is None for _, d in dims) or len({d for _, d in dims}) < 2:
            continue
        listed = ", ".join(f"{d} at {graph.describe(c.id)}" for c, d in dims)
        found.append(_hint(SHARED_FEATURES_DIFFER, calls[-1].id, key,
                           f"shared layer {layer.name} takes inputs with different feature "
                           f"dimensions ({listed}): one set of weights cannot fit both; "
                           "share it between branches that see the same features"))
    return found


def _last_dim(shape: Shape | None) -> int | None:
    return shape[-1] if shape and isinstance(shape[-1], int) else None


def loss_hints(graph: Graph, losses: dict[str, float]) -> list[Diagnostic]:
    """Outputs whose weighted first-epoch loss dwarfs the others': the fix balances them."""
    outputs = [o for o in graph.outputs() if o.loss and o.name in losses]
    if len(outputs) < 2:
        return []
    weighted = sorted(((o.loss_weight * losses[o.name], o) for o in outputs),
                      key=lambda pair: -pair[0])
    (top, dominant), (second, _) = weighted[0], weighted[1]
    if second <= 0 or top < DOMINANT_RATIO * second:
        return []
    balanced = balanced_weights(outputs, losses)
    shown = ", ".join(f"{name}: {w:g}" for name, w in balanced.items())
    fix = Fix(f"set loss weights {shown}", "", balanced, action="loss_weights",
              node_id=dominant.id)
    return [_hint(LOSS_DOMINATES, dominant.id, "main",
                  f"the loss of {dominant.name} is {top / second:.0f}× the next one's in the "
                  "first epoch (weighted): training mostly optimizes it; loss weights that "
                  "bring the losses to one scale let every output learn", fix)]


def balanced_weights(outputs: Iterable[OutputNode], losses: dict[str, float]
                     ) -> dict[str, float]:
    """Weights that make every output's first-epoch loss count alike (3 significant digits),
    scaled so the smallest loss keeps weight 1."""
    finite = {o.name: losses[o.name] for o in outputs if losses[o.name] > 0}
    if not finite:
        return {}
    base = min(finite.values())
    return {name: float(f"{base / loss:.3g}") for name, loss in finite.items()}


def first_epoch_losses(history: dict[str, list[float]], output_names: Iterable[str]
                       ) -> dict[str, float]:
    """Each output's loss in a run's first epoch (Keras logs ``<output>_loss``)."""
    found = {}
    for name in output_names:
        values = history.get(f"{name}_loss")
        if values:
            found[name] = float(values[0])
    return found
