"""Plain records of the graph document: layers, nodes, edges, ports.

A *layer* is an instance (class name + constructor parameters); a *call node*
is one application of a layer to tensors. One layer called at two places is
one instance with two call nodes: weight sharing (book 7.1.5).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

Shape = tuple[int | None, ...]
Slot = int | str
Position = tuple[float, float]

MAIN = "main"  # the key of the main graph (a block's graph has the block's id)
BLOCK_CLASS = "Block"
DTYPES = ("float32", "float16", "bfloat16", "float64", "int32", "int64", "int16", "int8",
          "uint8", "bool", "string")


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class LayerSpec:
    """A layer instance. ``params`` holds only values that differ from the defaults."""

    id: str
    class_name: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    block_id: str | None = None
    trainable: bool = True  # False: frozen, its weights do not change in training

    @property
    def is_block(self) -> bool:
        return self.block_id is not None


@dataclass
class InputNode:
    id: str
    name: str
    shape: Shape
    dtype: str = "float32"
    position: Position = (0.0, 0.0)
    kind: ClassVar[str] = "input"


@dataclass
class CallNode:
    id: str
    layer_id: str
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    position: Position = (0.0, 0.0)
    kind: ClassVar[str] = "call"


@dataclass
class OutputNode:
    id: str
    name: str
    loss: str | None = None
    loss_weight: float = 1.0
    metrics: list[str] = field(default_factory=list)
    position: Position = (0.0, 0.0)
    kind: ClassVar[str] = "output"


Node = InputNode | CallNode | OutputNode


@dataclass(frozen=True)
class Edge:
    """A tensor: output ``src_index`` of ``src`` feeds input ``dst_slot`` of ``dst``."""

    id: str
    src: str
    src_index: int
    dst: str
    dst_slot: Slot


@dataclass(frozen=True)
class PortSpec:
    """How a node takes its input tensors.

    ``single``: one tensor in slot 0. ``list``: a list of tensors in integer
    slots (merge layers). ``named``: tensors passed by keyword (MultiHeadAttention's
    query/value/key). ``extras``: optional tensors the layer's ``call`` takes besides
    (``mask``, ``attention_mask``), one port per tensor: an argument that takes a list
    has one port per item, ``initial_state[0]``, ``initial_state[1]`` (all or none).
    ``training``: the call takes a ``training`` argument (a per-call setting).
    """

    kind: Literal["none", "single", "list", "named"]
    min: int = 1
    max: int | None = 1
    names: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()
    training: bool = False

    def slot_error(self, slot: Slot) -> str | None:
        """Why ``slot`` is not a port of this spec, or None if it is."""
        if self.kind == "none":
            return "this node takes no input"
        if isinstance(slot, str) and slot in self.extras:
            return None
        if self.kind == "named":
            if slot in self.names:
                return None
            return f"expected one of the inputs {', '.join(self.names + self.extras)}; " \
                f"received {slot!r}"
        if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
            also = f" or one of {', '.join(self.extras)}" if self.extras else ""
            return f"expected an input index 0, 1, ...{also}; received {slot!r}"
        if self.max is not None and slot >= self.max:
            most = "one input" if self.max == 1 else f"at most {self.max} inputs"
            return f"expected {most}; received input index {slot}"
        return None

    def missing(self, connected: set[Slot]) -> list[str]:
        """Descriptions of the inputs that must still be connected."""
        main = {s for s in connected if s not in self.extras}
        if self.kind == "named":
            found = [name for name in self.required if name not in main]
        elif self.kind in ("single", "list") and len(main) < self.min:
            need = self.min - len(main)
            found = [f"{need} more input{'s' if need > 1 else ''} (needs {self.min})"]
        else:
            found = []
        return found + self._incomplete_arguments(connected)

    def _incomplete_arguments(self, connected: set[Slot]) -> list[str]:
        """An argument that takes a list (initial_state) takes all its tensors or none."""
        found = []
        for argument, slots in call_arguments(self.extras).items():
            given = [s for s in slots if s in connected]
            if given and len(given) < len(slots):
                absent = [s for s in slots if s not in connected]
                found.append(f"{', '.join(absent)} ({argument} takes {len(slots)} tensors, "
                             f"{len(given)} connected)")
        return found


def argument_of(slot: str) -> tuple[str, int | None]:
    """The call argument of an extra port and its index in the list it takes:
    ``initial_state[1]`` -> ("initial_state", 1), ``mask`` -> ("mask", None)."""
    name, bracket, rest = slot.partition("[")
    if bracket and rest.endswith("]") and rest[:-1].isdigit():
        return name, int(rest[:-1])
    return slot, None


def call_arguments(extras: Sequence[str]) -> dict[str, list[str]]:
    """The call arguments of extra ports that take a list: argument -> its ports in order."""
    grouped: dict[str, list[str]] = {}
    for slot in extras:
        argument, index = argument_of(slot)
        if index is not None:
            grouped.setdefault(argument, []).append(slot)
    return grouped


NO_INPUT = PortSpec("none", 0, 0)
ONE_INPUT = PortSpec("single")


def format_shape(shape: Sequence[int | None] | None, unknown: str = "?") -> str:
    """A shape as Keras prints it: (None, 32) and (10,) for one dimension."""
    if shape is None:
        return unknown
    dims = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({dims},)" if len(shape) == 1 else f"({dims})"


def shape_fits(got: Shape | None, want: Shape) -> bool:
    """Whether a tensor of shape ``got`` fits where ``want`` is declared (None: any size)."""
    if got is None or len(got) != len(want):
        return False
    return all(w is None or g == w for g, w in zip(got, want, strict=True))
