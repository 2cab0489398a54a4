"""The tensors a layer's ``call`` takes besides its inputs, asked of Keras.

A layer's ``call`` signature names its extra tensor arguments: every argument after the
inputs whose default is None (``mask``, ``initial_state``, ``attention_mask``...), except
``training``, which is a per-call setting rather than a tensor. Each becomes an optional
input port of the node. An argument that takes a list of tensors gets one port per item:
how many states a recurrent layer takes is asked of the layer itself
(``get_initial_state``); where Keras cannot tell, ``hints.ARGUMENT_TENSORS`` says, and a
layer whose states depend on another layer it wraps (Bidirectional) gets no state ports.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

from ..schema.records import PortSpec
from .hints import ARGUMENT_TENSORS

TRAINING = "training"
INITIAL_STATE = "initial_state"
MASK = "mask"


def with_call_ports(cls: type, ports: PortSpec, built: Any) -> PortSpec:
    """``ports`` with the extra tensor arguments of ``cls.call`` as optional ports, and
    whether its call takes ``training``. ``built``: the layer built on its probe input
    (asked how many states it takes), or None."""
    if ports.kind == "none":
        return ports
    parameters = _call_parameters(cls)
    if parameters is None:
        return ports
    extras: list[str] = []
    for param in parameters[_input_count(ports):]:
        if param.name == TRAINING or param.name in ports.names or param.default is not None:
            continue
        count = _tensor_count(cls, param.name, built)
        if count is None:
            extras.append(param.name)
        else:
            extras += [f"{param.name}[{i}]" for i in range(count)]  # none if Keras cannot say
    takes_training = any(p.name == TRAINING for p in parameters)
    return replace(ports, extras=tuple(extras), training=takes_training)


def _call_parameters(cls: type) -> list[inspect.Parameter] | None:
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    try:
        signature = inspect.signature(cls.call)  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return None
    params = [p for p in signature.parameters.values() if p.name != "self"]
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        return None  # call(*args): nothing to read
    return [p for p in params if p.kind in kinds]


def _input_count(ports: PortSpec) -> int:
    """How many leading call parameters are the node's main inputs."""
    return 1 if ports.kind != "named" else 0


def _tensor_count(cls: type, argument: str, built: Any) -> int | None:
    """How many tensors a list argument takes, or None for one tensor (not a list)."""
    hinted = ARGUMENT_TENSORS.get((cls.__name__, argument))
    if hinted is not None:
        return hinted
    if argument != INITIAL_STATE:
        return None
    try:
        return len(built.get_initial_state(1))
    except Exception:  # a wrapper (Bidirectional): its states depend on the layer it wraps
        return 0
