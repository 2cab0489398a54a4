"""Search dimensions for hyperparameter tuning, saved in the project.

A dimension is a layer parameter (by graph, layer id and parameter name), the
number of repeats of a block, or a training setting (``learning_rate``,
``batch_size``, ``optimizer``), searched as an integer range (step, log), a
float range (log) or a list of choices. A block's *repeats* (``param`` REPEATS on
the layer of a block call) is the length of the chain of calls of that block
that starts at the marked call: each next call takes the previous one's output,
has its own weights and is that block's only use of its layer. Setting it to n
adds or removes calls at the end of the chain; the block must map its one input
to one output of the same shape. Every
dimension is checked against the document and the catalog's ParamSpec, so a
study never samples a value the graph cannot take. Marking and unmarking are
undoable commands; :func:`apply_values` writes a trial's values into the graph
as one undoable edit ("Apply best trial").

``document.py`` imports this module inside ``Document.__init__`` only: this module
imports the commands, which import the document.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..editing.commands import Command, Macro
from ..editing.graph_commands import AddNode, Connect, Disconnect, RemoveNode, SetParam
from ..schema.errors import EditError, ProjectFileError
from ..schema.records import BLOCK_CLASS, CallNode, Edge, LayerSpec, new_id
from ..schema.settings import OPTIMIZERS

if TYPE_CHECKING:
    from .document import Document

MAIN = "main"
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

    def names(self, doc: Document) -> dict[str, Dimension]:
        """Readable, unique parameter names (``dense.units``, ``block/conv.filters``,
        ``learning_rate``) -> dimension; trials are recorded under these names."""
        found: dict[str, Dimension] = {}
        for dim in self.dimensions:
            found[parameter_name(doc, dim)] = dim
        return found

    def current_values(self, doc: Document) -> dict[str, Any]:
        """The document's values of the searched parameters, by name."""
        return {name: current_value(doc, dim) for name, dim in self.names(doc).items()}


def parameter_name(doc: Document, dim: Dimension) -> str:
    if dim.is_setting:
        return dim.param
    layer = doc.graph_of(dim.graph_key).layer(dim.layer_id or "")
    prefix = "" if dim.graph_key == MAIN else f"{doc.block(dim.graph_key).name}/"
    return f"{prefix}{layer.name}.{dim.param}"


def current_value(doc: Document, dim: Dimension) -> Any:
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


