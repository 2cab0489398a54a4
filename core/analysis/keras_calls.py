"""Asking Keras about one layer: the shapes it computes or gets from a symbolic call, the rank
checks Keras makes only in ``__call__``, and its error messages without the noise."""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..catalog.call_ports import INITIAL_STATE, MASK
from ..catalog.catalog import Catalog
from ..catalog.keras_objects import as_shapes, keras_module, layer_key, make_layer, symbolic
from ..schema.records import (
    LayerSpec,
    PortSpec,
    Shape,
    argument_of,
    call_arguments,
    format_shape,
)

_RESULT_CACHE_SIZE = 8192
# Catalog category of the layers whose ``build`` validates input shapes without weights.
MERGING = "Merging"
# The most weights one layer may have before building it is refused (float32: 2 GB).
MAX_WEIGHTS = 500_000_000


class LRU(OrderedDict[Any, Any]):
    def put(self, key: Any, value: Any) -> Any:
        self[key] = value
        self.move_to_end(key)
        if len(self) > _RESULT_CACHE_SIZE:
            self.popitem(last=False)
        return value


@dataclass(frozen=True)
class Built:
    """A layer built on its input shapes: its weight count, or Keras' refusal."""

    params: int | None
    error: str | None = None


# What Keras answered, shared by every engine: by layer, input shapes (and call arguments).
SHAPE_RESULTS = LRU()
BUILT = LRU()
Answer = tuple[tuple[Shape, ...] | None, str | None]
# The shapes of a call's extra tensors (mask, initial_state[0]...) by port.
Extras = dict[str, Shape | None]


def built_key(layer: LayerSpec, arranged: Any, extras: Extras | None = None) -> tuple[str, str]:
    return layer_key(layer), repr(arranged) + (repr(sorted(extras.items())) if extras else "")


def arrange(spec: PortSpec, shapes: dict[Any, Shape | None]) -> tuple[Any, Extras]:
    """Input shapes (by port) as the layer's call takes them: one, a list, or by keyword;
    and those of the extra tensors it is given (mask, initial states)."""
    extras = extra_shapes(spec, shapes)
    if spec.kind == "named":
        return {name: shapes[name] for name in spec.names if name in shapes}, extras
    if spec.kind == "list":
        return [shapes[k] for k in sorted(k for k in shapes if isinstance(k, int))], extras
    return shapes.get(0), extras


def extra_shapes(spec: PortSpec, shapes: dict[Any, Shape | None]) -> Extras:
    """The shapes of the extra tensors a call is given: an argument that takes a list is
    left out until all its tensors are connected (validation says which are missing)."""
    found = {slot: shapes[slot] for slot in spec.extras if slot in shapes}
    for slots in call_arguments(spec.extras).values():
        if not all(slot in found for slot in slots):
            for slot in slots:
                found.pop(slot, None)
    return found


def ask_keras(catalog: Catalog, layer: LayerSpec, arranged: Any,
              layer_object: Callable[[], Any], extras: Extras | None = None) -> Answer:
    """The output shapes of ``layer`` on the ``arranged`` input shapes, or Keras' message;
    ``layer_object`` gives the (cached, unbuilt) Keras layer to ask. A call given
    ``extras`` (a mask, initial states) is made on symbolic tensors: Keras checks those
    only in the call."""
    try:
        obj = layer_object()
        check_input_spec(obj, arranged, layer.name)
        if catalog.get(layer.class_name).category == MERGING:
            obj.build(arranged)  # merges validate their inputs only here (no weights)
        # The extra tensors (a mask, initial states) are checked by a call only.
        result = None if extras else _declared_output_shape(obj, arranged)
        if result is None:
            result = symbolic_call(make_layer(catalog, layer, first_shape(arranged)), arranged,
                                   extras)
        return tuple(as_shapes(result)), None
    except Exception as exc:  # Keras reports bad shapes with many exception types
        return None, keras_message(exc)


def build_layer(catalog: Catalog, layer: LayerSpec, arranged: Any,
                outputs: tuple[Shape, ...] | None = None, built: Any = None,
                extras: Extras | None = None) -> Built:
    """Build a fresh layer on the input shapes, as Keras does when the model is built.
    Given the layer's ``outputs`` shapes, a layer whose weights would clearly not fit in
    memory is refused first, in microseconds, rather than after seconds of allocating.
    ``built``: a Keras object already built with its weights for these shapes (an
    application), called instead of making another (seconds for a large one)."""
    too_large = size_error(layer, arranged, outputs)
    if too_large is not None:
        return Built(None, too_large)
    try:
        obj = built if built is not None else make_layer(catalog, layer, first_shape(arranged))
        symbolic_call(obj, arranged, extras)
        return Built(int(obj.count_params()))
    except Exception as exc:  # Keras refuses weights and calls with many exception types
        return Built(None, keras_message(exc))


def size_error(layer: LayerSpec, arranged: Any, outputs: tuple[Shape, ...] | None) -> str | None:
    """Why the layer's weights would be too many to build, or None. A lower bound of the
    weight count: input features x output features (a Dense kernel, a convolution's 1x1
    kernel), or any integer parameter x output features (an Embedding table)."""
    out = _last_dim(outputs[0]) if outputs else 1
    sizes = [_last_dim(first_shape(arranged))]
    sizes += [v for k, v in layer.params.items() if type(v) is int and v != out
              and "seed" not in k]
    weights = max(sizes, default=1) * out
    if weights <= MAX_WEIGHTS:
        return None
    return (f"expected at most {MAX_WEIGHTS:,} weights in one layer (about 2 GB); received "
            f"sizes that make at least {weights:,}: use smaller sizes")


