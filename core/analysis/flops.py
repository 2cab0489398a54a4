"""FLOPs of one layer call per sample, counted from its input and output shapes and settings.

The convention (shown with every total, :data:`CONVENTION`):

- one multiply-add is 2 FLOPs (a multiply and an add), as most papers and profilers count;
- a bias add is 1 FLOP per output element; a fused ``activation=`` costs what the same
  activation layer costs (1 FLOP per element; softmax 3: exponential, sum, divide;
  ``linear``/None: 0);
- inference only: Dropout, noise and other training-only layers, reshapes, padding,
  cropping, concatenation and embedding lookups move data and cost 0;
- BatchNormalization at inference is a scale and a shift (2 FLOPs per element);
  LayerNormalization computes its statistics (5 per element) then scales and shifts;
- pooling: one comparison or add per window element of each output; global pooling: one
  per input element;
- merges of n inputs: n-1 operations per output element (Average one more, the divide);
- recurrent layers per timestep: the gates' matrix products (2 per multiply-add), their
  biases, 1 per gate element for the gate activations, and the state update (LSTM and
  GRU 5 per unit); a Bidirectional layer counts both directions;
- MultiHeadAttention: the query/key/value/output projections, the scores, a softmax (3 per
  score) and the weighted sum.

A layer this module does not know, or whose shapes are not all known (an open sequence
length), is *unknown* (None), never 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..catalog.nested import entry_of
from ..schema.records import Shape

CONVENTION = ("1 multiply-add = 2 FLOPs; bias adds and activations counted (1 FLOP per "
              "element, softmax 3); inference only (Dropout, reshapes, lookups: 0)")

Get = Callable[[str], Any]
Arranged = Any  # one shape, a list of shapes, or shapes by input name (batch axis included)
Rule = Callable[[Get, list[tuple[int, ...]], list[tuple[int, ...]]], int | None]

# Layers that only move, copy or drop data, or act in training only.
FREE = frozenset({
    "InputLayer", "Identity", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "SpatialDropout3D", "GaussianDropout", "GaussianNoise", "AlphaDropout",
    "ActivityRegularization", "Flatten", "Reshape", "Permute", "RepeatVector", "Cropping1D",
    "Cropping2D", "Cropping3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    "Concatenate", "Embedding", "Masking", "RandomFlip", "RandomRotation", "RandomZoom",
    "RandomTranslation", "RandomContrast", "RandomBrightness", "RandomCrop",
})
ELEMENTWISE = {"ReLU": 1, "LeakyReLU": 1, "PReLU": 1, "ELU": 1, "Softmax": 3,
               "Rescaling": 2, "Normalization": 2, "BatchNormalization": 2}
MERGES = {"Add": 0, "Subtract": 0, "Multiply": 0, "Maximum": 0, "Minimum": 0, "Average": 1}
# Per timestep: how many gates, and the state update's FLOPs per unit.
RECURRENT = {"SimpleRNN": (1, 0), "LSTM": (4, 5), "GRU": (3, 5)}
ACTIVATION_COST = {"linear": 0, "softmax": 3, "log_softmax": 3}


def layer_flops(class_name: str, get: Get, arranged: Arranged,
                outputs: tuple[Shape, ...]) -> int | None:
    """FLOPs per sample of one call of a ``class_name`` layer whose settings ``get`` reads
    (defaults included), on ``arranged`` input shapes giving ``outputs``; None: unknown."""
    if class_name in FREE:
        return 0
    if class_name == "MultiHeadAttention":
        return _attention(get, arranged, outputs)
    ins = [_sample(s) for s in _listed(arranged)]
    outs = [_sample(s) for s in outputs]
    if any(s is None for s in ins) or any(s is None for s in outs) or not ins or not outs:
        return None  # an open dimension (sequence length): no fixed count
    known_ins = [s for s in ins if s is not None]
    known_outs = [s for s in outs if s is not None]
    if class_name in ("Bidirectional", "TimeDistributed"):
        return _wrapper(class_name, get, known_ins, known_outs)
    rule = RULES.get(class_name)
    if rule is None:
        return None
    try:
        return rule(get, known_ins, known_outs)
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError):
        return None  # settings the rule does not read as it expects: unknown, not a crash


def activation_cost(activation: Any) -> int:
    """FLOPs per element of an ``activation=`` value (a name, or a serialized object)."""
    if activation is None:
        return 0
    if isinstance(activation, dict):
        activation = activation.get("config", {}).get("name", activation.get("class_name"))
    return ACTIVATION_COST.get(str(activation), 1)


def _listed(arranged: Arranged) -> list[Shape]:
    if isinstance(arranged, dict):
        return list(arranged.values())
    if isinstance(arranged, list):
        return arranged
    return [arranged] if arranged is not None else []


def _sample(shape: Shape | None) -> tuple[int, ...] | None:
    """The shape of one sample (batch axis dropped); None while any dimension is open."""
    if shape is None or any(d is None for d in shape[1:]):
        return None
    return tuple(int(d) for d in shape[1:] if d is not None)


def _size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _tail(get: Get, out: tuple[int, ...]) -> int:
    """The bias add and fused activation on an output."""
    bias = _size(out) if get("use_bias") in (True, None) else 0
    return bias + activation_cost(get("activation")) * _size(out)


def _channels_first(get: Get) -> bool:
    return get("data_format") == "channels_first"


def _split(get: Get, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    """(spatial dimensions, channels) of an image-like sample."""
    if _channels_first(get):
        return shape[1:], shape[0]
    return shape[:-1], shape[-1]


def _kernel(get: Get, rank: int, name: str = "kernel_size") -> int:
    value = get(name)
    sizes = [value] * rank if isinstance(value, int) else list(value or [1] * rank)
    return math.prod(int(v) for v in sizes)


# ------------------------------------------------------------------ rules
def _dense(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
    rows, features = _size(ins[0][:-1]), ins[0][-1]
    return 2 * rows * features * outs[0][-1] + _tail(get, outs[0])


def _conv(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
    spatial, c_in = _split(get, ins[0])
    out_spatial, c_out = _split(get, outs[0])
    groups = int(get("groups") or 1)
    macs = _size(out_spatial) * c_out * _kernel(get, len(spatial)) * (c_in // groups)
    return 2 * macs + _tail(get, outs[0])


def _conv_transpose(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
    # Each input element is scattered through the whole kernel into every output channel.
    spatial, c_in = _split(get, ins[0])
    _, c_out = _split(get, outs[0])
    return 2 * _size(spatial) * c_in * _kernel(get, len(spatial)) * c_out + _tail(get, outs[0])


def _depthwise(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
    spatial, _ = _split(get, ins[0])
    out_spatial, c_out = _split(get, outs[0])
    return 2 * _size(out_spatial) * c_out * _kernel(get, len(spatial)) + _tail(get, outs[0])


def _separable(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
    spatial, c_in = _split(get, ins[0])
    out_spatial, c_out = _split(get, outs[0])
    middle = c_in * int(get("depth_multiplier") or 1)
    macs = _size(out_spatial) * middle * (_kernel(get, len(spatial)) + c_out)
    return 2 * macs + _tail(get, outs[0])


def _pooling(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
    spatial, _ = _split(get, ins[0])
    return _size(outs[0]) * _kernel(get, len(spatial), "pool_size")


def _global_pooling(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
    return _size(ins[0])


def _layer_norm(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
    per_element = 5 + (get("scale") is not False) + (get("center") is not False)
    return per_element * _size(ins[0])


def _activation(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
    return activation_cost(get("activation")) * _size(outs[0])


def _dot(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int | None:
    axes = get("axes")
    axis = axes[0] if isinstance(axes, list | tuple) else axes
    if not isinstance(axis, int) or get("normalize"):
        return None
    # Keras counts the axes with the batch axis; a sample's shape has none.
    contracted = ins[0][axis] if axis < 0 else ins[0][axis - 1]
    return 2 * _size(outs[0]) * contracted


def _recurrent(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]],
               class_name: str) -> int:
    gates, update = RECURRENT[class_name]
    steps, features = _size(ins[0][:-1]), ins[0][-1]
    units = int(get("units"))
    biases = 0
    if get("use_bias") is not False:
        biases = gates * units * (2 if class_name == "GRU" and get("reset_after")
                                  is not False else 1)
    per_step = 2 * gates * units * (features + units) + biases + gates * units + update * units
    return steps * per_step


def _merge(extra: int) -> Rule:
    def rule(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
        return (len(ins) - 1 + extra) * _size(outs[0])
    return rule


def _elementwise(per_element: int) -> Rule:
    def rule(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
        return per_element * _size(outs[0])
    return rule


def _recurrent_rule(class_name: str) -> Rule:
    def rule(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int:
        return _recurrent(get, ins, outs, class_name)
    return rule


def _upsampling(get: Get, ins: list[tuple[int, ...]], outs: list[tuple[int, ...]]) -> int | None:
    return 0 if get("interpolation") in (None, "nearest") else None


RULES: dict[str, Rule] = {
    "Dense": _dense,
    **{f"Conv{d}D": _conv for d in (1, 2, 3)},
    **{f"Conv{d}DTranspose": _conv_transpose for d in (1, 2, 3)},
    **{f"DepthwiseConv{d}D": _depthwise for d in (1, 2)},
    **{f"SeparableConv{d}D": _separable for d in (1, 2)},
    **{f"{kind}Pooling{d}D": _pooling for kind in ("Max", "Average") for d in (1, 2, 3)},
    **{f"Global{kind}Pooling{d}D": _global_pooling for kind in ("Max", "Average")
       for d in (1, 2, 3)},
    "UpSampling1D": _upsampling, "UpSampling2D": _upsampling, "UpSampling3D": _upsampling,
    "LayerNormalization": _layer_norm,
    "Activation": _activation,
    "Dot": _dot,
    **{name: _merge(extra) for name, extra in MERGES.items()},
    **{name: _elementwise(cost) for name, cost in ELEMENTWISE.items()},
    **{name: _recurrent_rule(name) for name in RECURRENT},
}


# ------------------------------------------------------------------ layers in layers
def nested_get(value: Any) -> tuple[str, Get] | None:
    """The class and settings reader of a nested layer value (``{"class_name", "params"}``)."""
    if not isinstance(value, dict) or "class_name" not in value:
        return None
    params = value.get("params") or {}
    entry = entry_of(value["class_name"])

    def get(name: str) -> Any:
        if name in params:
            return params[name]
        if entry is not None and entry.has_param(name):
            return entry.param(name).default
        return None
    return value["class_name"], get


def _wrapper(class_name: str, get: Get, ins: list[tuple[int, ...]],
             outs: list[tuple[int, ...]]) -> int | None:
    inner = nested_get(get("layer"))
    if inner is None:
        return None
    name, inner_get = inner
    if class_name == "TimeDistributed":
        # The inner layer runs once per step, on one step's slice.
        step = layer_flops(name, inner_get, (None, *ins[0][1:]), ((None, *outs[0][1:]),))
        return None if step is None else ins[0][0] * step
    forward = _bidirectional_half(name, inner_get, ins[0], outs[0])
    backward_value = nested_get(get("backward_layer"))
    backward = forward if backward_value is None else \
        _bidirectional_half(*backward_value, ins[0], outs[0])
    if forward is None or backward is None:
        return None
    merge = {"sum": 1, "mul": 1, "ave": 2}.get(str(get("merge_mode")), 0)
    return forward + backward + merge * _size(outs[0])


def _bidirectional_half(name: str, get: Get, sample_in: tuple[int, ...],
                        merged_out: tuple[int, ...]) -> int | None:
    rule = RULES.get(name) if name in RECURRENT else None
    # Only the input matters to a recurrent layer's count (its units come from settings).
    return None if rule is None else rule(get, [sample_in], [merged_out])


def _attention(get: Get, arranged: Arranged, outputs: tuple[Shape, ...]) -> int | None:
    if not isinstance(arranged, dict) or get("attention_axes") is not None:
        return None
    query, value = _sample(arranged.get("query")), _sample(arranged.get("value"))
    key = _sample(arranged.get("key")) if arranged.get("key") is not None else value
    out = _sample(outputs[0]) if outputs else None
    if query is None or value is None or key is None or out is None:
        return None
    heads, key_dim = int(get("num_heads")), int(get("key_dim"))
    value_dim = int(get("value_dim") or key_dim)
    t_q, t_v = _size(query[:-1]), _size(value[:-1])
    macs = (t_q * query[-1] * heads * key_dim  # query projection
            + t_v * key[-1] * heads * key_dim  # key projection
            + t_v * value[-1] * heads * value_dim  # value projection
            + heads * t_q * t_v * key_dim  # scores
            + heads * t_q * t_v * value_dim  # weighted sum of the values
            + t_q * heads * value_dim * out[-1])  # output projection
    biases = (t_q * heads * key_dim + t_v * heads * (key_dim + value_dim) + _size(out)
              if get("use_bias") is not False else 0)
    scaling = t_q * heads * key_dim  # the query is scaled by 1/sqrt(key_dim)
    return 2 * macs + biases + scaling + 3 * heads * t_q * t_v
