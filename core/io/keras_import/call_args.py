"""The extra tensors of a recorded call (``initial_state``, ``mask``...) -> a node's ports,
and the masks Keras made itself, which the rebuilt model makes again.

Keras records a mask it propagated (from ``Embedding(mask_zero=True)`` or ``Masking``) as
an explicit ``mask=`` argument computed by raw ops (``not_equal``, ``any``) on the masking
layer's input. The generated code lets Keras propagate it again, so such a mask is not
wired, and the ops that compute only such masks are left out of the document. Any other
mask is a tensor like another: it is wired into the node's ``mask`` port.
"""

from __future__ import annotations

from typing import Any

from ...catalog.call_ports import MASK
from ...schema.errors import UnsupportedOperationError
from ...schema.records import PortSpec, Slot, argument_of
from .ops import TensorRef, as_call, is_raw_op, tensor_ref, tensors_in


def record_name(record: dict[str, Any]) -> str:
    return str(record["config"].get("name", record.get("name")))


class AutomaticMasks:
    """The masks of one functional config that Keras propagated by itself."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = {record_name(r): r for r in records}
        # The tensors masking layers (Embedding(mask_zero=True), Masking) take -> their names.
        self.sources: dict[TensorRef, set[str]] = {}
        for record in records:
            if _makes_mask(record):
                for ref in _inputs_of(record):
                    self.sources.setdefault(ref, set()).add(record_name(record))
        calls = [(record_name(r), as_call(node)) for r in records
                 for node in r.get("inbound_nodes", [])]
        automatic = {id(call) for _, call in calls
                     if self.is_automatic(call["kwargs"].get(MASK), call["args"])}
        traversed = {op for _, call in calls if id(call) in automatic
                     for op in self._ops_behind(call["kwargs"][MASK])}
        used: set[str] = set()
        for name, call in calls:
            if name in traversed:
                continue
            wired = {k: v for k, v in call["kwargs"].items()
                     if not (k == MASK and id(call) in automatic)}
            used |= {ref[0] for ref in tensors_in([call["args"], wired])}
        # An op that also feeds something else stays (and is imported as any op is).
        self.skipped = traversed - used

    def is_automatic(self, value: Any, args: Any) -> bool:
        """Whether a ``mask=`` value is what Keras propagates to a call of these ``args``:
        computed by ops from the input of a masking layer upstream of them only."""
        ref = tensor_ref(value)
        if ref is None or not self._is_op(ref[0]):
            return False
        leaves = self._leaves(ref, set())
        if not leaves or not all(leaf in self.sources for leaf in leaves):
            return False
        maskers = {name for leaf in leaves for name in self.sources[leaf]}
        return bool(maskers & self._upstream(args))

    def _upstream(self, value: Any) -> set[str]:
        """The names of the layers and ops the tensors in ``value`` come from, at any depth."""
        seen: set[str] = set()
        pending = [ref[0] for ref in tensors_in(value)]
        while pending:
            name = pending.pop()
            if name in seen or name not in self.records:
                continue
            seen.add(name)
            for node in self.records[name].get("inbound_nodes", []):
                call = as_call(node)
                pending += [ref[0] for ref in tensors_in([call["args"], call["kwargs"]])]
        return seen

    def _is_op(self, name: str) -> bool:
        record = self.records.get(name)
        return record is not None and is_raw_op(record)

    def _op_inputs(self, ref: TensorRef) -> list[TensorRef]:
        nodes = self.records[ref[0]].get("inbound_nodes", [])
        if ref[1] >= len(nodes):
            return []
        return list(tensors_in(as_call(nodes[ref[1]])["args"]))

    def _leaves(self, ref: TensorRef, seen: set[str]) -> set[TensorRef]:
        if not self._is_op(ref[0]):
            return {ref}
        if ref[0] in seen:
            return set()
        seen.add(ref[0])
        found: set[TensorRef] = set()
        for source in self._op_inputs(ref):
            found |= self._leaves(source, seen)
        return found

    def _ops_behind(self, value: Any) -> set[str]:
        found: set[str] = set()
        pending = list(tensors_in(value))
        while pending:
            ref = pending.pop()
            if self._is_op(ref[0]) and ref[0] not in found:
                found.add(ref[0])
                pending += self._op_inputs(ref)
        return found


def _makes_mask(record: dict[str, Any]) -> bool:
    config = record.get("config", {})
    return record.get("class_name") == "Masking" or \
        (isinstance(config, dict) and config.get("mask_zero") is True)


def _inputs_of(record: dict[str, Any]) -> list[TensorRef]:
    return [ref for node in record.get("inbound_nodes", [])
            for ref in tensors_in(as_call(node)["args"][:1])]


def extra_slots(spec: PortSpec, arguments: dict[str, Any], layer_name: str
                ) -> list[tuple[Slot, Any]]:
    """(port, serialized tensor) for each extra tensor argument of a call: ``mask`` goes to
    the ``mask`` port, ``initial_state=[h, c]`` to ``initial_state[0]`` and ``[1]``."""
    pairs: list[tuple[Slot, Any]] = []
    for argument, value in arguments.items():
        ports = [slot for slot in spec.extras if argument_of(slot)[0] == argument]
        if not ports:
            wired = sorted({argument_of(s)[0] for s in spec.extras})
            raise UnsupportedOperationError(
                f"layer '{layer_name}' receives a tensor as '{argument}', which its call does "
                f"not take as a tensor (it takes {', '.join(wired) or 'no extra tensors'})")
        if argument_of(ports[0])[1] is None:
            pairs.append((ports[0], _single(value)))
            continue
        tensors = _flat(value)  # StackedRNNCells' states come nested per cell
        if len(tensors) != len(ports):
            raise UnsupportedOperationError(
                f"layer '{layer_name}': expected {len(ports)} tensor(s) as '{argument}'; "
                f"received {len(tensors)}")
        pairs += list(zip(ports, tensors, strict=True))
    return pairs


def _flat(value: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        return [value]
    return [tensor for item in value for tensor in _flat(item)]


def _single(value: Any) -> Any:
    if isinstance(value, list | tuple) and len(value) == 1:
        return value[0]
    return value
