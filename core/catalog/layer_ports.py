"""The ports of one layer as it is configured, not of its class.

How many states a recurrent layer takes (its ``initial_state[0]``... ports) and how many
tensors it returns follow the layer it wraps or the cell it runs: ``RNN(GRUCell)`` takes 1
state, ``RNN(LSTMCell)`` 2, ``RNN(StackedRNNCells([LSTMCell, GRUCell]))`` 3, and
``Bidirectional(LSTM)`` 4 (its forward LSTM's h and c, then its backward one's:
``Bidirectional.call`` gives the first half of the list to the forward layer).

The counts are Keras' answers, read when the catalog was made: a recurrent layer's
``get_initial_state`` (its entry's ``initial_state[i]`` ports, ``call_ports.py``) and a
cell's ``state_size`` (its entry's ``states[i]`` ports, ``wrappers.py``). Here they only
add up along the nesting that a layer's record holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..schema.records import PortSpec, Slot, argument_of, call_arguments
from .call_ports import INITIAL_STATE
from .nested import entry_of
from .wrappers import MIRRORED, STATE_HOLDERS, STATES

BIDIRECTIONAL = "Bidirectional"
RETURN_STATE = "return_state"


def layer_ports(ports: PortSpec, class_name: str, params: Mapping[str, Any]) -> PortSpec:
    """``ports`` (the class's) with as many ``initial_state`` ports as this layer's states.
    ``initial_state`` comes first among the extras, as in ``RNN.call`` and
    ``Bidirectional.call``."""
    if class_name not in STATE_HOLDERS:
        return ports
    count = state_count(class_name, params)
    states = tuple(f"{INITIAL_STATE}[{i}]" for i in range(count))
    others = tuple(s for s in ports.extras if argument_of(s)[0] != INITIAL_STATE)
    if ports.extras == states + others:
        return ports
    return replace(ports, extras=states + others)


def state_count(class_name: str, params: Mapping[str, Any]) -> int:
    """How many state tensors a layer (or cell) of ``class_name`` with ``params`` takes."""
    holds = STATE_HOLDERS.get(class_name)
    if holds is None:
        entry = entry_of(class_name)
        if entry is None:
            return 0
        return sum(argument_of(s)[0] in (INITIAL_STATE, STATES) for s in entry.ports.extras)
    total = 0
    for name in holds:
        value = param_value(class_name, params, name)
        if value is None and (class_name, name) in MIRRORED:
            value = param_value(class_name, params, MIRRORED[class_name, name])
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("class_name"), str):
                total += state_count(item["class_name"], item.get("params") or {})
    return total


def state_groups(class_name: str, params: Mapping[str, Any]) -> list[int] | None:
    """How many states each cell of an ``RNN(StackedRNNCells(...))`` takes, in order: Keras
    gives each cell its own group of the ``initial_state`` list (a flat list passes a
    symbolic call but fails when the model runs). None for any other layer: a flat list."""
    if class_name != "RNN":
        return None
    held = param_value(class_name, params, "cell")
    if not isinstance(held, dict) or held.get("class_name") != "StackedRNNCells":
        return None
    cells = param_value("StackedRNNCells", held.get("params") or {}, "cells")
    return [state_count(c["class_name"], c.get("params") or {}) for c in cells or []
            if isinstance(c, dict) and isinstance(c.get("class_name"), str)]


def output_count(class_name: str, params: Mapping[str, Any],
                 call_kwargs: Mapping[str, Any] | None = None) -> int:
    """How many tensors a call of this layer returns: its output (two for a Bidirectional
    with ``merge_mode=None``: the forward and the backward one), the attention scores when
    the call asks for them, then its states when it returns them (``return_state``; a
    Bidirectional returns its forward layer's and its backward layer's when the layer it
    wraps does)."""
    main = 1
    owner, owner_params = class_name, params
    if class_name == BIDIRECTIONAL:
        if param_value(class_name, params, "merge_mode") is None:
            main = 2
        inner = param_value(class_name, params, "layer")
        if isinstance(inner, dict) and isinstance(inner.get("class_name"), str):
            owner, owner_params = inner["class_name"], inner.get("params") or {}
    if (call_kwargs or {}).get("return_attention_scores"):
        main += 1
    returns_state = bool(param_value(owner, owner_params, RETURN_STATE))
    return main + (state_count(class_name, params) if returns_state else 0)


def param_value(class_name: str, params: Mapping[str, Any], name: str) -> Any:
    """A parameter's value as the layer has it: set, or its class's default (None when the
    class has no such parameter)."""
    if name in params:
        return params[name]
    entry = entry_of(class_name)
    if entry is None or not entry.has_param(name):
        return None
    return entry.param(name).default


def lost_port_error(spec: PortSpec, slot: Slot) -> str | None:
    """Why a connection into ``slot`` no longer fits the layer (its ports changed since it
    was made: another cell, another wrapped layer), or None while it fits."""
    why = spec.slot_error(slot)
    if why is None or not isinstance(slot, str) or argument_of(slot)[0] != INITIAL_STATE:
        return why
    count = len(call_arguments(spec.extras).get(INITIAL_STATE, []))
    ports = f" ({', '.join(call_arguments(spec.extras)[INITIAL_STATE])})" if count else ""
    return (f"expected at most {count} initial state(s){ports}, as the layer is configured "
            f"now; received a connection into {slot}: remove it, or choose a layer or cell "
            "that takes more states")
