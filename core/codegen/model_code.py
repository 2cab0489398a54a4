"""Graph -> Python source of a Keras 3 functional model.

The generated module is what LayerForge itself runs to build a model (see
:mod:`layerforge.core.codegen.loader`), so what users export is exactly what ran.
Every user-supplied string reaches the source only as a ``repr`` literal or
through :class:`Namespace` (a legal, unique identifier), never raw.
"""

from __future__ import annotations

import builtins
import keyword
import re
import textwrap
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from ..catalog.catalog import APPLICATION_PREFIX, LayerEntry
from ..document.document import MAIN, Document
from ..document.graph import Graph
from ..schema.errors import LayerForgeError
from ..schema.lambdas import lambda_source
from ..schema.records import CallNode, Edge, InputNode, LayerSpec, OutputNode
from ..schema.settings import OPTIMIZERS

RESERVED = {"keras", "layers", "ops", "build_model", "compile_model", "model", "inputs",
            "outputs", "np", "name"}
MAX_IDENTIFIER = 40
LINE_WIDTH = 100
INDENT = "    "




class CodegenError(LayerForgeError):
    """The graph cannot be written as code (e.g. it has no inputs or outputs)."""


class Namespace:
    """Turns any user name into a unique, legal Python identifier (torch.fx style)."""

    def __init__(self, reserved: set[str] | None = None) -> None:
        self._used: set[str] = set(reserved or ())

    def create(self, name: str) -> str:
        base = self.sanitize(name)
        candidate, i = base, 1
        while candidate in self._used:
            candidate, i = f"{base}_{i}", i + 1
        self._used.add(candidate)
        return candidate

    @staticmethod
    def sanitize(name: str) -> str:
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        ident = re.sub(r"\W+", "_", ascii_name).strip("_").lower()[:MAX_IDENTIFIER].rstrip("_")
        if not ident:
            ident = "x"
        if ident[0].isdigit():
            ident = f"_{ident}"
        if keyword.iskeyword(ident) or keyword.issoftkeyword(ident) or hasattr(builtins, ident) \
                or ident in RESERVED:
            ident = f"{ident}_"
        return ident


def literal(value: Any, as_tuple: bool = False) -> str:
    """A Python literal for a JSON value (lists as tuples where Keras stores tuples)."""
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        finite = value == value and abs(value) != float("inf")
        return repr(value) if finite else f"float({str(value)!r})"
    if isinstance(value, list | tuple):
        items = [literal(v) for v in value]
        if as_tuple:
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        return f"[{', '.join(items)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    raise CodegenError(f"expected a JSON value in the project; received {type(value).__name__}")


@dataclass
class PythonCode:
    source: str
    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    # 1-based source line -> (graph key, node id), to put build errors on their node
    line_nodes: dict[int, tuple[str, str]] = field(default_factory=dict)


def generate(doc: Document) -> PythonCode:
    """The whole module: block builders, ``build_model``, ``compile_model`` and a main."""
    writer = _ModuleWriter(doc)
    return writer.module()


