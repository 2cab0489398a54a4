"""Layers inside layers: the layer a wrapper wraps (Bidirectional, TimeDistributed,
SpectralNormalization), an RNN's cell, StackedRNNCells' cells and a Pipeline's layers.

Representation. A nested layer is a parameter value of kind ``"layer"``::

    {"class_name": "GRU", "params": {"units": 32, "return_sequences": true}}

``params`` holds only the values that differ from the nested class's defaults (its
required arguments always), exactly as a top-level layer's record does, and may hold
nested layers in turn (``RNN(StackedRNNCells([LSTMCell(8), LSTMCell(8)]))``). An optional
``"name"`` keeps the name of a nested layer imported from a ``.keras`` file, so that the
rebuilt model's configs name it alike; a layer chosen in the app has none and Keras names
it. A parameter of kind ``"layers"`` holds a JSON list of such values. The parameter's
``choices`` are the class names it accepts (``None`` first where it may be left out).

Project files store the value as it is; loading checks it with ``ParamSpec.value_error``
like any other value: the class must be among the choices and each nested parameter must
pass its own class's check, or the message names what was expected and what was received.

The nested classes' parameter specs come from the catalog that was made last
(:func:`use_entries`, called by ``Catalog``): recurrent cells are catalog entries that are
chosen only inside another layer, never placed on the canvas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

NESTED_KINDS = ("layer", "layers")
_KEYS = {"class_name", "params", "name"}
_SHOWN_CHOICES = 8


class NestedEntry(Protocol):
    """What this module asks of a catalog entry (``catalog.LayerEntry``)."""

    class_name: str

    @property
    def params(self) -> tuple[Any, ...]: ...

    def has_param(self, name: str) -> bool: ...

    def param(self, name: str) -> Any: ...

    def initial_params(self) -> dict[str, Any]: ...


_ENTRIES: dict[str, NestedEntry] = {}


def use_entries(*tables: Mapping[str, NestedEntry]) -> None:
    """The entries nested values are checked and built with (the catalog's, cells included).
    Entries add up: a project's catalog (custom layers) comes on top of the base one."""
    for table in tables:
        _ENTRIES.update(table)


def entry_of(class_name: str) -> NestedEntry | None:
    return _ENTRIES.get(class_name)


def nested_layer(class_name: str, params: dict[str, Any] | None = None,
                 name: str | None = None) -> dict[str, Any]:
    """A nested-layer value (the record form above)."""
    value: dict[str, Any] = {"class_name": class_name, "params": dict(params or {})}
    if name:
        value["name"] = name
    return value


def new_nested_layer(class_name: str) -> dict[str, Any]:
    """The value for a nested layer of ``class_name`` chosen in the app: its starting
    parameters, as a new top-level layer of that class gets."""
    entry = entry_of(class_name)
    initial = entry.initial_params() if entry is not None else {}
    return nested_layer(class_name, _copied(initial))


def _copied(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    return value


# ------------------------------------------------------------------ checks
def nested_value_error(spec: Any, value: Any) -> str | None:
    """Why ``value`` does not fit the nested-layer parameter ``spec`` (the whole message),
    or None."""
    if spec.kind == "layers":
        if not isinstance(value, list):
            return f"'{spec.name}' expected a list of layers; received {_short(value)}"
        for index, item in enumerate(value):
            problem = _one_layer_error(spec, item, f"{spec.name}[{index}]")
            if problem is not None:
                return problem
        return None
    if value is None and None in spec.choices:
        return None
    return _one_layer_error(spec, value, spec.name)


def _one_layer_error(spec: Any, value: Any, where: str) -> str | None:
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        return (f"'{where}' expected a layer such as {{\"class_name\": \"GRU\", \"params\": "
                f"{{\"units\": 32}}}}; received {_short(value)}")
    extra = sorted(set(value) - _KEYS)
    if extra:
        return (f"'{where}' expected only the keys class_name, params and name; received "
                f"{', '.join(repr(k) for k in extra)}")
    class_name = value["class_name"]
    if class_name not in spec.choices:
        return f"'{where}' expected a layer of class {_choices_text(spec)}; " \
               f"received '{class_name}'"
    if "name" in value and not isinstance(value["name"], str):
        return f"'{where}.name' expected a string; received {_short(value['name'])}"
    params = value.get("params", {})
    if not isinstance(params, dict):
        return f"'{where}.params' expected an object of parameters; received {_short(params)}"
    entry = entry_of(class_name)
    return None if entry is None else _params_error(entry, params, where)


def _params_error(entry: NestedEntry, params: dict[str, Any], where: str) -> str | None:
    for key, item in params.items():
        if not entry.has_param(key):
            known = ", ".join(p.name for p in entry.params)
            return (f"'{where}' ({entry.class_name}) expected a parameter among {known}; "
                    f"received '{key}'")
        problem = entry.param(key).value_error(item)
        if problem is not None:
            return f"'{where}' ({entry.class_name}): {problem}"
    missing = [p.name for p in entry.params if p.required and p.name not in params]
    if missing:
        return (f"'{where}' ({entry.class_name}) expected a value for '{missing[0]}'; "
                "received none")
    return None


def _choices_text(spec: Any) -> str:
    names = [repr(c) for c in spec.choices if c is not None]
    shown = ", ".join(names[:_SHOWN_CHOICES])
    more = f", ... ({len(names)} classes)" if len(names) > _SHOWN_CHOICES else ""
    return f"one of {shown}{more}"


def _short(value: Any) -> str:
    text = repr(value)
    return (text if len(text) <= 80 else text[:77] + "...") + f" ({type(value).__name__})"


# ------------------------------------------------------------------ Keras objects
def to_keras_layers(spec: Any, value: Any) -> Any:
    """The Keras layer(s) of a nested value: what the wrapper's constructor takes."""
    if value is None:
        return None
    if spec.kind == "layers":
        return [build_nested(item) for item in value]
    return build_nested(value)


def build_nested(value: dict[str, Any]) -> Any:
    """A new Keras layer from a nested-layer value."""
    import keras  # lazy: nested layers are built only by the live pass, import and export

    class_name = value["class_name"]
    entry = entry_of(class_name)
    kwargs = {key: entry.param(key).to_keras(item) if entry is not None else item
              for key, item in value.get("params", {}).items()}
    if value.get("name"):
        kwargs["name"] = value["name"]
    return getattr(keras.layers, class_name)(**kwargs)
