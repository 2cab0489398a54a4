"""The arguments of a layer's constructor as Python source, nested layers included.

A nested layer (see ``catalog/nested.py``) is written as a person writes it, inside its
wrapper's call: ``layers.Bidirectional(layers.GRU(32, return_sequences=True))``.
"""

from __future__ import annotations

from typing import Any

from ..catalog.entry import LayerEntry
from ..catalog.nested import NESTED_KINDS, entry_of
from ..catalog.params import ParamSpec
from .python import INDENT, CodegenError, call_text, literal


def constructor_arguments(entry: LayerEntry, params: dict[str, Any], owner: str) -> list[str]:
    """Required arguments by position (as Keras users write them), others by keyword.
    ``owner`` names the layer in a message."""
    args: list[str] = []
    positional = True
    for spec in entry.params:
        if spec.name not in params:
            positional = positional and not spec.required
            continue
        value = params[spec.name]
        if not spec.required and value == spec.default and spec.name not in entry.initial:
            continue
        text = argument_text(spec, value, owner)
        if spec.required and positional:
            args.append(text)
        else:
            positional = False
            args.append(f"{spec.name}={text}")
    unknown = set(params) - {p.name for p in entry.params}
    if unknown:
        raise CodegenError(f"{owner} has no parameter {', '.join(sorted(unknown))}")
    return args


def argument_text(spec: ParamSpec, value: Any, owner: str) -> str:
    if spec.kind not in NESTED_KINDS or value is None:
        return literal(value, as_tuple=spec.kind in ("tuple", "int_or_tuple"))
    if spec.kind == "layers":
        items = [nested_layer_text(item, owner) for item in value]
        one = "[" + ", ".join(items) + "]"
        if "\n" not in one and len(one) <= 60:
            return one
        return "[\n" + "".join(f"{INDENT}{_indented(item)},\n" for item in items) + "]"
    return nested_layer_text(value, owner)


def nested_layer_text(value: dict[str, Any], owner: str) -> str:
    """``layers.GRU(32, return_sequences=True)`` for a nested-layer value."""
    class_name = value.get("class_name")
    entry = entry_of(str(class_name))
    if entry is None or not isinstance(entry, LayerEntry):
        raise CodegenError(f"{owner}: expected a nested Keras layer class; "
                           f"received {class_name!r}")
    inner = f"{owner} ({class_name})"
    args = constructor_arguments(entry, value.get("params", {}), inner)
    if value.get("name"):
        args.append(f"name={value['name']!r}")
    return _indented(call_text(f"layers.{class_name}", args))


def _indented(text: str) -> str:
    """Text placed one level in: its later lines move with it."""
    return text.replace("\n", "\n" + INDENT)
