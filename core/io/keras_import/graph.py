"""A serialized Keras model -> a LayerForge document: layers, calls, edges, blocks, layout.

Layer instances become LayerSpecs, each recorded call a CallNode, nested
functional/Sequential models become blocks, and every graph is laid out. Nothing is
deserialized: a Lambda's bytecode or a custom class is refused before any of its code
could run. What cannot be kept exactly (a frozen layer, a mixed-precision policy) is a
warning of the result.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...catalog.catalog import Catalog
from ...document.document import Block, Document
from ...document.graph import Graph
from ...editing.layout import layered_layout
from ...schema.errors import (
    CustomLayerError,
    ModelImportError,
    UnsafeLambdaError,
    UnsupportedOperationError,
)
from ...schema.records import (
    BLOCK_CLASS,
    DTYPES,
    CallNode,
    Edge,
    InputNode,
    LayerSpec,
    OutputNode,
    new_id,
)
from ..weights import capture_weights
from .call_args import MASK, AutomaticMasks, extra_slots
from .checks import (
    CUSTOM_HINT,
    check_reads_back,
    clean_name,
    from_custom_module,
    refuse_code,
    sanitize_names,
)
from .dtypes import dtype_name, own_dtype
from .ops import (
    as_call,
    is_raw_op,
    raw_op_layer,
    ref_names,
    refs,
    tensor_ref,
    tensor_values,
    tensors_in,
)
from .params import ParamConverter, kept_call_kwargs

MODEL_CLASSES = {"Functional", "Sequential", "Model"}


@dataclass
class ImportResult:
    doc: Document
    warnings: list[str] = field(default_factory=list)


def import_model(model: Any, *, keep_weights: bool = False,
                 catalog: Catalog | None = None) -> Document:
    """A document of an in-memory functional or Sequential Keras model.

    What cannot be kept exactly (a frozen layer, a mixed-precision policy) is
    reported through :func:`warnings.warn`; :func:`import_file` returns it instead.
    """
    import keras  # lazy: Keras only when a model is imported, never at start-up

    result = import_config(keras.saving.serialize_keras_object(model), safe_mode=False,
                           catalog=catalog, in_memory=True)
    if keep_weights:
        result.doc.weights = capture_weights(model, result.doc)
    for message in result.warnings:
        warnings.warn(message, stacklevel=2)
    return result.doc


def import_config(serialized: dict[str, Any], *, safe_mode: bool = True,
                  catalog: Catalog | None = None, source: str = "<model>",
                  in_memory: bool = False) -> ImportResult:
    """A document of a serialized Keras model (``{"class_name": ..., "config": ...}``)."""
    if not in_memory:
        refuse_code(serialized, source)
    doc = Document(catalog)
    converter = _Converter(doc, safe_mode, source, in_memory)
    converter.model_into(serialized, doc.graph)
    doc.meta.title = clean_name(str(serialized.get("config", {}).get("name", "")))
    doc.meta.description = f"Imported from {Path(source).name}" if not in_memory else \
        "Imported from a Keras model"
    renames = sanitize_names(doc)
    check_reads_back(doc, source)
    return ImportResult(doc, converter.warnings + renames)


@dataclass
class _Placed:
    """Where a Keras layer of one graph lives in the document."""

    layer_id: str | None
    calls: list[str]
    config: dict[str, Any]


class _Converter:
    """Fills a document's graphs from serialized models, collecting what it cannot keep
    exactly as warnings."""

    def __init__(self, doc: Document, safe_mode: bool, source: str, in_memory: bool) -> None:
        self.doc = doc
        self.safe_mode = safe_mode
        self.source = source
        self.in_memory = in_memory
        self.warnings: list[str] = []
        self.params = ParamConverter(doc.catalog, self.warnings)

    # ------------------------------------------------------------- models
    def model_into(self, serialized: dict[str, Any], graph: Graph) -> None:
        class_name = serialized.get("class_name")
        config = serialized.get("config", {})
        if class_name == "Sequential":
            self.sequential(config, serialized, graph)
        elif class_name in ("Functional", "Model") and "layers" in config:
            self.functional(config, graph)
        else:
            raise CustomLayerError(
                f"expected a functional or Sequential Keras model; received class "
                f"'{class_name}' ({_origin(serialized)}). Subclassed models hold Python code; "
                "rebuild the model with the functional API")
        self.lay_out(graph)

    def lay_out(self, graph: Graph) -> None:
        for node_id, position in layered_layout(graph).items():
            graph.move_node(node_id, position)

    def functional(self, config: dict[str, Any], graph: Graph) -> None:
        layers = {record["config"].get("name", record.get("name")): record
                  for record in config["layers"]}
        placed: dict[str, _Placed] = {}
        inputs = refs(config["input_layers"])
        for name, _, _ in inputs:
            placed[name] = self.input_node(layers[name], graph)
        masks = AutomaticMasks(config["layers"])
        for record in config["layers"]:
            name = record["config"].get("name", record.get("name"))
            if name in placed or name in masks.skipped:
                continue
            if not record.get("inbound_nodes"):
                self.warnings.append(f"layer '{name}' is never called in the model; left out")
                continue
            placed[name] = self.layer_calls(record, graph)
        for record in config["layers"]:
            name = record["config"].get("name", record.get("name"))
            if name not in placed or placed[name].layer_id is None:
                continue
            for index, node in enumerate(record.get("inbound_nodes", [])):
                self.connect_call(record, placed, placed[name].calls[index], as_call(node),
                                  graph, masks)
        self.outputs(config["output_layers"], placed, graph)

    def sequential(self, config: dict[str, Any], serialized: dict[str, Any],
                   graph: Graph) -> None:
        records = list(config.get("layers", []))
        if not [r for r in records if r["class_name"] != "InputLayer"]:
            raise ModelImportError(f"Sequential model '{config.get('name')}': expected at least "
                                   "one layer; received none")
        if records[0]["class_name"] == "InputLayer":
            tensor = self.input_node(records.pop(0), graph).calls[0]
        else:
            tensor = self.sequential_input(config, serialized, graph)
        last_name = ""
        for record in records:
            placed = self.layer_calls({**record, "inbound_nodes": [{}]}, graph)
            self.add_edge(graph, tensor, 0, placed.calls[0], 0)
            tensor, last_name = placed.calls[0], record["config"]["name"]
        output = OutputNode(new_id(), last_name)
        graph.add_node(output)
        self.add_edge(graph, tensor, 0, output.id, 0)

    def sequential_input(self, config: dict[str, Any], serialized: dict[str, Any],
                         graph: Graph) -> str:
        first = (config.get("layers") or [{}])[0].get("config", {})
        shape = config.get("build_input_shape") or first.get("batch_input_shape") or \
            (serialized.get("build_config") or {}).get("input_shape")  # Keras 3, 2, built
        if not shape:
            raise ModelImportError(
                f"Sequential model '{config.get('name')}' was never built, so it has no input "
                "shape; call model.build((None, ...)) or start it with keras.Input, then save")
        node = InputNode(new_id(), graph.unique_name("input"), _shape(shape, config))
        graph.add_node(node)
        return node.id

    # ------------------------------------------------------------- nodes
    def input_node(self, record: dict[str, Any], graph: Graph) -> _Placed:
        config = record["config"]
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        dtype = dtype_name(config.get("dtype", "float32"))
        if dtype not in DTYPES:
            raise ModelImportError(f"input '{config['name']}': expected a dtype among "
                                   f"{', '.join(DTYPES)}; received {dtype!r}")
        for flag in ("sparse", "ragged", "optional"):
            if config.get(flag):
                self.warnings.append(f"input '{config['name']}' is {flag} in the file; "
                                     "the imported input is a plain dense tensor")
        node = InputNode(new_id(), config["name"], _shape(shape, config), dtype)
        graph.add_node(node)
        return _Placed(None, [node.id], record)

    def layer_calls(self, record: dict[str, Any], graph: Graph) -> _Placed:
        layer = self.layer_spec(record)
        graph.add_layer(layer)
        calls = []
        for _ in record.get("inbound_nodes", []):
            node = CallNode(new_id(), layer.id)
            graph.add_node(node)
            calls.append(node.id)
        return _Placed(layer.id, calls, record)

    def layer_spec(self, record: dict[str, Any]) -> LayerSpec:
        class_name = str(record.get("class_name"))
        config = record.get("config", {})
        name = str(config.get("name", record.get("name")))
        if class_name in MODEL_CLASSES and isinstance(config, dict) and "layers" in config:
            # A frozen nested model: Keras saved each of its layers frozen, and they stay so.
            self.cast(config, name)
            return LayerSpec(new_id(), BLOCK_CLASS, name, {}, self.block_of(record, name))
        self.check_class(record, class_name, name)
        if is_raw_op(record):
            class_name, params = raw_op_layer(record, name)
        else:
            params = self.params.convert(self.doc.catalog.get(class_name), config, name)
        self.cast(config, name, class_name)
        return LayerSpec(new_id(), class_name, name, params,
                         trainable=config.get("trainable") is not False)

    def block_of(self, record: dict[str, Any], name: str) -> str:
        block_name, i = name, 1
        while self.doc.block_named(block_name) is not None:
            block_name, i = f"{name}_{i}", i + 1
        block = Block(new_id(), block_name, self.doc.new_graph(),
                      sequential=record.get("class_name") == "Sequential")
        self.doc.add_block(block)
        self.model_into(record, block.graph)
        return block.id

    def check_class(self, record: dict[str, Any], class_name: str, name: str) -> None:
        if class_name == "Lambda":
            raise UnsafeLambdaError(_lambda_message(name, self.safe_mode, self.in_memory))
        if is_raw_op(record):
            return
        registered = record.get("registered_name")
        module = str(record.get("module") or "keras.layers")
        custom = not module.startswith("keras") or (registered and registered != class_name
                                                    and ">" in str(registered))
        if custom and from_custom_module(self.doc.catalog, class_name):
            return  # a class of a custom module the user named
        if custom or class_name not in self.doc.catalog:
            why = self.doc.catalog.excluded.get(class_name)
            if why and not custom:
                raise UnsupportedOperationError(
                    f"layer '{name}' is a Keras {class_name}, which LayerForge cannot edit yet "
                    f"({why}); replace it before importing")
            raise CustomLayerError(
                f"layer '{name}' is of class '{class_name}' ({_origin(record)}), which is not a "
                f"public Keras layer nor a class of a custom module given. {CUSTOM_HINT}")

    def cast(self, config: dict[str, Any], name: str, class_name: str = "") -> None:
        dtype = dtype_name(config.get("dtype"))
        if dtype not in (None, "float32") and dtype != own_dtype(class_name, config):
            self.warnings.append(f"layer '{name}' computes in {dtype}; the imported layer "
                                 "uses the default float32 policy")

    # ------------------------------------------------------------- edges
    def connect_call(self, record: dict[str, Any], placed: dict[str, _Placed], call_id: str,
                     call: dict[str, Any], graph: Graph, masks: AutomaticMasks) -> None:
        layer = graph.layer_of(call_id)
        spec = self.doc.port_spec_of(layer)
        name = layer.name
        args, kwargs = call["args"], call["kwargs"]
        if is_raw_op(record):
            # constants were folded into the layer's params; keep the tensors only
            tensors = tensor_values(args)
            args = [tensors] if len(tensors) > 1 else tensors
        named = {k: v for k, v in kwargs.items() if list(tensors_in(v))}
        # A mask Keras propagated itself is propagated again by the rebuilt model.
        wired = {k: v for k, v in named.items()
                 if not (k == MASK and masks.is_automatic(v, call["args"]))}
        main = {k: v for k, v in wired.items() if k in spec.names}
        extra = {k: v for k, v in wired.items() if k not in main}
        pairs = self.slots(spec.kind, spec.names, args, main, name, layer)
        for slot, value in pairs + extra_slots(spec, extra, name):
            ref = tensor_ref(value)
            if ref is None:
                raise UnsupportedOperationError(
                    f"layer '{name}': expected a tensor for input {slot!r}; received "
                    f"{json.dumps(value)[:60]}")
            src = placed[ref[0]].calls[ref[1]]
            self.add_edge(graph, src, ref[2], call_id, slot)
        rest = {k: v for k, v in kwargs.items() if k not in named}
        kwargs_kept = kept_call_kwargs(layer, rest)
        if kwargs_kept:
            node = graph.node(call_id)
            graph.replace_node(CallNode(node.id, node.layer_id, kwargs_kept), "call_kwargs")

    def slots(self, kind: str, names: tuple[str, ...], args: list[Any],
              named: dict[str, Any], layer_name: str, layer: LayerSpec
              ) -> list[tuple[int | str, Any]]:
        """The main inputs of a call (``named``: those passed by keyword, query/value/key);
        the extra tensors (mask, initial_state) are :func:`extra_slots`'."""
        if kind == "named":
            pairs: list[tuple[int | str, Any]] = list(zip(names, args, strict=False))
            return pairs + list(named.items())
        first = args[0] if len(args) == 1 else list(args)
        if len(args) > 1 and any(tensor_ref(a) is None for a in args):
            raise UnsupportedOperationError(
                f"layer '{layer_name}' is called with extra positional arguments "
                f"{json.dumps(args[1:])[:80]}, which LayerForge cannot express")
        if kind == "list":
            items = self.block_inputs_in_order(layer, first)
            return list(enumerate(items))
        if isinstance(first, list) and len(first) == 1:
            first = first[0]
        return [(0, first)]

    def block_inputs_in_order(self, layer: LayerSpec, value: Any) -> list[Any]:
        if isinstance(value, dict) and layer.block_id is not None:
            order = [n.name for n in self.doc.block(layer.block_id).graph.inputs()]
            return [value[k] for k in order if k in value]
        return list(value.values()) if isinstance(value, dict) else list(value)

    def add_edge(self, graph: Graph, src: str, src_index: int, dst: str,
                 slot: int | str) -> None:
        graph.add_edge(Edge(new_id(), src, src_index, dst, slot))

    def outputs(self, value: Any, placed: dict[str, _Placed], graph: Graph) -> None:
        names = ref_names(value)
        taken: set[str] = set()
        for i, (layer_name, node_index, tensor_index) in enumerate(refs(value)):
            base = names[i] if names else layer_name
            name, k = base, 1
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
            output = OutputNode(new_id(), name)
            graph.add_node(output)
            src = placed[layer_name].calls[node_index]
            self.add_edge(graph, src, tensor_index, output.id, 0)


