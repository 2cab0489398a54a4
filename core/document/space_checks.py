"""Checks of search dimensions against the document and the catalog's ParamSpec, so a study
never samples a value the graph cannot take; each message names the dimension."""

from __future__ import annotations

from ..catalog.registries import offered_names
from ..schema.errors import EditError
from ..schema.records import LayerSpec
from .document import Document
from .search_space import (
    PARAM_BOUNDS,
    RANGE_PARAM_KINDS,
    REPEATS,
    SETTINGS,
    Dimension,
    SearchSpace,
    SearchSpaceError,
    candidates,
    is_number,
    parameter_name,
    shape_error,
)


def dimension_error(doc: Document, dim: Dimension) -> str | None:
    """Why ``dim`` cannot be searched in ``doc`` (names the dimension), or None."""
    try:
        where = _where(doc, dim)
    except (EditError, KeyError) as exc:
        return str(exc.args[0]) if exc.args else str(exc)
    problem = shape_error(dim) or (_setting_error(doc, dim) if dim.is_setting
                                    else _param_error(doc, dim))
    return f"{where}: {problem}" if problem else None


def check_dimension(doc: Document, dim: Dimension) -> None:
    problem = dimension_error(doc, dim)
    if problem:
        raise SearchSpaceError(problem)


def space_errors(doc: Document, space: SearchSpace | None = None) -> list[str]:
    """Every problem of the space (the document's by default), one message each."""
    space = doc.search_space if space is None else space
    found = [dimension_error(doc, d) for d in space]
    return [p for p in found if p]


def _where(doc: Document, dim: Dimension) -> str:
    if dim.is_setting:
        return f"training setting '{dim.param}'"
    graph = doc.graph_of(dim.graph_key)
    if dim.layer_id not in graph.layers:
        raise SearchSpaceError(f"search dimension '{dim.param}': expected the id of a layer in "
                               f"graph '{dim.graph_key}'; received {dim.layer_id!r} (was the "
                               "layer removed?)")
    return f"search dimension {parameter_name(doc, dim)}"


def _setting_error(doc: Document, dim: Dimension) -> str | None:
    want = SETTINGS.get(dim.param)
    if want is None:
        return f"expected a training setting among {', '.join(SETTINGS)}; received " \
               f"{dim.param!r}"
    if dim.param == "optimizer":
        if dim.kind != "choice":
            return f"expected a list of choices for the optimizer; received a {dim.kind} range"
        known = doc.catalog.registries.get("optimizer", {})
        bad = [c for c in dim.choices if c not in known]
        return f"expected optimizers among those keras.optimizers resolves (" \
               f"{', '.join(offered_names(known))}); received {bad[0]!r}" if bad else None
    if dim.kind == "float" and want == "int":
        return f"expected an int range or choices for {dim.param}; received a float range"
    values = candidates(dim)
    bad = [v for v in values if not is_number(v) or v <= 0 or
           (want == "int" and not float(v).is_integer())]
    if bad:
        what = "positive whole numbers" if want == "int" else "positive numbers"
        return f"expected {what}; received {bad[0]!r}"
    return None


def _param_error(doc: Document, dim: Dimension) -> str | None:
    layer = doc.graph_of(dim.graph_key).layer(dim.layer_id or "")
    if dim.param == REPEATS:
        return _repeats_error(doc, dim, layer)
    if layer.is_block:
        return f"block '{layer.name}' has no parameters; mark a layer inside the block"
    entry = doc.catalog.get(layer.class_name)
    if not entry.has_param(dim.param):
        known = ", ".join(p.name for p in entry.params)
        return f"expected a parameter of {layer.class_name} ({known}); received '{dim.param}'"
    spec = entry.param(dim.param)
    if dim.kind != "choice" and spec.kind not in RANGE_PARAM_KINDS[dim.kind]:
        allowed = "an int range or a list of choices" if spec.kind in RANGE_PARAM_KINDS["int"] \
            else "a list of choices"
        return f"'{dim.param}' takes {spec.kind} values: expected {allowed}; " \
               f"received a {dim.kind} range"
    for value in candidates(dim):
        problem = spec.value_error(value)
        if problem:
            return problem
    bounds = PARAM_BOUNDS.get(dim.param)
    if bounds and all(is_number(v) for v in candidates(dim)):
        low, high, text = bounds
        outside = [v for v in candidates(dim) if not low <= v < high]
        if outside:
            return f"'{dim.param}' expected values {text}; received {outside[0]!r}"
    return None


def _repeats_error(doc: Document, dim: Dimension, layer: LayerSpec) -> str | None:
    if layer.block_id is None:
        return f"'{REPEATS}' counts the calls of a block: expected a block's layer; received " \
               f"{layer.class_name} '{layer.name}'"
    inner = doc.block(layer.block_id).graph
    if len(inner.inputs()) != 1 or len(inner.outputs()) != 1:
        return f"expected a block with one input and one output to repeat; block " \
               f"'{doc.block(layer.block_id).name}' has {len(inner.inputs())} and " \
               f"{len(inner.outputs())}"
    if len(doc.graph_of(dim.graph_key).calls_of(layer.id)) != 1:
        return f"expected a block layer called once to repeat; '{layer.name}' shares its " \
               "weights between several calls"
    if dim.kind == "float":
        return "expected an int range or a list of choices for the number of repeats"
    bad = [v for v in candidates(dim) if not is_number(v) or v < 1 or
           not float(v).is_integer()]
    return f"expected whole numbers of repeats from 1; received {bad[0]!r}" if bad else None
