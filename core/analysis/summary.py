"""A model summary as data: layers, shapes, parameter counts, FLOPs per sample, the memory
of the weights and diagnostics (the cost convention: ``cost.py``)."""

from __future__ import annotations

import math
from typing import Any

from ..document.document import Document
from ..document.graph import Graph
from ..document.trust import untrusted_code
from ..schema.diagnostics import Diagnostic
from ..schema.records import CallNode, Shape, format_shape
from .check import full_check
from .cost import (
    CONVENTION,
    Cost,
    dtype_bytes,
    format_bytes,
    layer_costs,
    model_cost,
    weights_bytes,
)
from .shapes import ShapeEngine
from .validation import validate


def summarize(doc: Document) -> dict[str, Any]:
    """What ``layerforge summary --json`` prints (``null`` for unknown dimensions). Code the
    user has not trusted is not run: its layers are listed in ``not_run`` (a warning on each),
    and the model is not ``valid`` until it is checked with that code."""
    not_run = [code.name for code in untrusted_code(doc)]
    engine = ShapeEngine(doc)
    live = engine.diagnostics()
    graph = doc.graph
    # A live error already names the node; the full build would only repeat it in Keras' words.
    check = full_check(doc) if not live else None
    diagnostics = _merge(check.diagnostics if check else validate(doc), live)
    model = check.model if check else None
    params = int(model.count_params()) if model is not None else engine.total_params()
    trainable, frozen = keras_split(model) if model is not None else param_split(engine)
    flops = model_cost(engine)
    memory = model_weights_bytes(model) if model is not None else weights_bytes(engine)
    return {
        "title": doc.meta.title,
        "params": params,
        "trainable_params": trainable,
        "non_trainable_params": frozen,
        **flops.to_json(),
        "flops_convention": CONVENTION,
        "weights_bytes": memory,
        "inputs": [{"name": n.name, "shape": _json_shape((None, *n.shape)), "dtype": n.dtype}
                   for n in graph.inputs()],
        "outputs": [{"name": o.name, "shape": _first_shape(engine, o.id)}
                    for o in graph.outputs()],
        "layers": _layers(graph, engine, layer_costs(engine)),
        "diagnostics": [_diagnostic_json(graph, d) for d in diagnostics],
        "valid": not not_run and not any(d.severity == "error" for d in diagnostics),
        **({"not_run": not_run} if not_run else {}),
    }


def _layers(graph: Graph, engine: ShapeEngine, costs: dict[str, Cost]) -> list[dict[str, Any]]:
    rows = []
    seen: set[str] = set()
    for node_id in graph.topological_order():
        node = graph.nodes[node_id]
        if not isinstance(node, CallNode) or node.layer_id in seen:
            continue
        seen.add(node.layer_id)
        layer = graph.layer(node.layer_id)
        shapes = []
        for call in graph.calls_of(layer.id):
            result = engine.results.get(call.id)
            shapes += [_json_shape(s) for s in (result.outputs or ())] if result else []
        rows.append({"name": layer.name, "class_name": layer.class_name,
                     "output_shapes": shapes, "params": engine.layer_params(layer.id),
                     "calls": len(graph.calls_of(layer.id)),
                     **costs.get(layer.id, Cost(0, (layer.name,))).to_json(),
                     **({} if layer.trainable else {"trainable": False})})
    return rows


def keras_split(model: Any) -> tuple[int, int]:
    """(trainable, non-trainable) weights of a built model, as ``model.summary()`` counts them."""
    return (sum(math.prod(w.shape) for w in model.trainable_weights),
            sum(math.prod(w.shape) for w in model.non_trainable_weights))


def model_weights_bytes(model: Any) -> int:
    """Memory of a built model's weights, each variable at its own dtype's size."""
    return sum(math.prod(w.shape) * dtype_bytes(str(w.dtype)) for w in model.weights)


