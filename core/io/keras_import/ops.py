"""The calls in a serialized Keras model: tensor references, inbound nodes, raw ops.

A serialized functional model records each call of a layer as an inbound node whose
arguments hold tensor references ``(layer name, node index, tensor index)``; Keras 2
files use an older list form, read here into the Keras 3 one. A raw ``keras.ops`` call
(``x + 1``, ``ops.relu(x)``) is recorded as an operation node, not a layer: it is mapped
to the public layer that computes the same thing; a comparison or reduction a mask is
computed with (``ops.not_equal(x, 0)``) becomes a Lambda expression written here; anything
else is refused with a clear message.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ...schema.errors import UnsupportedOperationError
from .params import short_value

TensorRef = tuple[str, int, int]

_MERGE_OPS = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply",
              "Maximum": "Maximum", "Minimum": "Minimum", "Concatenate": "Concatenate"}
# Comparisons and reductions masks are computed with: Lambda expressions (see _mask_expression).
_COMPARISON_OPS = {"NotEqual": "not_equal", "Equal": "equal", "Greater": "greater",
                   "GreaterEqual": "greater_equal", "Less": "less", "LessEqual": "less_equal"}
_REDUCTION_OPS = {"Any": "any", "All": "all"}
_ACTIVATION_OPS = {"Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh",
                   "Silu": "silu", "Swish": "silu", "Softplus": "softplus",
                   "Softsign": "softsign", "Elu": "elu", "Selu": "selu", "Exp": "exponential",
                   "HardSigmoid": "hard_sigmoid", "Mish": "mish"}


# ------------------------------------------------------------------ tensor references
def tensor_ref(value: Any) -> TensorRef | None:
    """(layer name, node index, tensor index) of a serialized tensor, else None."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        name, node_index, tensor_index = value["config"]["keras_history"]
        return str(name), int(node_index), int(tensor_index)
    return None


def tensor_values(value: Any) -> list[Any]:
    """The serialized tensors in nested lists, in order."""
    if tensor_ref(value) is not None:
        return [value]
    if isinstance(value, list | tuple):
        return [t for item in value for t in tensor_values(item)]
    return []


def tensors_in(value: Any) -> Iterator[TensorRef]:
    ref = tensor_ref(value)
    if ref is not None:
        yield ref
    elif isinstance(value, list | tuple):
        for item in value:
            yield from tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item)


def as_call(node: Any) -> dict[str, Any]:
    """An inbound node in Keras 3 form ({"args", "kwargs"}), also from Keras 2 files."""
    if isinstance(node, dict):
        return {"args": list(node.get("args", [])), "kwargs": dict(node.get("kwargs", {}))}
    tensors, kwargs = [], {}
    for entry in node:  # Keras 2: [[layer name, node index, tensor index, kwargs], ...]
        tensors.append({"class_name": "__keras_tensor__",
                        "config": {"keras_history": list(entry[:3])}})
        kwargs.update(entry[3] if len(entry) > 3 else {})
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": kwargs}


def refs(value: Any) -> list[TensorRef]:
    """Input/output layer references: one triple, a list of triples, or a dict of them."""
    if isinstance(value, dict):
        return [tuple(v) for v in value.values()]  # type: ignore[misc]
    if value and not isinstance(value[0], list | tuple):
        return [tuple(value)]  # type: ignore[list-item]
    return [tuple(v) for v in value]  # type: ignore[misc]


def ref_names(value: Any) -> list[str] | None:
    return [str(k) for k in value] if isinstance(value, dict) else None


# ------------------------------------------------------------------ raw ops
def is_raw_op(record: dict[str, Any]) -> bool:
    module = str(record.get("module") or "")
    return module.startswith(("keras.src.ops", "keras.ops"))


def raw_op_layer(record: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """A public layer computing what a raw ``keras.ops`` node computes."""
    op = str(record["class_name"])
    config = record.get("config", {})
    calls = [as_call(n) for n in record.get("inbound_nodes", [])]
    constants = [a for c in calls for a in c["args"] if tensor_ref(a) is None
                 and not isinstance(a, list)]
    if op in _MERGE_OPS and not constants:
        axis = config.get("axis", -1)
        return _MERGE_OPS[op], ({"axis": axis} if op == "Concatenate" and axis != -1 else {})
    if op in ("Add", "Subtract", "Multiply") and len(constants) == 1 and \
            isinstance(constants[0], int | float):
        c = float(constants[0])
        return "Rescaling", {"Add": {"scale": 1.0, "offset": c},
                             "Subtract": {"scale": 1.0, "offset": -c},
                             "Multiply": {"scale": c}}[op]
    if op in _ACTIVATION_OPS and not constants and len(config) <= 1:
        return "Activation", {"activation": _ACTIVATION_OPS[op]}
    if op == "Softmax" and config.get("axis", -1) == -1:
        return "Activation", {"activation": "softmax"}
    if op == "Transpose" and (config.get("axes") or [None])[0] == 0:
        return "Permute", {"dims": [int(a) for a in config["axes"][1:]]}
    expression = _mask_expression(op, config, calls, constants)
    if expression is not None:
        return "Lambda", {"expression": expression}
    raise UnsupportedOperationError(
        f"'{name}' is a raw keras.ops call ({op}, {short_value(config)}) that no public Keras "
        "layer expresses; wrap it in a layer (e.g. a Lambda expression made in LayerForge) "
        "before importing")


def _mask_expression(op: str, config: dict[str, Any], calls: list[dict[str, Any]],
                     constants: list[Any]) -> str | None:
    """A raw op masks are computed with (``ops.not_equal(x, 0)``, ``ops.any(x, axis=-1)``),
    which no public layer computes, as the expression of a Lambda layer. LayerForge writes
    the expression itself: only a finite number or an axis read from the file goes into it,
    so the file's own code never runs."""
    if len(calls) != 1 or not calls[0]["args"] or tensor_ref(calls[0]["args"][0]) is None:
        return None
    if op in _COMPARISON_OPS and len(constants) == 1 and _is_number(constants[0]):
        return f"ops.{_COMPARISON_OPS[op]}(x, {constants[0]!r})"
    if op in _REDUCTION_OPS and not constants and _is_axis(config.get("axis")):
        axis = config.get("axis")
        arguments = ["x", *([f"axis={axis!r}"] if axis is not None else []),
                     *(["keepdims=True"] if config.get("keepdims") is True else [])]
        return f"ops.{_REDUCTION_OPS[op]}({', '.join(arguments)})"
    if op == "LogicalNot" and not constants:
        return "ops.logical_not(x)"
    return None


def _is_number(value: Any) -> bool:
    return type(value) in (int, float, bool) and math.isfinite(value)


def _is_axis(axis: Any) -> bool:
    if isinstance(axis, list):
        return all(type(a) is int for a in axis)
    return axis is None or type(axis) is int
