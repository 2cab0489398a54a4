"""Search dimensions for hyperparameter tuning, saved in the project (the data).

A dimension is a layer parameter (by graph, layer id and parameter name), the
number of repeats of a block, or a training setting (``learning_rate``,
``batch_size``, ``optimizer``), searched as an integer range (step, log), a
float range (log) or a list of choices. A block's *repeats* (``param`` REPEATS on
the layer of a block call) is the length of the chain of calls of that block
that starts at the marked call: each next call takes the previous one's output,
has its own weights and is that block's only use of its layer. Setting it to n
adds or removes calls at the end of the chain; the block must map its one input
to one output of the same shape.

This module holds the records and what reads them; ``space_checks`` checks every dimension
against the document and the catalog's ParamSpec, so a study never samples a value the graph
cannot take, and ``editing/space_edits`` marks, unmarks and applies values as undoable
commands. A document is reached through :class:`SpaceDocument` because ``document.py``
imports this module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..catalog.catalog import Catalog
from ..schema.errors import EditError, ProjectFileError
from ..schema.reading import show
from ..schema.records import MAIN, CallNode
from ..schema.settings import CompileSettings, TrainingSettings
from .graph import Graph

KINDS = ("int", "float", "choice")
# Training settings a study can search, with what a value must be.
SETTINGS = {"learning_rate": "float", "batch_size": "int", "optimizer": "choice"}
# Layer parameter kinds (catalog ParamSpec.kind) each range kind can drive.
RANGE_PARAM_KINDS = {"int": ("int", "int_or_tuple", "float", "any"),
                     "float": ("float", "any")}
# Legal ranges the catalog cannot know (Keras checks them only when the layer is built).
PARAM_BOUNDS = {"rate": (0.0, 1.0, "from 0 up to (not incl.) 1")}
CHOICE_TYPES = (str, int, float, bool, type(None))
REPEATS = "repeats"  # the parameter name of a block call's number of repeats




class NamedBlock(Protocol):
    @property
    def name(self) -> str: ...


class SpaceDocument(Protocol):
    """What reading a dimension's value needs of a document."""

    training: TrainingSettings
    compile: CompileSettings

    @property
    def catalog(self) -> Catalog: ...

    def graph_of(self, key: str | None) -> Graph: ...

    def block(self, block_id: str) -> NamedBlock: ...


class SearchSpaceError(EditError):
    """A search dimension that does not fit the document; the message names it."""


@dataclass(frozen=True)
class Dimension:
    """One searched value. ``layer_id`` None means a training setting named ``param``."""

    param: str
    kind: str  # "int", "float" or "choice"
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    layer_id: str | None = None
    graph_key: str = MAIN

    @property
    def slot(self) -> tuple[str, str | None, str]:
        """What the dimension drives; a space holds at most one dimension per slot."""
        return (self.graph_key, self.layer_id, self.param)

    @property
    def is_setting(self) -> bool:
        return self.layer_id is None

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(json.dumps(c) for c in self.choices)
        step = f" step {_num(self.step)}" if self.step is not None else ""
        return f"{_num(self.low)}..{_num(self.high)}{step}{' (log)' if self.log else ''}"


def _num(value: float | None) -> str:
    return "None" if value is None else f"{value:g}"


@dataclass
class SearchSpace:
    """The project's search dimensions, in the order they were marked."""

    dimensions: list[Dimension] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.dimensions)

    def __iter__(self) -> Iterator[Dimension]:
        return iter(self.dimensions)

    def find(self, slot: tuple[str, str | None, str]) -> Dimension | None:
        return next((d for d in self.dimensions if d.slot == slot), None)

    def of_layer(self, layer_id: str, graph_key: str = MAIN) -> list[Dimension]:
        """The dimensions on one layer (the canvas badge, the inspector's marks)."""
        return [d for d in self.dimensions if d.layer_id == layer_id and d.graph_key == graph_key]

    def put(self, dim: Dimension) -> tuple[int, Dimension] | None:
        """Add or replace the dimension of ``dim.slot``; returns what it replaced."""
        for i, old in enumerate(self.dimensions):
            if old.slot == dim.slot:
                self.dimensions[i] = dim
                return i, old
        self.dimensions.append(dim)
        return None

    def drop(self, slot: tuple[str, str | None, str]) -> tuple[int, Dimension] | None:
        for i, old in enumerate(self.dimensions):
            if old.slot == slot:
                del self.dimensions[i]
                return i, old
        return None

    def names(self, doc: SpaceDocument) -> dict[str, Dimension]:
        """Readable, unique parameter names (``dense.units``, ``block/conv.filters``,
        ``learning_rate``) -> dimension; trials are recorded under these names."""
        found: dict[str, Dimension] = {}
        for dim in self.dimensions:
            found[parameter_name(doc, dim)] = dim
        return found

    def current_values(self, doc: SpaceDocument) -> dict[str, Any]:
        """The document's values of the searched parameters, by name."""
        return {name: current_value(doc, dim) for name, dim in self.names(doc).items()}


def parameter_name(doc: SpaceDocument, dim: Dimension) -> str:
    if dim.is_setting:
        return dim.param
    layer = doc.graph_of(dim.graph_key).layer(dim.layer_id or "")
    prefix = "" if dim.graph_key == MAIN else f"{doc.block(dim.graph_key).name}/"
    return f"{prefix}{layer.name}.{dim.param}"


def current_value(doc: SpaceDocument, dim: Dimension) -> Any:
    """The value the document holds now (a layer's catalog default when it is unset)."""
    if dim.param == "batch_size" and dim.is_setting:
        return doc.training.batch_size
    if dim.is_setting:
        return getattr(doc.compile, dim.param)
    if dim.param == REPEATS:
        return len(block_chain(doc, dim))
    layer = doc.graph_of(dim.graph_key).layer(dim.layer_id or "")
    if dim.param in layer.params:
        return layer.params[dim.param]
    return doc.catalog.get(layer.class_name).param(dim.param).default