def param_split(engine: ShapeEngine, build: bool = True) -> tuple[int | None, int | None]:
    """(trainable, non-trainable) weights from the live pass: a frozen layer's weights are
    non-trainable. Weights Keras never trains (a BatchNormalization's moving statistics) count
    as trainable here; the full check's model counts them as ``model.summary()`` does."""
    trainable = frozen = 0
    for layer_id in engine.layers_in_model():
        count = engine.layer_params(layer_id, build)
        if count is None:
            return None, None
        layer = engine.graph.layer(layer_id)
        if layer.block_id is not None:
            inner = param_split(engine.block_engine(layer.block_id), build)
            if inner[0] is None or inner[1] is None:
                return None, None
            trainable, frozen = trainable + inner[0], frozen + inner[1]
        elif layer.trainable:
            trainable += count
        else:
            frozen += count
    return trainable, frozen


def _first_shape(engine: ShapeEngine, node_id: str) -> list[int | None] | None:
    result = engine.results.get(node_id)
    if result is None or not result.outputs:
        return None
    return _json_shape(result.outputs[0])


def _json_shape(shape: Shape) -> list[int | None]:
    return list(shape)


def _merge(first: list[Diagnostic], second: list[Diagnostic]) -> list[Diagnostic]:
    seen = {(d.target, d.message) for d in first}
    return first + [d for d in second if (d.target, d.message) not in seen]


def _diagnostic_json(graph: Graph, d: Diagnostic) -> dict[str, Any]:
    data = d.to_json()
    data["where"] = graph.describe(d.target) if d.target in graph.nodes else d.target
    return data


def format_summary(data: dict[str, Any]) -> str:
    """The table a terminal user reads."""
    rows = [("Layer (type)", "Output shape", "Param #", "FLOPs")]
    for layer in data["layers"]:
        shapes = ", ".join(format_shape(s) for s in layer["output_shapes"]) or "?"
        count = "?" if layer["params"] is None else f"{layer['params']:,}"
        calls = f" ×{layer['calls']}" if layer["calls"] > 1 else ""
        rows.append((f"{layer['name']} ({layer['class_name']}){calls}", shapes, count,
                     _flops_cell(layer)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"Model: {data['title'] or 'untitled'}"]
    lines += [f"  Input  {i['name']}: {format_shape(i['shape'])} {i['dtype']}"
              for i in data["inputs"]]
    rule = "-" * (sum(widths) + 9)
    lines.append(rule)
    for row in rows:
        lines.append(f"{row[0]:<{widths[0]}}   {row[1]:<{widths[1]}}   {row[2]:>{widths[2]}}"
                     f"   {row[3]:>{widths[3]}}")
    lines.append(rule)
    lines += [f"  Output {o['name']}: {format_shape(o['shape'])}" for o in data["outputs"]]
    total = "unknown" if data["params"] is None else f"{data['params']:,}"
    lines.append(f"Total params: {total}")
    for label, key in (("Trainable", "trainable_params"),
                       ("Non-trainable", "non_trainable_params")):
        count = "unknown" if data[key] is None else f"{data[key]:,}"
        lines.append(f"{label} params: {count}")
    unknown = sorted(set(data.get("flops_unknown", ())))
    lines.append(f"FLOPs per sample: {flops_text(data)}"
                 + (f"; not counted: {', '.join(unknown)}" if unknown else ""))
    lines.append(f"  ({data['flops_convention']})")
    memory = data["weights_bytes"]
    lines.append("Weights memory: " + ("unknown" if memory is None else
                                       f"{format_bytes(memory)} ({memory:,} bytes)"))
    for d in data["diagnostics"]:
        lines.append(f"{d['severity']}: {d['where']}: {d['message']}")
    return "\n".join(lines)


def flops_text(data: dict[str, Any]) -> str:
    """A summary's (or a layer row's) FLOPs as the table writes them."""
    return Cost(data["flops"] or 0, tuple(data.get("flops_unknown", ()))).text()


def _flops_cell(layer: dict[str, Any]) -> str:
    if layer["flops"] is None:
        return "?"
    text = f"{layer['flops']:,}"
    return f"≥ {text}" if layer.get("flops_unknown") else text