class _ModuleWriter:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.functions = Namespace(RESERVED)
        self.block_functions: dict[str, str] = {}
        self.variables: dict[str, dict[str, str]] = {}
        self.parts: list[str] = []
        self.line_nodes: dict[int, tuple[str, str]] = {}

    def module(self) -> PythonCode:
        self.add_part(self.header())
        imported = "layers, ops" if self.uses_lambda() else "layers"
        self.add_part(f"import keras\nfrom keras import {imported}\n")
        order = self.block_order()
        # Every function name is known before any body is written, so no variable shadows one.
        for block_id in order:
            name = self.doc.block(block_id).name
            self.block_functions[block_id] = self.functions.create(f"build_{name}")
        for block_id in order:
            block = self.doc.block(block_id)
            self.function(self.block_functions[block_id], block.graph, block_id, block.name,
                          is_block=True)
        self.function("build_model", self.doc.graph, MAIN, self.model_name())
        self.add_part(self.compile_function())
        from .training_code import main_block  # it uses this module's literal()

        self.add_part(main_block(self.doc))
        return PythonCode("\n\n".join(self.parts), self.variables, self.line_nodes)

    def add_part(self, text: str, owners: dict[int, tuple[str, str]] | None = None) -> None:
        first_line = sum(part.count("\n") + 2 for part in self.parts) + 1
        for offset, owner in (owners or {}).items():
            self.line_nodes[first_line + offset] = owner
        self.parts.append(text)

    def uses_lambda(self) -> bool:
        return any(layer.class_name == "Lambda" for _, graph in self.doc.graphs()
                   for layer in graph.layers.values())

    def header(self) -> str:
        meta = self.doc.meta
        title = _comment_text(meta.title) or "Keras model"
        lines = textwrap.wrap(f"{title} (generated by LayerForge).", 76)
        if meta.section:
            lines += textwrap.wrap(f"Deep Learning with Python, section "
                                   f"{_comment_text(meta.section)}.", 76)
        if meta.description:
            lines += ["", *textwrap.wrap(_comment_text(meta.description), 76)]
        return "\n".join(f"# {line}".rstrip() for line in lines) + "\n"

    def model_name(self) -> str:
        slug = re.sub(r"\W+", "_", self.doc.meta.title.lower()).strip("_")
        return slug or "model"

    def block_order(self) -> list[str]:
        """Blocks in dependency order: a block is defined before any block that uses it."""
        order: list[str] = []

        def visit(block_id: str, trail: tuple[str, ...]) -> None:
            if block_id in order:
                return
            if block_id in trail:
                raise CodegenError(f"block '{self.doc.block(block_id).name}' uses itself")
            for layer in self.doc.block(block_id).graph.layers.values():
                if layer.block_id is not None:
                    visit(layer.block_id, (*trail, block_id))
            order.append(block_id)

        for block_id in self.doc.blocks:
            visit(block_id, ())
        return order

    # ---------------------------------------------------------- one graph
    def function(self, fn: str, graph: Graph, key: str, model_name: str,
                 is_block: bool = False) -> None:
        body = _GraphWriter(self, graph).lines()
        self.variables[key] = body.variables
        signature = f"def {fn}(name={model_name!r}):" if is_block else f"def {fn}():"
        # The block's name reaches the code only as the repr default above, never in a docstring.
        doc = '"""A block of this project: a model used as a layer."""' if is_block else \
            '"""The functional model of this project."""'
        inputs = _list_or_single([body.variables[n.id] for n in graph.inputs()])
        outputs = _list_or_single(body.outputs)
        name = "name" if is_block else repr(model_name)
        ret = call_text("return keras.Model", [f"inputs={inputs}", f"outputs={outputs}",
                                                f"name={name}"])
        lines = [doc, *body.code, *ret.splitlines()]
        text = "\n".join([signature, *(INDENT + line for line in lines)]) + "\n"
        owners = {2 + i: (key, node_id) for i, node_id in enumerate(body.owners)}
        self.add_part(text, owners)

    # ----------------------------------------------------------- compile
    def compile_function(self) -> str:
        outputs = self.doc.graph.outputs()
        args = [f"optimizer={self.optimizer()}"]
        multi = len(outputs) > 1
        with_loss = [o for o in outputs if o.loss]
        if with_loss:
            args.append("loss=" + _by_output(with_loss, lambda o: o.loss, multi))
        if any(o.loss_weight != 1.0 for o in with_loss):
            args.append("loss_weights=" + _by_output(with_loss, lambda o: float(o.loss_weight),
                                                     multi))
        with_metrics = [o for o in outputs if o.metrics]
        if with_metrics:
            args.append("metrics=" + _by_output(with_metrics, lambda o: list(o.metrics), multi))
        joined = "".join(f"        {a},\n" for a in args)
        return ("def compile_model(model):\n"
                '    """Compile with the project\'s optimizer, losses and metrics."""\n'
                f"    model.compile(\n{joined}    )\n    return model\n")

    def optimizer(self) -> str:
        settings = self.doc.compile
        name = settings.optimizer.lower()
        if settings.learning_rate is None:
            return repr(name)
        cls = OPTIMIZERS.get(name)
        if cls is None:
            raise CodegenError(f"expected an optimizer among {', '.join(OPTIMIZERS)}; "
                               f"received {settings.optimizer!r}")
        return f"keras.optimizers.{cls}(learning_rate={literal(float(settings.learning_rate))})"


