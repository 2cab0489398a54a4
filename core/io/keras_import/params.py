"""Keras layer configs -> catalog parameters, and call keyword arguments -> stored ones.

Parameters keep only the values that differ from the layer's defaults, in the JSON form
the catalog and the code generator expect (tuples as lists, ``(3, 3)`` as ``3``, a
Keras initializer/regularizer/constraint by its short name where its config is the
default one). Keras is asked for the defaults: a layer made with the required arguments
only gives the reference config.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from ...catalog.catalog import Catalog, LayerEntry
from ...catalog.nested import NESTED_KINDS, entry_of, nested_layer, nested_value_error
from ...catalog.params import ParamSpec
from ...schema.errors import CustomLayerError, ModelImportError, UnsupportedOperationError
from ...schema.records import LayerSpec
from ...schema.values import is_jsonable

# Keys of a layer config that are not constructor parameters the catalog edits.
# vocabulary_size: what TextVectorization's config reports of its vocabulary (not an argument)
IGNORED_KEYS = {"name", "trainable", "dtype", "build_config", "compile_config",
                "vocabulary_size"}


class ParamConverter:
    """Keras layer configs -> catalog params: only non-default values, in JSON form."""

    def __init__(self, catalog: Catalog, warnings: list[str]) -> None:
        self.catalog = catalog
        self.warnings = warnings
        self._reference: dict[str, dict[str, Any]] = {}
        self._rebuilt: dict[str, dict[str, Any] | None] = {}
        self._aliases: dict[str, Any] = {}

    def convert(self, entry: LayerEntry, config: dict[str, Any], name: str) -> dict[str, Any]:
        values = {k: v for k, v in config.items() if k not in IGNORED_KEYS}
        if entry.class_name == "Bidirectional":
            values = _without_forced_mask_option(values)
        given: dict[str, Any] = {}
        for key, raw in values.items():
            if entry.has_param(key):
                given[key] = self.normalized(entry.param(key), raw, name)
            else:
                self.unknown(entry, key, raw, name, values)
        missing = [p.name for p in entry.params if p.required and p.name not in given]
        if missing:
            raise ModelImportError(f"layer '{name}' ({entry.class_name}): expected a value "
                                   f"for '{missing[0]}' in its config; received none")
        if entry.class_name == "Bidirectional":
            _as_given_to_bidirectional(given)
        # Defaults are asked of Keras with the nested layers as records, not as configs.
        nested = {k: v for k, v in given.items() if entry.param(k).kind in NESTED_KINDS}
        params = self.without_defaults(entry, given, {**values, **nested})
        for key, value in params.items():
            problem = entry.param(key).value_error(value)
            if problem is not None:
                raise ModelImportError(f"layer '{name}' ({entry.class_name}): {problem}")
        return params

    def without_defaults(self, entry: LayerEntry, given: dict[str, Any],
                         values: dict[str, Any]) -> dict[str, Any]:
        """Drop values Keras would choose itself, then put back any value whose default
        depends on another argument (MaxPooling2D's strides follow pool_size)."""
        kept = {k: v for k, v in given.items()
                if entry.param(k).required or not self.is_default(entry, entry.param(k), v,
                                                                  values)}
        rebuilt = self.config_of(entry, kept)
        if rebuilt is None:
            return kept
        for key, value in given.items():
            if entry.param(key).kind in NESTED_KINDS:
                continue  # only a left-out backward_layer: Keras derives it, as meant
            if key not in kept and self.normalized(entry.param(key), rebuilt.get(key),
                                                   "") != value:
                kept[key] = value
        return {k: kept[k] for k in given if k in kept}

    def config_of(self, entry: LayerEntry, params: dict[str, Any]) -> dict[str, Any] | None:
        key = json.dumps([entry.class_name, params], sort_keys=True, default=str)
        if key not in self._rebuilt:
            self._rebuilt[key] = _layer_config(entry, params)
        return self._rebuilt[key]

    def unknown(self, entry: LayerEntry, key: str, raw: Any, name: str,
                values: dict[str, Any]) -> None:
        if raw in (None, False) or key == "seed":
            return
        reference = self.reference(entry, values)
        if key in reference and plain(reference[key]) == plain(raw):
            return
        self.warnings.append(f"layer '{name}' ({entry.class_name}): '{key}'={short_value(raw)} "
                             "is not a parameter LayerForge edits; the imported layer uses the "
                             "default")

    def normalized(self, spec: ParamSpec, raw: Any, name: str) -> Any:
        if spec.kind in NESTED_KINDS:
            return self.nested(spec, raw, name)
        value = self.serialized_object(spec, raw, name) if isinstance(raw, dict) else plain(raw)
        if spec.kind == "int_or_tuple":
            return compact_tuple(value)
        if spec.kind == "int" and isinstance(value, list) and len(value) == 1:
            return value[0]  # Keras stores an int axis as a 1-tuple (Normalization)
        return value

    def nested(self, spec: ParamSpec, raw: Any, name: str) -> Any:
        """Serialized layers (a wrapper's layer, an RNN's cell...) -> nested-layer records
        (see ``catalog/nested.py``), their parameters converted like any layer's."""
        if raw is None:
            return None
        if isinstance(raw, list):
            return [self.nested_one(spec, item, name) for item in raw]
        return self.nested_one(spec, raw, name)

    def nested_one(self, spec: ParamSpec, raw: Any, name: str) -> dict[str, Any]:
        class_name = raw.get("class_name") if isinstance(raw, dict) else None
        entry = entry_of(str(class_name)) if class_name in spec.choices else None
        if not isinstance(entry, LayerEntry) or not str(raw.get("module") or
                                                        "keras").startswith("keras"):
            problem = nested_value_error(spec, nested_layer(str(class_name)))
            raise ModelImportError(f"layer '{name}' ({spec.name}): {problem or 'unknown'}")
        config = raw.get("config") or {}
        inner_name = str(config.get("name") or "")
        params = self.convert(entry, config, f"{name}/{inner_name}")
        return nested_layer(str(class_name), params, inner_name or None)

    def serialized_object(self, spec: ParamSpec, raw: dict[str, Any], name: str) -> Any:
        """An initializer/regularizer/constraint config: its short name where one exists."""
        if "class_name" not in raw:
            return plain(raw)
        registered = raw.get("registered_name")
        module = str(raw.get("module") or "keras")
        if not module.startswith("keras") or (registered and ">" in str(registered)):
            raise CustomLayerError(
                f"layer '{name}': parameter '{spec.name}' is a custom object "
                f"'{registered or raw['class_name']}', not part of Keras; rebuild the layer "
                "with a Keras initializer, regularizer or constraint")
        if raw["class_name"] == "function" and isinstance(raw.get("config"), str):
            return raw["config"]  # a Keras activation serialized by name
        plain_object = {"class_name": raw["class_name"], "config": plain(raw.get("config", {}))}
        alias = self.alias(spec.kind, plain_object)
        return alias if alias is not None else plain_object

    def alias(self, kind: str, plain_object: dict[str, Any]) -> str | None:
        if kind not in ("initializer", "regularizer", "constraint"):
            return None
        snake = _snake(plain_object["class_name"])
        key = f"{kind}:{snake}"
        if key not in self._aliases:
            self._aliases[key] = _keras_default_config(kind, snake)
        return snake if self._aliases[key] == plain_object["config"] else None

    def is_default(self, entry: LayerEntry, spec: ParamSpec, value: Any,
                   values: dict[str, Any]) -> bool:
        if value == spec.default or value == compact_tuple(spec.default):
            return True
        if spec.name in entry.initial and value != entry.initial[spec.name]:
            return False
        reference = self.reference(entry, values)
        if spec.name not in reference:
            return False
        ref_value = reference[spec.name]
        if isinstance(ref_value, dict):
            ref_value = self.serialized_object(spec, ref_value, "")
        return compact_tuple(plain(ref_value)) == compact_tuple(value)

    def reference(self, entry: LayerEntry, values: dict[str, Any]) -> dict[str, Any]:
        """The config of the layer made with its required arguments only (Keras' defaults)."""
        required = {p.name: values[p.name] for p in entry.params
                    if p.required and p.name in values}
        key = json.dumps([entry.class_name, required], sort_keys=True, default=str)
        if key not in self._reference:
            self._reference[key] = _layer_config(entry, required) or {}
        return self._reference[key]


def _layer_config(entry: LayerEntry, params: dict[str, Any]) -> dict[str, Any] | None:
    """The config of a new layer made with ``params``, or None if Keras refuses them."""
    import keras  # lazy: Keras only when a file is imported, never at start-up

    try:
        kwargs = {k: entry.param(k).to_keras(v) for k, v in params.items()}
        return dict(getattr(keras.layers, entry.class_name)(**kwargs).get_config())
    except Exception:  # no reference: every value counts as set (still correct, more verbose)
        return None


def _keras_default_config(kind: str, alias: str) -> Any:
    import keras  # lazy: Keras only when a file is imported, never at start-up

    getter = {"initializer": keras.initializers.get, "regularizer": keras.regularizers.get,
              "constraint": keras.constraints.get}[kind]
    try:
        return plain(getter(alias).get_config())
    except (ValueError, TypeError, KeyError):  # KeyError: 'constant' needs a value
        return None


def _snake(class_name: str) -> str:
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _without_forced_mask_option(values: dict[str, Any]) -> dict[str, Any]:
    """Bidirectional sets zero_output_for_mask on the layers it wraps (and again when
    rebuilt): not a value of the layer as given."""
    values = dict(values)
    for key in ("layer", "backward_layer"):
        raw = values.get(key)
        if isinstance(raw, dict) and isinstance(raw.get("config"), dict):
            config = {k: v for k, v in raw["config"].items() if k != "zero_output_for_mask"}
            values[key] = {**raw, "config": config}
    return values


def _as_given_to_bidirectional(given: dict[str, Any]) -> None:
    """Bidirectional names its layers forward_<name> and backward_<name> after the layer it
    was given: keep that layer as given (named <name>), and leave out a backward layer that
    Keras derives from it."""
    forward = given.get("layer")
    if isinstance(forward, dict) and str(forward.get("name", "")).startswith("forward_"):
        forward["name"] = forward["name"].removeprefix("forward_")
    if _derived_backward(given):
        given["backward_layer"] = None


def _derived_backward(given: dict[str, Any]) -> bool:
    """Whether Bidirectional's saved backward layer is the one Keras makes from its forward
    layer (its config with go_backwards=True, named backward_<name>)."""
    forward, backward = given.get("layer"), given.get("backward_layer")
    if not isinstance(forward, dict) or not isinstance(backward, dict):
        return False
    expected = {**forward, "params": {**forward["params"], "go_backwards": True}}
    expected["name"] = f"backward_{forward.get('name', '')}"
    return backward == expected


# ------------------------------------------------------------------ call arguments
def kept_call_kwargs(layer: LayerSpec, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a call that differ from the layer's ``call`` defaults."""
    defaults = _call_defaults(layer)
    kept = {}
    for key, value in kwargs.items():
        if (key == "mask" and value is None) or (key in defaults and defaults[key] == value):
            continue
        if not is_jsonable(value):
            raise UnsupportedOperationError(
                f"layer '{layer.name}' is called with {key}={value!r}, which a project "
                "cannot store")
        kept[key] = value
    return kept


def _call_defaults(layer: LayerSpec) -> dict[str, Any]:
    if layer.block_id is not None:
        return {"training": None, "mask": None}
    import keras  # lazy: Keras only when a file is imported, never at start-up

    cls = getattr(keras.layers, layer.class_name, None)
    if cls is None:
        return {}
    params = inspect.signature(cls.call).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


# ------------------------------------------------------------------ values
def plain(value: Any) -> Any:
    """JSON form: tuples become lists (what a saved project gives back)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return value


def compact_tuple(value: Any) -> Any:
    """(3, 3) -> 3 and ((1, 1), (2, 2)) -> (1, 2): the same layer, written as Keras users do."""
    if isinstance(value, list) and value and all(isinstance(v, list) and len(v) == 2 and
                                                 v[0] == v[1] for v in value):
        value = [v[0] for v in value]
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool)
                                                 and v == value[0] for v in value):
        return value[0]
    return value


def short_value(value: Any) -> str:
    """A value as it appears in a message: JSON where it can be, at most 60 characters."""
    text = json.dumps(value) if is_jsonable(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
