"""Catalog entries for the layers that hold other layers (see ``nested.py`` for how a
project holds them): Bidirectional, TimeDistributed, SpectralNormalization, RNN and
Pipeline on the palette; the recurrent cells and StackedRNNCells only inside an RNN.

A wrapper's entry is introspected like any layer's; then the argument that takes a layer
becomes a parameter of kind ``"layer"`` (or ``"layers"``) whose choices are the catalog
classes that fit it, read from the installed Keras once every plain layer is known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from .entry import LayerEntry
from .nested import new_nested_layer, use_entries
from .params import ParamSpec


@dataclass(frozen=True)
class Holder:
    """A constructor argument that takes layers: its kind, which classes fit it (a family
    below) and what a new layer starts with (None: left out)."""

    kind: str
    family: str
    starts_with: tuple[str, ...] = ()


# The arguments that take layers, by class.
HOLDERS: dict[str, dict[str, Holder]] = {
    "Bidirectional": {"layer": Holder("layer", "recurrent", ("LSTM",)),
                      "backward_layer": Holder("layer", "recurrent")},
    "TimeDistributed": {"layer": Holder("layer", "single", ("Dense",))},
    "SpectralNormalization": {"layer": Holder("layer", "kernel", ("Dense",))},
    "RNN": {"cell": Holder("layer", "cell", ("LSTMCell",))},
    "Pipeline": {"layers": Holder("layers", "single", ("Rescaling",))},
    "StackedRNNCells": {"cells": Holder("layers", "cell", ("LSTMCell", "LSTMCell"))},
}
# Classes chosen only inside another layer: their call takes states, not a tensor alone.
NESTED_ONLY = ("LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells")
# The layers whose states are those of the layers they hold, added up in this order: a
# Bidirectional's forward layer then its backward one (a copy of the forward one when none
# is given, as Keras makes it: MIRRORED), an RNN's cell, StackedRNNCells' cells.
STATE_HOLDERS: dict[str, tuple[str, ...]] = {
    "Bidirectional": ("layer", "backward_layer"), "RNN": ("cell",),
    "StackedRNNCells": ("cells",)}
MIRRORED = {("Bidirectional", "backward_layer"): "layer"}
# A cell's call takes its states as ``states``: its entry has one ``states[i]`` port per
# state tensor Keras' ``state_size`` names, which is how many an RNN of it takes.
STATES = "states"
# Constructor arguments a wrapper's entry leaves out (Bidirectional's initial weights:
# weights come with the model, not with its definition).
DROPPED = {"Bidirectional": {"weights"}}
# Choices a wrapper's argument takes beyond the shared ones: Bidirectional(merge_mode=None)
# returns the forward and the backward outputs apart (two output ports).
MORE_CHOICES: dict[tuple[str, str], tuple[Any, ...]] = {("Bidirectional", "merge_mode"): (None,)}


def holds_layers(class_name: str) -> bool:
    """Whether the catalog makes this class's entry here, after every plain layer."""
    return class_name in HOLDERS or class_name in NESTED_ONLY


class Families:
    """Which catalog classes fit each family of nested-layer arguments."""

    def __init__(self, keras: Any, plain: Iterable[LayerEntry]) -> None:
        placeable = [e for e in plain if not e.is_application and e.class_name != "Lambda"]
        rnn_layers = [e.class_name for e in placeable
                      if issubclass(getattr(keras.layers, e.class_name), keras.layers.RNN)]
        self.recurrent = (*rnn_layers, "RNN")
        # Wrappers nest too: TimeDistributed(Bidirectional(GRU(8))) reads a sequence per step.
        self.single = (*(e.class_name for e in placeable if e.ports.kind == "single"),
                       *(name for name in HOLDERS if name not in NESTED_ONLY))
        self.kernel = tuple(e.class_name for e in placeable if _has_kernel(keras, e))
        self.cell = NESTED_ONLY

    def choices(self, holder: Holder) -> tuple[Any, ...]:
        names: tuple[Any, ...] = getattr(self, holder.family)
        return names if holder.starts_with else (None, *names)