def block_chain(doc: SpaceDocument, dim: Dimension) -> list[str]:
    """The call node ids of the repeated block, the marked call first."""
    graph = doc.graph_of(dim.graph_key)
    layer = graph.layer(dim.layer_id or "")
    chain = [graph.calls_of(layer.id)[0].id]
    while True:
        onward = graph.out_edges(chain[-1])
        if len(onward) != 1:
            return chain
        node = graph.node(onward[0].dst)
        if not isinstance(node, CallNode) or len(graph.in_edges(node.id)) != 1:
            return chain
        following = graph.layer(node.layer_id)
        if following.block_id != layer.block_id or len(graph.calls_of(following.id)) != 1:
            return chain
        chain.append(node.id)


def shape_error(dim: Dimension) -> str | None:
    if dim.kind not in KINDS:
        return f"expected a kind among {', '.join(KINDS)}; received {dim.kind!r}"
    if dim.kind == "choice":
        if len(dim.choices) < 2:
            return f"expected at least 2 choices; received {list(dim.choices)!r}"
        bad = [c for c in dim.choices if not isinstance(c, CHOICE_TYPES)]
        if bad:
            return f"expected choices that are text, numbers, true/false or null; " \
                   f"received {bad[0]!r}"
        if len({json.dumps(c) for c in dim.choices}) != len(dim.choices):
            return f"expected distinct choices; received {list(dim.choices)!r}"
        return None
    return _range_error(dim)


def _range_error(dim: Dimension) -> str | None:
    numbers = [v for v in (dim.low, dim.high) if is_number(v)]
    if len(numbers) != 2:
        return f"expected numbers low and high; received low={dim.low!r}, high={dim.high!r}"
    assert dim.low is not None and dim.high is not None
    if dim.kind == "int" and not all(float(v).is_integer() for v in (dim.low, dim.high)):
        return f"expected whole numbers for an int range; received {dim.low!r}..{dim.high!r}"
    if not dim.low < dim.high:
        return f"expected low < high; received {_num(dim.low)}..{_num(dim.high)}"
    if dim.log and dim.low <= 0:
        return f"expected low > 0 for a log range; received low={_num(dim.low)}"
    if dim.step is not None:
        if not is_number(dim.step) or dim.step <= 0:
            return f"expected a positive step; received {dim.step!r}"
        if dim.log:
            return "expected either a step or a log scale, not both (Optuna samples log " \
                   "ranges continuously)"
        if dim.kind == "int" and not float(dim.step).is_integer():
            return f"expected a whole step for an int range; received {dim.step!r}"
    return None


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def candidates(dim: Dimension) -> list[Any]:
    if dim.kind == "choice":
        return list(dim.choices)
    cast = int if dim.kind == "int" else float
    return [cast(dim.low), cast(dim.high)]


# ------------------------------------------------------------------ records
def space_to_records(space: SearchSpace) -> list[dict[str, Any]]:
    return [_dimension_record(d) for d in space]


def _dimension_record(dim: Dimension) -> dict[str, Any]:
    record: dict[str, Any] = {}
    if dim.is_setting:
        record["setting"] = dim.param
    else:
        record.update(graph=dim.graph_key, layer=dim.layer_id, param=dim.param)
    record["kind"] = dim.kind
    if dim.kind == "choice":
        record["choices"] = list(dim.choices)
    else:
        record.update(low=dim.low, high=dim.high)
        if dim.step is not None:
            record["step"] = dim.step
        if dim.log:
            record["log"] = True
    return record


def space_from_records(data: Any, source: str = "<project>") -> SearchSpace:
    """Parse ``search_space`` records (shape only; :func:`space_errors` checks them against
    the document); raises ProjectFileError naming the entry."""
    if data is None:
        return SearchSpace()
    if not isinstance(data, list):
        raise ProjectFileError(f"{source}: at search_space: expected a list of dimensions; "
                               f"received {show(data)}")
    space = SearchSpace()
    for i, raw in enumerate(data):
        dim = _dimension_from(raw, f"{source}: at search_space[{i}]")
        if space.find(dim.slot) is not None:
            raise ProjectFileError(f"{source}: at search_space[{i}]: expected one dimension per "
                                   f"parameter; received a second one for {dim.param!r}")
        problem = shape_error(dim)
        if problem:
            raise ProjectFileError(f"{source}: at search_space[{i}]: {problem}")
        space.put(dim)
    return space


def _dimension_from(raw: Any, where: str) -> Dimension:
    def get(key: str, kinds: tuple[type, ...], default: Any = ...) -> Any:
        if key not in raw:
            if default is ...:
                raise ProjectFileError(f"{where}.{key}: expected a value; received nothing")
            return default
        value = raw[key]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise ProjectFileError(f"{where}.{key}: expected {names}; received {show(value)}")
        return value

    if not isinstance(raw, dict):
        raise ProjectFileError(f"{where}: expected an object; received {show(raw)}")
    kind = get("kind", (str,))
    common: dict[str, Any] = {"kind": kind}
    if kind == "choice":
        common["choices"] = tuple(get("choices", (list,)))
    else:
        common.update(low=get("low", (int, float)), high=get("high", (int, float)),
                      step=get("step", (int, float, type(None)), None),
                      log=get("log", (bool,), False))
    if "setting" in raw:
        return Dimension(get("setting", (str,)), **common)
    return Dimension(get("param", (str,)), layer_id=get("layer", (str,)),
                     graph_key=get("graph", (str,), MAIN), **common)
