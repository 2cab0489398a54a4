"""One constructor argument of a layer (:class:`ParamSpec`) and the check of a value for it,
by kind; the inspector picks its editor by the same kind. The names a registry kind
(activation, initializer...) accepts are read from the installed Keras
(:func:`registry_choices`, called once when the catalog is built)."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..schema.lambdas import lambda_source
from .nested import NESTED_KINDS, nested_value_error, to_keras_layers


@dataclass(frozen=True)
class ParamSpec:
    """One constructor argument: its kind drives the inspector widget and value checks."""

    name: str
    kind: str
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] = ()
    arity: int | None = None

    def value_error(self, value: Any) -> str | None:
        """Why ``value`` does not fit this parameter, or None."""
        if self.kind in NESTED_KINDS:  # a layer inside this one: see nested.py
            return nested_value_error(self, value)
        if value is None and (self.default is None or (not self.required and self.kind == "any")):
            return None
        check = _KIND_CHECKS.get(self.kind, _check_any)
        problem = check(self, value)
        if problem is None:
            return None
        return f"'{self.name}' expected {problem}; received {value!r} ({type(value).__name__})"

    def to_keras(self, value: Any) -> Any:
        """The value as Keras' constructor wants it (JSON lists become tuples, nested
        layers Keras layers)."""
        if self.kind in NESTED_KINDS:
            return to_keras_layers(self, value)
        if self.kind in ("tuple", "int_or_tuple") and isinstance(value, list):
            return tuple(value)
        return value


# Parameter kinds whose string values Keras resolves through a registry, and the public
# module of each (its ``get`` is the registry).
REGISTRY_MODULES = {"activation": "activations", "initializer": "initializers",
                    "regularizer": "regularizers", "constraint": "constraints"}


def registry_choices(keras: ModuleType) -> dict[str, tuple[str, ...]]:
    """For each registry kind, the names Keras resolves, read from the installed Keras."""
    return {kind: registry_names(getattr(keras, module))
            for kind, module in REGISTRY_MODULES.items()}


def registry_names(module: ModuleType) -> tuple[str, ...]:
    """The lower-case public names of ``module`` that its ``get`` resolves (aliases such as
    'swish' and 'silu' included); the CamelCase class names stay out of the choices."""
    names = []
    for name, _obj in inspect.getmembers(module, _is_resolvable_object):
        if name.startswith("_") or name != name.lower() or name in _NOT_REGISTERED:
            continue
        try:
            module.get(name)
        except (ValueError, KeyError, TypeError):
            continue  # e.g. 'l1_l2' or 'constant': public, but Keras does not take the name
        names.append(name)
    return tuple(names)


_NOT_REGISTERED = {"get", "serialize", "deserialize"}


def _is_resolvable_object(obj: Any) -> bool:
    return inspect.isfunction(obj) or inspect.isclass(obj)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(spec: ParamSpec, value: Any) -> str | None:
    return None if _is_int(value) else "an integer"


def _check_float(spec: ParamSpec, value: Any) -> str | None:
    ok = (_is_int(value) or isinstance(value, float))
    return None if ok else "a number"


def _check_bool(spec: ParamSpec, value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _check_str(spec: ParamSpec, value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def _check_choice(spec: ParamSpec, value: Any) -> str | None:
    if value in spec.choices:
        return None
    return "one of " + ", ".join(repr(c) for c in spec.choices)


def _check_named(spec: ParamSpec, value: Any) -> str | None:
    if value is None or isinstance(value, dict) or value in spec.choices:
        return None
    return "one of " + ", ".join(repr(c) for c in spec.choices if c is not None)


def _check_tuple(spec: ParamSpec, value: Any) -> str | None:
    if not isinstance(value, list | tuple) or not all(_is_int(v) or v is None for v in value):
        return "a list of integers"
    if spec.arity is not None and len(value) != spec.arity:
        return f"{spec.arity} integers"
    return None


def _check_int_or_tuple(spec: ParamSpec, value: Any) -> str | None:
    if _is_int(value):
        return None
    if _check_tuple(spec, value) is None or _is_side_pairs(spec, value):
        return None
    return f"an integer or {spec.arity or 'a list of'} integers"


def _is_side_pairs(spec: ParamSpec, value: Any) -> bool:
    """ZeroPadding/Cropping also take one (before, after) pair per axis: [[0, 1], [0, 1]]."""
    return spec.name in ("padding", "cropping") and isinstance(value, list | tuple) and \
        (spec.arity is None or len(value) == spec.arity) and \
        all(isinstance(v, list | tuple) and len(v) == 2 and all(_is_int(i) for i in v)
            for v in value)


def _check_expression(spec: ParamSpec, value: Any) -> str | None:
    if not isinstance(value, str):
        return "a Python expression in x (text)"
    try:
        lambda_source(value)
    except ValueError as exc:
        return str(exc)
    return None


def _check_any(spec: ParamSpec, value: Any) -> str | None:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return "a JSON value"
    return None


_KIND_CHECKS = {
    "int": _check_int, "float": _check_float, "bool": _check_bool, "str": _check_str,
    "choice": _check_choice, "activation": _check_named, "initializer": _check_named,
    "regularizer": _check_named, "constraint": _check_named, "tuple": _check_tuple,
    "int_or_tuple": _check_int_or_tuple, "any": _check_any, "expression": _check_expression,
}