def nested_spec(spec: ParamSpec, holder: Holder, families: Families) -> ParamSpec:
    """The argument ``spec`` as a nested-layer parameter."""
    starts = [new_nested_layer(name) for name in holder.starts_with]
    default: Any = (starts or None) if holder.kind == "layers" else \
        (starts[0] if starts else None)
    return ParamSpec(spec.name, holder.kind, default, bool(starts),
                     families.choices(holder))


def with_nested_params(entry: LayerEntry, families: Families) -> LayerEntry:
    """``entry`` with its layer-taking arguments as nested-layer parameters."""
    holders = HOLDERS.get(entry.class_name, {})
    dropped = DROPPED.get(entry.class_name, set())
    params = tuple(nested_spec(p, holders[p.name], families) if p.name in holders else
                   _with_more_choices(entry.class_name, p)
                   for p in entry.params if p.name not in dropped)
    return replace(entry, params=params)


def _with_more_choices(class_name: str, spec: ParamSpec) -> ParamSpec:
    more = MORE_CHOICES.get((class_name, spec.name), ())
    return replace(spec, choices=(*spec.choices, *more)) if more and spec.choices else spec


def nesting_entries(keras: Any, held: list[type], plain: list[LayerEntry],
                    introspect: Callable[[type], LayerEntry],
                    probed: Callable[[type, LayerEntry], LayerEntry | None]
                    ) -> tuple[list[LayerEntry], list[LayerEntry]]:
    """The entries of the ``held`` classes, made once every plain layer is known: those on
    the palette (probed like any layer) and those chosen only inside another layer."""
    families = Families(keras, plain)
    table = {e.class_name: e for e in plain}
    nested: dict[str, LayerEntry] = {}
    by_name = {cls.__name__: cls for cls in held}
    # Cells first: StackedRNNCells starts with two of them.
    for name in [n for n in NESTED_ONLY if n in by_name]:
        use_entries(table, nested)
        entry = with_nested_params(introspect(by_name[name]), families)
        nested[name] = entry if name in STATE_HOLDERS else with_state_ports(keras, entry)
    palette = []
    for name in [n for n in by_name if n not in NESTED_ONLY]:
        use_entries(table, nested)
        entry = probed(by_name[name], with_nested_params(introspect(by_name[name]), families))
        if entry is not None:
            palette.append(entry)
            table[name] = entry
    return palette, list(nested.values())


def _has_kernel(keras: Any, entry: LayerEntry) -> bool:
    """SpectralNormalization normalizes a layer's ``kernel`` (or ``embeddings``): the layer,
    built on its example, must have one."""
    if not any(entry.has_param(name) for name in ("kernel_initializer",
                                                  "embeddings_initializer")):
        return False
    try:
        kwargs = {k: entry.param(k).to_keras(v) for k, v in entry.initial_params().items()}
        layer = getattr(keras.layers, entry.class_name)(**kwargs)
        example = entry.example
        tensors = [keras.KerasTensor(tuple(s), dtype=example["dtype"])
                   for s in example["inputs"]]
        layer(tensors[0])
    except Exception:  # a layer that does not build alone is no choice here
        return False
    return hasattr(layer, "kernel") or hasattr(layer, "embeddings")


def with_state_ports(keras: Any, cell: LayerEntry) -> LayerEntry:
    """A recurrent cell's entry with a ``states[i]`` port per state tensor, as its
    ``state_size`` says (LSTMCell: h and c; GRUCell and SimpleRNNCell: one)."""
    try:
        kwargs = {k: cell.param(k).to_keras(v) for k, v in cell.initial_params().items()}
        made = getattr(keras.layers, cell.class_name)(**kwargs)
        count = len(keras.tree.flatten(made.state_size))
    except Exception:  # a cell Keras cannot make alone: an RNN of it offers no state ports
        return cell
    ports = tuple(f"{STATES}[{i}]" for i in range(count))
    return replace(cell, ports=replace(cell.ports, extras=ports))
