"""The extra tensors of a call as Python: ``mask=m``, ``initial_state=[h, c]``, and an
``RNN(StackedRNNCells(...))``'s states grouped per cell, ``initial_state=[[h, c], h2]``."""

from __future__ import annotations

from collections.abc import Callable

from ..catalog.call_ports import INITIAL_STATE
from ..catalog.layer_ports import state_groups
from ..schema.records import Edge, LayerSpec, PortSpec, argument_of, call_arguments
from .python import identifier


def extra_arguments(spec: PortSpec, edges: list[Edge], layer: LayerSpec,
                    tensor: Callable[[Edge], str]) -> list[str]:
    """The call's extra tensors by keyword, in the call's order (``tensor``: an edge's
    variable)."""
    by_slot = {e.dst_slot: tensor(e) for e in edges if e.dst_slot in spec.extras}
    values: dict[str, list[str]] = {}
    for slot in spec.extras:
        if slot in by_slot:
            values.setdefault(argument_of(slot)[0], []).append(by_slot[slot])
    listed = call_arguments(spec.extras)
    parts = []
    for name, tensors in values.items():
        if name not in listed:
            parts.append(f"{identifier(name)}={tensors[0]}")
            continue
        groups = state_groups(layer.class_name, layer.params) if name == INITIAL_STATE \
            else None
        parts.append(f"{identifier(name)}={_grouped(tensors, groups)}")
    return parts


def _grouped(tensors: list[str], groups: list[int] | None) -> str:
    """``[a, b, c]``, or with groups [2, 1] ``[[a, b], c]`` (a group of one stays bare, as
    Keras nests a one-state cell's state)."""
    if not groups or sum(groups) != len(tensors):
        return f"[{', '.join(tensors)}]"
    items, start = [], 0
    for size in groups:
        part = tensors[start:start + size]
        items.append(part[0] if size == 1 else f"[{', '.join(part)}]")
        start += size
    return f"[{', '.join(items)}]"
