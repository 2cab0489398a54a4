"""What a model costs to run: FLOPs per sample per layer call, parameters and the memory of
the weights, from the live pass's shapes (no model is built, so the window shows them as
the user edits).

FLOPs follow :data:`flops.CONVENTION` (one multiply-add = 2 FLOPs; bias adds and
activations counted; inference only); the per-class rules live in ``flops.py``. A layer
whose FLOPs cannot be counted (a class without a rule, an open sequence length, shapes the
live pass does not know) is *unknown*, never 0: a total over unknown layers is a lower bound
and says how many layers it leaves out ("≥ 1.2 MFLOPs (2 layers unknown)"). A block (a
nested model or Sequential block) costs the sum of its inner layers, from its own live
pass.

Weights memory is each layer's parameters times the size of its variables' dtype. The
project builds every layer without a dtype, so that is float32, 4 bytes; the project's
mixed-precision switch (the ``mixed_float16`` policy) computes in float16 but keeps float32
variables, so it stays 4. A layer record that names a dtype (float16/bfloat16: 2, float64:
8; a ``mixed_*`` policy: 4) is counted at that size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..schema.records import CallNode
from .flops import CONVENTION, layer_flops
from .keras_calls import arrange
from .shapes import ShapeEngine

__all__ = ["CONVENTION", "Cost", "dtype_bytes", "format_bytes", "format_flops", "layer_costs",
           "model_cost", "node_costs", "weights_bytes"]

DTYPE_BYTES = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int8": 1,
               "uint8": 1, "int16": 2, "int32": 4, "int64": 8}


@dataclass(frozen=True)
class Cost:
    """FLOPs per sample counted, and the names of the layers left uncounted (unknown)."""

    flops: int = 0
    unknown: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return not self.unknown

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.flops + other.flops, self.unknown + other.unknown)

    def text(self) -> str:
        """'3.2 MFLOPs', '≥ 3.2 MFLOPs (2 layers unknown)', or 'unknown'."""
        if self.known:
            return format_flops(self.flops)
        count = len(set(self.unknown))
        if self.flops == 0:
            return "unknown"
        plural = "layer" if count == 1 else "layers"
        return f"≥ {format_flops(self.flops)} ({count} {plural} unknown)"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"flops": self.flops if self.known or self.flops else None}
        if self.unknown:
            data["flops_unknown"] = sorted(set(self.unknown))
        return data


def node_costs(engine: ShapeEngine) -> dict[str, Cost]:
    """Cost of each call node of ``engine``'s graph whose layer is in the model (a block's
    call: the sum of its inner layers)."""
    graph = engine.graph
    in_model = set(engine.layers_in_model())
    costs: dict[str, Cost] = {}
    for node_id, node in graph.nodes.items():
        if isinstance(node, CallNode) and node.layer_id in in_model:
            costs[node_id] = _call_cost(engine, node)
    return costs


def layer_costs(engine: ShapeEngine) -> dict[str, Cost]:
    """Cost of each layer in the model, summed over its calls (a shared layer runs each)."""
    totals: dict[str, Cost] = {}
    graph = engine.graph
    for node_id, cost in node_costs(engine).items():
        node = graph.nodes[node_id]
        assert isinstance(node, CallNode)
        totals[node.layer_id] = totals.get(node.layer_id, Cost()) + cost
    return totals


def model_cost(engine: ShapeEngine) -> Cost:
    """FLOPs per sample of the whole model (a lower bound while some layers are unknown)."""
    total = Cost()
    for cost in node_costs(engine).values():
        total = total + cost
    return total


def _call_cost(engine: ShapeEngine, node: CallNode) -> Cost:
    engine.refresh()
    graph = engine.graph
    layer = graph.layer(node.layer_id)
    result = engine.results.get(node.id)
    if layer.block_id is not None:
        inner = engine.block_engine(layer.block_id)
        if result is None or result.outputs is None:
            return Cost(0, (layer.name,))
        return model_cost(inner)
    if result is None or result.outputs is None:
        return Cost(0, (layer.name,))
    shapes = {e.dst_slot: engine.edge_shape(e) for e in graph.in_edges(node.id)}
    arranged, _extras = arrange(engine.doc.port_spec_of(layer), shapes)
    entry = engine.doc.catalog.get(layer.class_name)

    def get(name: str) -> Any:
        if name in layer.params:
            return layer.params[name]
        return entry.param(name).default if entry.has_param(name) else None

    flops = layer_flops(layer.class_name, get, arranged, result.outputs)
    return Cost(0, (layer.name,)) if flops is None else Cost(flops)


# ------------------------------------------------------------------ weights
def dtype_bytes(dtype: Any) -> int:
    """Bytes per weight of a layer's ``dtype`` setting: a dtype name or a policy (its
    variables' dtype: a mixed policy keeps float32 variables). None: float32."""
    if isinstance(dtype, dict):  # a serialized DTypePolicy
        dtype = (dtype.get("config") or {}).get("name")
    name = str(dtype or "float32")
    if name.startswith("mixed_"):
        return 4
    return DTYPE_BYTES.get(name, 4)


def weights_bytes(engine: ShapeEngine, build: bool = True) -> int | None:
    """Memory of the model's weights; None while a layer's parameter count is unknown."""
    total = 0
    for layer_id in engine.layers_in_model():
        layer = engine.graph.layer(layer_id)
        if layer.block_id is not None:
            inner = weights_bytes(engine.block_engine(layer.block_id), build)
            if inner is None:
                return None
            total += inner
            continue
        count = engine.layer_params(layer_id, build)
        if count is None:
            return None
        total += count * dtype_bytes(layer.params.get("dtype"))
    return total


# ------------------------------------------------------------------ text
def format_flops(flops: float) -> str:
    """'950 FLOPs', '3.2 MFLOPs', '1.25 GFLOPs' (SI prefixes, 3 significant digits)."""
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if flops >= scale:
            return f"{flops / scale:.3g} {prefix}FLOPs"
    return f"{flops:.0f} FLOPs"


def format_bytes(count: float) -> str:
    """'512 B', '1.5 KiB', '13.6 MiB' (binary prefixes, as file sizes are shown)."""
    for prefix, scale in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if count >= scale:
            return f"{count / scale:.3g} {prefix}iB"
    return f"{count:.0f} B"