def _shape(batch_shape: Any, config: dict[str, Any]) -> tuple[int | None, ...]:
    if not isinstance(batch_shape, list | tuple) or not batch_shape:
        raise ModelImportError(f"input '{config.get('name')}': expected a batch shape "
                               f"[None, ...]; received {batch_shape!r}")
    return tuple(None if d is None else int(d) for d in batch_shape[1:])


def _origin(record: dict[str, Any]) -> str:
    registered = record.get("registered_name")
    module = record.get("module")
    if registered and registered != record.get("class_name"):
        return f"registered as '{registered}'"
    return f"from module '{module}'" if module else "unknown origin"


def _lambda_message(name: str, safe_mode: bool, in_memory: bool) -> str:
    if safe_mode and not in_memory:
        return (f"layer '{name}' is a Lambda layer: its function is stored as Python bytecode, "
                "and loading it would run code from the file, so safe mode refuses it. Even with "
                "safe mode off, bytecode cannot become an editable expression: replace the Lambda "
                "by Keras layers, or by a Lambda layer whose expression is written in LayerForge")
    return (f"layer '{name}' is a Lambda layer whose function is Python code, not an expression "
            "LayerForge can edit or export; replace it by Keras layers, or add a Lambda layer "
            "in LayerForge with the expression written out")
