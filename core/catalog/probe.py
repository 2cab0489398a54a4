"""Probing a layer class: build it with its starting values on the first symbolic input that
works. The input found is the entry's example (the catalog tests build every layer on it);
a class that builds on none is left out of the catalog with Keras' reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .entry import LayerEntry
from .hints import CLASS_PROBE_INPUTS, PROBE_INPUTS, VOCABULARY_LAYERS


@dataclass(frozen=True)
class Probe:
    example: dict[str, Any] | None
    keras_name: str = ""
    problem: str = ""
    layer: Any = None  # the layer built on the example (asked for its call's extra ports)


def probe_layer(keras: Any, cls: type, entry: LayerEntry) -> Probe:
    """Build the layer with its initial params on the first symbolic input that works."""
    kwargs = {k: entry.param(k).to_keras(v) for k, v in entry.initial_params().items()}
    problem = "no input shape fits"
    for candidate in probe_candidates(entry):
        try:
            layer = cls(**kwargs)
            args = symbolic_args(keras, candidate)
            if entry.ports.kind == "named":
                layer(**args)
            else:
                layer(args if entry.ports.kind == "list" else args[0])
            # Keras' own default name, without the counter it adds to repeats
            return Probe(candidate, re.sub(r"_\d+$", "", layer.name), layer=layer)
        except Exception as exc:  # any failure just means: try the next shape
            problem = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return Probe(None, problem=problem)


def probe_candidates(entry: LayerEntry) -> list[dict[str, Any]]:
    """The symbolic inputs to try, in order: a class's own (strings for a vocabulary, two
    integer features for HashedCrossing, audio for STFTSpectrogram), else the generic ones."""
    own = CLASS_PROBE_INPUTS.get(entry.class_name) or VOCABULARY_LAYERS.get(entry.class_name)
    if own is not None:
        return [own]
    if entry.ports.kind == "named":
        return [{"inputs": {"query": [None, 4, 8], "value": [None, 5, 8]}, "dtype": "float32"}]
    if entry.ports.kind == "list":
        return [{"inputs": [s[0]] * entry.ports.min, "dtype": "float32"} for s in PROBE_INPUTS]
    dtypes = ["int32", "float32"] if "Embedding" in entry.class_name else ["float32", "int32"]
    return [{"inputs": s, "dtype": d} for d in dtypes for s in PROBE_INPUTS]


def symbolic_args(keras: Any, example: dict[str, Any]) -> Any:
    """The example's inputs as symbolic tensors: a dict by keyword, else a list."""
    dtype = example["dtype"]
    inputs = example["inputs"]
    if isinstance(inputs, dict):
        return {k: keras.KerasTensor(tuple(v), dtype=dtype) for k, v in inputs.items()}
    return [keras.KerasTensor(tuple(s), dtype=dtype) for s in inputs]