# ------------------------------------------------------------------ validation
def dimension_error(doc: Document, dim: Dimension) -> str | None:
    """Why ``dim`` cannot be searched in ``doc`` (names the dimension), or None."""
    try:
        where = _where(doc, dim)
    except (EditError, KeyError) as exc:
        return str(exc.args[0]) if exc.args else str(exc)
    problem = _shape_error(dim) or (_setting_error(dim) if dim.is_setting
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


def _shape_error(dim: Dimension) -> str | None:
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
    numbers = [v for v in (dim.low, dim.high) if _is_number(v)]
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
        if not _is_number(dim.step) or dim.step <= 0:
            return f"expected a positive step; received {dim.step!r}"
        if dim.log:
            return "expected either a step or a log scale, not both (Optuna samples log " \
                   "ranges continuously)"
        if dim.kind == "int" and not float(dim.step).is_integer():
            return f"expected a whole step for an int range; received {dim.step!r}"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _candidates(dim: Dimension) -> list[Any]:
    if dim.kind == "choice":
        return list(dim.choices)
    cast = int if dim.kind == "int" else float
    return [cast(dim.low), cast(dim.high)]


def _setting_error(dim: Dimension) -> str | None:
    want = SETTINGS.get(dim.param)
    if want is None:
        return f"expected a training setting among {', '.join(SETTINGS)}; received " \
               f"{dim.param!r}"
    if dim.param == "optimizer":
        if dim.kind != "choice":
            return f"expected a list of choices for the optimizer; received a {dim.kind} range"
        bad = [c for c in dim.choices if c not in OPTIMIZERS]
        return f"expected optimizers among {', '.join(OPTIMIZERS)}; received {bad[0]!r}" \
            if bad else None
    if dim.kind == "float" and want == "int":
        return f"expected an int range or choices for {dim.param}; received a float range"
    values = _candidates(dim)
    bad = [v for v in values if not _is_number(v) or v <= 0 or
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
    for value in _candidates(dim):
        problem = spec.value_error(value)
        if problem:
            return problem
    bounds = PARAM_BOUNDS.get(dim.param)
    if bounds and all(_is_number(v) for v in _candidates(dim)):
        low, high, text = bounds
        outside = [v for v in _candidates(dim) if not low <= v < high]
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
    bad = [v for v in _candidates(dim) if not _is_number(v) or v < 1 or
           not float(v).is_integer()]
    return f"expected whole numbers of repeats from 1; received {bad[0]!r}" if bad else None


def block_chain(doc: Document, dim: Dimension) -> list[str]:
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


def _repeat_commands(doc: Document, dim: Dimension, count: int) -> list[Command]:
    """Add or remove calls at the end of the chain so the block runs ``count`` times."""
    graph = doc.graph_of(dim.graph_key)
    chain = block_chain(doc, dim)
    onward = graph.out_edges(chain[-1])
    if count == len(chain):
        return []
    if count < len(chain):
        keep = chain[count - 1]
        removed: list[Command] = [RemoveNode(n, dim.graph_key) for n in reversed(chain[count:])]
        return removed + [Connect(Edge(new_id(), keep, e.src_index, e.dst, e.dst_slot),
                                  dim.graph_key) for e in onward]
    commands: list[Command] = [Disconnect(e.id, dim.graph_key) for e in onward]
    layer = graph.layer(dim.layer_id or "")
    taken = set(graph.names_in_use()) | {o.name for o in graph.outputs()}
    previous, (x, y) = chain[-1], graph.node(chain[-1]).position
    for i in range(count - len(chain)):
        name = _free_name(f"{layer.name}_repeat", taken)
        added = LayerSpec(new_id(), BLOCK_CLASS, name, {}, layer.block_id)
        node = CallNode(new_id(), added.id, position=(x, y + 110.0 * (i + 1)))
        commands += [AddNode(node, added, dim.graph_key),
                     Connect(Edge(new_id(), previous, 0, node.id, 0), dim.graph_key)]
        previous = node.id
    return commands + [Connect(Edge(new_id(), previous, e.src_index, e.dst, e.dst_slot),
                               dim.graph_key) for e in onward]


def _free_name(base: str, taken: set[str]) -> str:
    i = 1
    while f"{base}_{i}" in taken:
        i += 1
    taken.add(f"{base}_{i}")
    return f"{base}_{i}"


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
                               f"received {_show(data)}")
    space = SearchSpace()
    for i, raw in enumerate(data):
        dim = _dimension_from(raw, f"{source}: at search_space[{i}]")
        if space.find(dim.slot) is not None:
            raise ProjectFileError(f"{source}: at search_space[{i}]: expected one dimension per "
                                   f"parameter; received a second one for {dim.param!r}")
        problem = _shape_error(dim)
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
            raise ProjectFileError(f"{where}.{key}: expected {names}; received {_show(value)}")
        return value

    if not isinstance(raw, dict):
        raise ProjectFileError(f"{where}: expected an object; received {_show(raw)}")
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


def _show(value: Any) -> str:
    try:
        return json.dumps(value)[:80]
    except (TypeError, ValueError):
        return repr(value)[:80]


# ------------------------------------------------------------------ commands
def mark_dimension(doc: Document, dim: Dimension) -> Command:
    """Mark (or redefine) a search dimension; refused with a message if it does not fit."""
    check_dimension(doc, dim)
    return MarkDimension(dim)


def unmark_dimension(doc: Document, layer_id: str | None, param: str,
                     graph_key: str = MAIN) -> Command:
    slot = (graph_key, layer_id, param)
    if doc.search_space.find(slot) is None:
        what = param if layer_id is None else f"{param!r} of layer {layer_id!r}"
        raise SearchSpaceError(f"expected a searched parameter; {what} is not in the search "
                               "space")
    return UnmarkDimension(slot)


def apply_values(doc: Document, values: dict[str, Any], text: str = "Apply best trial"
                 ) -> Command:
    """One undoable edit writing a trial's values (by parameter name) into the document:
    exactly the searched parameters change. Refused before anything changes if a name is
    not searched or a value does not fit."""
    names = doc.search_space.names(doc)
    unknown = [n for n in values if n not in names]
    if unknown:
        raise SearchSpaceError(f"expected parameters of the search space ({', '.join(names)}); "
                               f"received {', '.join(map(repr, unknown))}")
    children: list[Command] = []
    for name, value in values.items():
        dim = names[name]
        if dim.is_setting:
            children.append(_setting_command(dim.param, value))
        elif dim.param == REPEATS:
            if not _is_number(value) or value < 1 or not float(value).is_integer():
                raise SearchSpaceError(f"{name}: expected a whole number of repeats from 1; "
                                       f"received {value!r}")
            children += _repeat_commands(doc, dim, int(value))
        else:
            _check_layer_value(doc, dim, name, value)
            children.append(SetParam(dim.layer_id or "", dim.param, value, dim.graph_key))
    return Macro(text, children)


def _check_layer_value(doc: Document, dim: Dimension, name: str, value: Any) -> None:
    layer = doc.graph_of(dim.graph_key).layer(dim.layer_id or "")
    spec = doc.catalog.get(layer.class_name).param(dim.param)
    problem = spec.value_error(value)
    if problem:
        raise SearchSpaceError(f"{name}: {problem}")


def _setting_command(param: str, value: Any) -> Command:
    if param == "optimizer" and value not in OPTIMIZERS:
        raise SearchSpaceError(f"optimizer: expected one of {', '.join(OPTIMIZERS)}; "
                               f"received {value!r}")
    if param in ("learning_rate", "batch_size") and (not _is_number(value) or value <= 0):
        raise SearchSpaceError(f"{param}: expected a positive number; received {value!r}")
    value = int(value) if param == "batch_size" else value
    return SetSetting(param, value)


@dataclass
class MarkDimension(Command):
    dim: Dimension
    text: str = "Mark search dimension"
    _old: tuple[int, Dimension] | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        self._old = doc.search_space.put(self.dim)
        doc.settings_changed.emit("search_space")

    def undo(self, doc: Document) -> None:
        doc.search_space.drop(self.dim.slot)
        if self._old is not None:
            doc.search_space.dimensions.insert(*self._old)
        doc.settings_changed.emit("search_space")


@dataclass
class UnmarkDimension(Command):
    slot: tuple[str, str | None, str]
    text: str = "Unmark search dimension"
    _old: tuple[int, Dimension] | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        self._old = doc.search_space.drop(self.slot)
        doc.settings_changed.emit("search_space")

    def undo(self, doc: Document) -> None:
        if self._old is not None:
            doc.search_space.dimensions.insert(*self._old)
        doc.settings_changed.emit("search_space")


@dataclass
class SetSetting(Command):
    """Set a searched training setting (compile.learning_rate/optimizer,
    training.batch_size)."""

    param: str
    value: Any
    text: str = "Set training setting"
    _old: Any = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        owner = doc.training if self.param == "batch_size" else doc.compile
        self._old = getattr(owner, self.param)
        _set(doc, self.param, self.value)

    def undo(self, doc: Document) -> None:
        _set(doc, self.param, self._old)


def _set(doc: Document, param: str, value: Any) -> None:
    if param == "batch_size":
        doc.training = replace(doc.training, batch_size=value)
        doc.settings_changed.emit("training")
    else:
        doc.compile = replace(doc.compile, **{param: value})
        doc.settings_changed.emit("compile")