def _last_dim(shape: Any) -> int:
    if not isinstance(shape, tuple) or not shape or not isinstance(shape[-1], int):
        return 1
    return max(shape[-1], 1)


def first_shape(arranged: Any) -> Shape | None:
    if isinstance(arranged, dict):
        return next(iter(arranged.values()), None)
    if isinstance(arranged, list):
        return arranged[0] if arranged else None
    return arranged


def _declared_output_shape(obj: Any, arranged: Any) -> Any:
    """The layer's ``compute_output_shape``, or None where it has none that works here."""
    try:
        return compute_output_shape(obj, arranged)
    except (NotImplementedError, AttributeError, TypeError, KeyError):
        return None


def compute_output_shape(obj: Any, arranged: Any) -> Any:
    if isinstance(arranged, dict):
        return obj.compute_output_shape(**{f"{k}_shape": v for k, v in arranged.items()})
    return obj.compute_output_shape(arranged)


def symbolic_call(obj: Any, arranged: Any, extras: Extras | None = None) -> Any:
    keywords = extra_tensors(extras or {})
    if isinstance(arranged, dict):
        out = obj(**{k: symbolic(v) for k, v in arranged.items()}, **keywords)
    elif isinstance(arranged, list):
        out = obj([symbolic(s) for s in arranged], **keywords)
    else:
        out = obj(symbolic(arranged), **keywords)
    if INITIAL_STATE in keywords:
        check_states(obj, [tuple(t.shape) for t in keywords[INITIAL_STATE]])
    if MASK in keywords and hasattr(obj, "get_initial_state"):
        check_sequence_mask(first_shape(arranged), tuple(keywords[MASK].shape))
    keras = keras_module()
    return keras.tree.map_structure(lambda t: tuple(t.shape), out)


def extra_tensors(extras: Extras) -> dict[str, Any]:
    """Symbolic tensors for a call's extra arguments, by keyword: a mask is boolean, and an
    argument that takes a list gets its tensors in port order."""
    keywords: dict[str, Any] = {}
    for slot, shape in extras.items():
        name, index = argument_of(slot)
        tensor = symbolic(shape or (), "bool" if name.endswith("mask") else "float32")
        if index is None:
            keywords[name] = tensor
        else:
            keywords.setdefault(name, []).append(tensor)
    return keywords


def check_states(obj: Any, given: list[Shape]) -> None:
    """Keras checks the shapes of initial states only when the model runs: check them
    against the states the built layer starts from."""
    try:
        expected = expected_states(obj)
    except Exception:  # a layer that cannot say: Keras will, when it runs
        return
    if len(given) != len(expected):
        raise ValueError(f"expected {len(expected)} initial state(s) for this layer; received "
                         f"{len(given)}")
    for index, (got, want) in enumerate(zip(given, expected, strict=True)):
        if tuple(got[1:]) != want:
            raise ValueError(f"expected initial_state[{index}] of shape "
                             f"{format_shape((None, *want))}; received {format_shape(got)}")


def expected_states(obj: Any) -> list[Shape]:
    """The shapes (batch axis left out) of the states a recurrent layer starts from, flat:
    a Bidirectional's forward layer's then its backward layer's (``Bidirectional.call``
    splits the list in halves), a StackedRNNCells' cell by cell."""
    keras = keras_module()
    parts = [obj.forward_layer, obj.backward_layer] if hasattr(obj, "forward_layer") else [obj]
    return [tuple(t.shape[1:]) for part in parts
            for t in keras.tree.flatten(part.get_initial_state(1))]


def check_sequence_mask(sequence: Shape | None, mask: Shape) -> None:
    """A recurrent layer's mask is (batch, timesteps); Keras checks it only when the model
    runs."""
    if sequence is None:
        return
    want = tuple(sequence[:2])
    if len(mask) != 2 or not all(m is None or s is None or m == s for m, s in zip(mask, want,
                                                                                 strict=True)):
        raise ValueError(f"expected a mask of shape {format_shape(want)} (batch, timesteps); "
                         f"received {format_shape(mask)}")


def check_input_spec(obj: Any, arranged: Any, name: str) -> None:
    """Keras checks ranks in ``__call__``, not in ``compute_output_shape``: check them here."""
    specs = obj.input_spec
    if specs is None or isinstance(arranged, dict):
        return
    shapes = arranged if isinstance(arranged, list) else [arranged]
    specs = specs if isinstance(specs, list | tuple) else [specs] * len(shapes)
    for index, (spec, shape) in enumerate(zip(specs, shapes, strict=False)):
        if spec is None or shape is None:
            continue
        rank = len(shape)
        for attr, ok in (("ndim", int.__eq__), ("min_ndim", int.__ge__), ("max_ndim", int.__le__)):
            wanted = getattr(spec, attr, None)
            if wanted is not None and not ok(rank, wanted):
                raise ValueError(
                    f'Input {index} of layer "{name}" is incompatible with the layer: '
                    f"expected {attr}={wanted}, found ndim={rank}. "
                    f"Full shape received: {format_shape(shape, 'unknown')}"
                )


def keras_message(exc: BaseException) -> str:
    """Keras' message without the stack noise, at most a few hundred characters."""
    text = str(exc).strip() or type(exc).__name__
    text = re.sub(r"\n\s*Arguments received by .*", "", text, flags=re.S)
    text = re.sub(r"^Exception encountered when calling [^\n]*\n+", "", text)
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return text[:400]