def _by_output(outputs: list[OutputNode], value: Any, multi: bool) -> str:
    if not multi:
        return literal(value(outputs[0]))
    return "{" + ", ".join(f"{o.name!r}: {literal(value(o))}" for o in outputs) + "}"


def _list_or_single(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"[{', '.join(items)}]"


def _comment_text(text: str) -> str:
    """Text for a ``#`` comment: line breaks and unprintable characters become spaces."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def call_text(callee: str, args: list[str], then: list[str] | None = None) -> str:
    """``callee(args)`` on one line when it fits a function body, else one argument a line.

    ``then`` are the arguments of a second call on the result (a layer constructed, then
    called on tensors): the constructor's arguments are spread first, the tensors only if
    the line still does not fit.
    """
    one = f"{callee}({', '.join(args)})"
    if then is not None:
        fits = _fits(f"{one}({', '.join(then)})")
        return call_text(one if fits else _spread(callee, args), then)
    return one if not args or _fits(one) else _spread(callee, args)


def _fits(text: str) -> bool:
    return all(len(INDENT + line) <= LINE_WIDTH for line in text.splitlines())


def _spread(callee: str, args: list[str]) -> str:
    if not args:
        return f"{callee}()"
    return f"{callee}(\n" + "".join(f"{INDENT}{arg},\n" for arg in args) + ")"


@dataclass
class _Body:
    code: list[str]
    variables: dict[str, str]
    outputs: list[str]
    owners: list[str]


class _GraphWriter:
    """Writes the statements of one graph: one per input, layer definition and call."""

    def __init__(self, module: _ModuleWriter, graph: Graph) -> None:
        self.module = module
        self.graph = graph
        self.names = Namespace(RESERVED | set(module.block_functions.values()))
        self.vars: dict[str, str] = {}
        self.layer_vars: dict[str, str] = {}
        self.code: list[str] = []
        self.owners: list[str] = []
        self.current = ""

    def add(self, statement: str) -> None:
        for line in statement.splitlines():
            self.code.append(line)
            self.owners.append(self.current)

    def lines(self) -> _Body:
        if not self.graph.inputs():
            raise CodegenError("the model has no input: add an input node")
        if not self.graph.outputs():
            raise CodegenError("the model has no output: add an output node")
        outputs: list[str] = []
        for node_id in self.graph.topological_order():
            node = self.graph.nodes[node_id]
            self.current = node_id
            if isinstance(node, InputNode):
                self.emit_input(node)
            elif isinstance(node, CallNode):
                self.emit_call(node)
            else:
                outputs.append(self.emit_output(node))
        return _Body(self.code, self.vars, outputs, self.owners)

    def emit_input(self, node: InputNode) -> None:
        var = self.names.create(node.name)
        self.vars[node.id] = var
        args = [f"shape={literal(list(node.shape), True)}"]
        if node.dtype != "float32":
            args.append(f"dtype={node.dtype!r}")
        self.add(call_text(f"{var} = keras.Input", [*args, f"name={node.name!r}"]))

    def emit_call(self, node: CallNode) -> None:
        layer = self.graph.layer(node.layer_id)
        args = self.call_arguments(node, layer)
        calls = self.graph.calls_of(layer.id)
        callee, constructor_args = self.constructor(layer, node)
        if len(calls) == 1:
            var = self.names.create(layer.name)
            self.add(call_text(f"{var} = {callee}", constructor_args, then=args))
        else:
            if layer.id not in self.layer_vars:
                self.layer_vars[layer.id] = self.names.create(f"{layer.name}_layer")
                self.add(call_text(f"{self.layer_vars[layer.id]} = {callee}", constructor_args))
            var = self.names.create(f"{layer.name}_{calls.index(node) + 1}")
            self.add(call_text(f"{var} = {self.layer_vars[layer.id]}", args))
        self.vars[node.id] = var

    def emit_output(self, node: OutputNode) -> str:
        edges = self.graph.in_edges(node.id)
        if not edges:
            raise CodegenError(f"output '{node.name}' is not connected")
        tensor = self.tensor(edges[0])
        # Keras names a model output after the layer (or input) that made it. Editing keeps an
        # output's name equal to that name; only a second output of one tensor (or of one
        # layer), or an output named otherwise in an older file, is renamed by an Identity.
        if self.graph.tensor_name(edges[0].src) == node.name:
            return tensor
        var = self.names.create(node.name)
        self.add(call_text(f"{var} = layers.Identity", [f"name={node.name!r}"], then=[tensor]))
        return var

    def tensor(self, edge: Edge) -> str:
        var = self.vars[edge.src]
        if self.multi_output(edge.src):
            return f"{var}[{edge.src_index}]"
        return var

    def multi_output(self, node_id: str) -> bool:
        return any(e.src_index > 0 for e in self.graph.out_edges(node_id)) or \
            self.returns_several(node_id)

    def returns_several(self, node_id: str) -> bool:
        node = self.graph.nodes[node_id]
        if not isinstance(node, CallNode):
            return False
        layer = self.graph.layer(node.layer_id)
        if layer.block_id is not None:
            return len(self.module.doc.block(layer.block_id).graph.outputs()) > 1
        return bool(layer.params.get("return_state")) or \
            bool(node.call_kwargs.get("return_attention_scores"))

    def call_arguments(self, node: CallNode, layer: LayerSpec) -> list[str]:
        edges = self.graph.in_edges(node.id)
        spec = self.module.doc.port_spec_of(layer)
        if spec.kind == "named":
            order = {name: i for i, name in enumerate(spec.names)}
            edges.sort(key=lambda e: order.get(str(e.dst_slot), 99))
            parts = [f"{_identifier(str(e.dst_slot))}={self.tensor(e)}" for e in edges]
        elif spec.kind == "list":
            edges.sort(key=lambda e: int(e.dst_slot))
            parts = ["[" + ", ".join(self.tensor(e) for e in edges) + "]"]
        else:
            parts = [self.tensor(e) for e in edges[:1]]
        parts += [f"{_identifier(k)}={literal(v)}" for k, v in node.call_kwargs.items()]
        return parts

    def constructor(self, layer: LayerSpec, node: CallNode) -> tuple[str, list[str]]:
        """What builds the layer: the callee and its arguments."""
        name = f"name={layer.name!r}"
        if layer.block_id is not None:
            return self.module.block_functions[layer.block_id], [name]
        entry = self.module.doc.catalog.get(layer.class_name)
        if entry.class_name == "Lambda":
            return "layers.Lambda", [_lambda_argument(layer), name]
        args = _constructor_arguments(entry, layer)
        if entry.is_application:
            first = sorted(self.graph.in_edges(node.id), key=lambda e: str(e.dst_slot))
            if first:
                args.append(f"input_shape={self.tensor(first[0])}.shape[1:]")
            return f"keras.applications.{entry.class_name[len(APPLICATION_PREFIX):]}", \
                [*args, name]
        return f"layers.{entry.class_name}", [*args, name]


def _lambda_argument(layer: LayerSpec) -> str:
    try:
        return lambda_source(layer.params.get("expression", "x"))
    except ValueError as exc:
        raise CodegenError(f"Lambda '{layer.name}': expected {exc}") from None


def _constructor_arguments(entry: LayerEntry, layer: LayerSpec) -> list[str]:
    """Required arguments by position (as Keras users write them), others by keyword."""
    args: list[str] = []
    positional = True
    for spec in entry.params:
        if spec.name not in layer.params:
            positional = positional and not spec.required
            continue
        value = layer.params[spec.name]
        if not spec.required and value == spec.default and spec.name not in entry.initial:
            continue
        text = literal(value, as_tuple=spec.kind in ("tuple", "int_or_tuple"))
        if spec.required and positional:
            args.append(text)
        else:
            positional = False
            args.append(f"{spec.name}={text}")
    unknown = set(layer.params) - {p.name for p in entry.params}
    if unknown:
        raise CodegenError(f"{entry.class_name} '{layer.name}' has no parameter "
                           f"{', '.join(sorted(unknown))}")
    return args


def _identifier(name: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise CodegenError(f"expected a Python argument name; received {name!r}")
    return name

