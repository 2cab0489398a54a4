"""One-click fixes offered with a shape error: wrong rank, residual shape mismatch."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..document.graph import Graph
from ..schema.diagnostics import Fix
from ..schema.records import CallNode, Edge, Shape

EdgeShape = Callable[[Edge], Shape | None]


_NDIM = re.compile(r"expected (?:min_)?ndim=(\d+), found ndim=(\d+)")


def suggest_fix(graph: Graph, node: CallNode, edges: list[Edge], message: str,
                edge_shape: EdgeShape) -> Fix | None:
    """A one-click fix for the common mistakes: wrong rank, residual shape mismatch."""
    match = _NDIM.search(message)
    if match and edges:
        expected, found = int(match.group(1)), int(match.group(2))
        if found > expected and expected == 2:
            return Fix("insert Flatten", "Flatten", {}, edges[0].id)
        if found < expected:
            return Fix("insert Reshape to add an axis", "Reshape", {"target_shape": [-1, 1]},
                       edges[0].id)
    layer = graph.layer(node.layer_id)
    if layer.class_name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        return _projection_fix(edges, edge_shape)
    return None


def _projection_fix(edges: list[Edge], edge_shape: EdgeShape) -> Fix | None:
    shapes = [(e, edge_shape(e)) for e in sorted(edges, key=lambda e: int(e.dst_slot))]
    if len(shapes) < 2 or any(s is None or len(s) != 4 for _, s in shapes):
        return None
    target = shapes[0][1]
    for edge, shape in shapes[1:]:
        if shape == target or target is None or shape is None:
            continue
        strides = 1
        if shape[1] and target[1] and shape[1] % target[1] == 0:
            strides = shape[1] // target[1]
        params: dict[str, Any] = {"filters": target[3], "kernel_size": 1, "padding": "same"}
        if strides > 1:
            params["strides"] = strides
        return Fix(f"1×1 Conv2D projection for the residual ({target[3]} filters, strides "
                   f"{strides})", "Conv2D", params, edge.id)
    return None
