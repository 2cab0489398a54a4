"""The one place that turns document records into Keras objects (imports Keras lazily)."""

from __future__ import annotations

import json
from typing import Any

from ..schema.lambdas import lambda_source
from ..schema.records import LayerSpec, Shape
from ..schema.trust import may_run, refuse_untrusted, saved_model_may_run
from .catalog import APPLICATION_PREFIX, Catalog, LayerEntry
from .custom import class_may_run, custom_class, source_of
from .pretrained import make_application, weights_files_state
from .saved_models import (
    SAVED_MODEL_CLASS,
    make_saved_model_layer,
    saved_model_path,
    saved_model_state,
)

# The layer classes whose parameters are code that building the layer runs (a TFSMLayer
# loads a SavedModel, whose graph runs).
CODE_CLASSES = ("Lambda", SAVED_MODEL_CLASS)


def make_lambda(expression: str) -> Any:
    """The function of a Lambda layer: this runs the user's code, on purpose, and only code the
    user trusts (:mod:`schema.trust`); otherwise it raises ``UntrustedCodeError``."""
    refuse_untrusted(expression)
    keras = keras_module()
    scope = {"keras": keras, "ops": keras.ops}
    return eval(lambda_source(expression), scope)


def keras_module() -> Any:
    import keras  # lazy: start-up and the cached catalog never load TensorFlow

    return keras


def layer_key(layer: LayerSpec) -> str:
    """Equal for two layers with the same class and parameters (names aside); code that may
    not run yet has another key, so nothing cached before it was trusted outlives that; nor
    does an application's answer outlive a change of the weights files it reads."""
    trusted = code_may_run(layer)
    files = weights_files_state(layer.params) if layer.class_name.startswith(
        APPLICATION_PREFIX) else None
    if layer.class_name == SAVED_MODEL_CLASS:
        files = saved_model_state(layer.params)
    return json.dumps([layer.class_name, layer.block_id, layer.params, trusted, files],
                      sort_keys=True)


def code_may_run(layer: LayerSpec) -> bool:
    """False for a layer whose code the user has not trusted (see ``schema.trust``): a
    Lambda's expression, a class from a custom module."""
    if layer.class_name == SAVED_MODEL_CLASS:
        return saved_model_may_run(saved_model_path(layer.params))
    if layer.class_name in CODE_CLASSES:
        return may_run(layer.params.get("expression", "x"))
    return class_may_run(layer.class_name)


def constructor_kwargs(entry: LayerEntry, layer: LayerSpec) -> dict[str, Any]:
    return {k: entry.param(k).to_keras(v) for k, v in layer.params.items()}


def make_layer(catalog: Catalog, layer: LayerSpec, input_shape: Shape | None = None) -> Any:
    """A new, unbuilt Keras layer for a catalog layer (applications need the input shape)."""
    keras = keras_module()
    entry = catalog.get(layer.class_name)
    kwargs = constructor_kwargs(entry, layer)
    if entry.is_application:
        return make_application(keras, entry.class_name[len(APPLICATION_PREFIX):], kwargs,
                                input_shape)
    if layer.class_name == "Lambda":
        return keras.layers.Lambda(make_lambda(kwargs["expression"]))
    if layer.class_name == SAVED_MODEL_CLASS:
        return make_saved_model_layer(keras, kwargs, input_shape)
    source = source_of(catalog, layer.class_name)
    if source is not None:  # a custom module's class runs only once trusted
        return custom_class(source, layer.class_name)(**kwargs)
    return getattr(keras.layers, layer.class_name)(**kwargs)


def symbolic(shape: Shape, dtype: str = "float32") -> Any:
    return keras_module().KerasTensor(tuple(shape), dtype=dtype)


def as_shapes(result: Any) -> list[Shape]:
    """Normalise what ``compute_output_shape`` returns into a list of shapes."""
    if _is_shape(result):
        return [_clean(result)]
    if isinstance(result, dict):
        return [_clean(v) for v in result.values()]
    return [_clean(s) for s in result]


def _is_shape(value: Any) -> bool:
    return isinstance(value, tuple | list) and all(
        d is None or isinstance(d, int) or hasattr(d, "__index__") for d in value
    )


def _clean(shape: Any) -> Shape:
    if hasattr(shape, "shape") and not isinstance(shape, tuple | list):
        shape = shape.shape
    return tuple(None if d is None else int(d) for d in shape)
