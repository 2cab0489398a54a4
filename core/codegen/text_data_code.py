"""The exported module's lines for string inputs: synthetic texts drawn as the app draws them
(:func:`.portable.synthetic_texts`) and strings made tensors before ``fit`` (Keras' fit takes
no numpy arrays of strings), as ``training.data`` does."""

from __future__ import annotations

from typing import Any

from ..schema.records import InputNode
from .data_plan import TextPlan
from .python import literal


def synthetic_texts_arguments(plan: TextPlan, samples: int, shape: str | list[Any]) -> list[str]:
    """The arguments of ``synthetic_texts(...)`` for one string input; ``shape`` is a literal
    list or the name of a shape known when the code runs."""
    return ["rng", literal(samples), shape if isinstance(shape, str) else literal(shape),
            "model", literal(plan.layer), literal(plan.most)]


def string_tensor_statements(inputs: list[InputNode], validation: list[str]) -> list[str]:
    """``x = string_tensors(x)`` (and ``val_x``, when ``fit``'s validation arguments name it)
    for a model with a string input; nothing otherwise."""
    if not any("string" in node.dtype for node in inputs):
        return []
    lines = ["x = string_tensors(x)"]
    if any("val_x" in arg for arg in validation):
        lines.append("val_x = string_tensors(val_x)")
    return lines
