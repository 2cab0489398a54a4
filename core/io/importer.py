"""Keras models (files or objects) -> LayerForge documents.

The importer reads the serialized functional config (``config.json`` of a
``.keras`` file, the ``model_config`` of an ``.h5`` file, a model JSON, or
``serialize_keras_object`` of a model in memory) without deserializing it, so
a file is checked (Lambda bytecode, custom classes) before any of its code
could run. Layer instances become LayerSpecs, each recorded call a CallNode,
nested functional/Sequential models become blocks, and every graph is laid out.
Parameters keep only the values that differ from the layer's defaults, in the
JSON form the catalog and the code generator expect.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog.catalog import Catalog, LayerEntry, ParamSpec
from ..document.document import Block, Document
from ..document.graph import Graph
from ..editing.layout import layered_layout
from ..schema.errors import (
    CustomLayerError,
    ModelImportError,
    UnsafeLambdaError,
    UnsupportedOperationError,
)
from ..schema.records import (
    BLOCK_CLASS,
    DTYPES,
    CallNode,
    Edge,
    InputNode,
    LayerSpec,
    OutputNode,
    new_id,
)
from ..schema.values import is_jsonable

MODEL_CLASSES = {"Functional", "Sequential", "Model"}
# Keys of a layer config that are not constructor parameters the catalog edits.
IGNORED_KEYS = {"name", "trainable", "dtype", "build_config", "compile_config"}

TensorRef = tuple[str, int, int]


@dataclass
class ImportResult:
    doc: Document
    warnings: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ public API
def import_model(model: Any, *, keep_weights: bool = False,
                 catalog: Catalog | None = None) -> Document:
    """A document of an in-memory functional or Sequential Keras model.

    What cannot be kept exactly (a frozen layer, a mixed-precision policy) is
    reported through :func:`warnings.warn`; :func:`import_file` returns it instead.
    """
    import keras

    result = import_config(keras.saving.serialize_keras_object(model), safe_mode=False,
                           catalog=catalog, in_memory=True)
    if keep_weights:
        from .weights import capture_weights

        result.doc.weights = capture_weights(model, result.doc)
    for message in result.warnings:
        warnings.warn(message, stacklevel=2)
    return result.doc


def import_file(path: str | os.PathLike[str], *, keep_weights: bool = False,
                safe_mode: bool = True, catalog: Catalog | None = None) -> ImportResult:
    """A document of the model in a ``.keras``, ``.h5`` or model JSON file."""
    target = Path(path)
    serialized = read_model_config(target)
    result = import_config(serialized, safe_mode=safe_mode, catalog=catalog, source=str(target))
    if not result.doc.meta.title:
        result.doc.meta.title = target.stem
    if keep_weights:
        _keep_file_weights(result, target, safe_mode)
    return result


def import_config(serialized: dict[str, Any], *, safe_mode: bool = True,
                  catalog: Catalog | None = None, source: str = "<model>",
                  in_memory: bool = False) -> ImportResult:
    """A document of a serialized Keras model (``{"class_name": ..., "config": ...}``)."""
    doc = Document(catalog)
    converter = _Converter(doc, safe_mode, source, in_memory)
    converter.model_into(serialized, doc.graph)
    doc.meta.title = str(serialized.get("config", {}).get("name", ""))
    doc.meta.description = f"Imported from {Path(source).name}" if not in_memory else \
        "Imported from a Keras model"
    return ImportResult(doc, converter.warnings)


def read_model_config(path: Path) -> dict[str, Any]:
    """The serialized model in a file, read without running anything in it."""
    if not path.exists():
        raise ModelImportError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".keras":
            with zipfile.ZipFile(path) as archive:
                data = json.loads(archive.read("config.json"))
        elif suffix in (".h5", ".hdf5"):
            data = _h5_config(path)
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            raise ModelImportError(f"{path}: expected a .keras, .h5 or model .json file; "
                                   f"received a '{suffix or 'no'}' extension")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelImportError(f"{path}: cannot be read as a Keras model file ({exc})") from None
    return _check_model_record(data, path)


def _h5_config(path: Path) -> dict[str, Any]:
    import h5py

    with h5py.File(path, "r") as handle:
        raw = handle.attrs.get("model_config")
    if raw is None:
        raise ModelImportError(f"{path}: this HDF5 file holds weights only, no model "
                               "architecture; save the whole model (model.save)")
    return json.loads(raw.decode() if isinstance(raw, bytes) else raw)


def _check_model_record(data: Any, path: Path) -> dict[str, Any]:
    if isinstance(data, dict) and data.get("format") == "layerforge-project":
        raise ModelImportError(f"{path}: this is a LayerForge project, not a Keras model; "
                               "open it instead of importing it")
    if not isinstance(data, dict) or "class_name" not in data or "config" not in data:
        raise ModelImportError(f"{path}: expected a serialized Keras model "
                               '({"class_name": ..., "config": ...}); received something else')
    return data


def _keep_file_weights(result: ImportResult, path: Path, safe_mode: bool) -> None:
    if path.suffix.lower() == ".json":
        result.warnings.append(f"{path.name} holds the architecture only: no weights to keep")
        return
    import keras

    from .weights import capture_weights

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as exc:  # Keras' loaders fail in many ways (e.g. raw ops in .h5 files)
        raise ModelImportError(
            f"{path}: the architecture imports, but Keras cannot load the file to read its "
            f"weights ({type(exc).__name__}: {str(exc)[:200]}); import it without weights, or "
            "save the model as .keras") from None
    result.doc.weights = capture_weights(model, result.doc)


# ------------------------------------------------------------------ conversion
def _tensor_ref(value: Any) -> TensorRef | None:
    """(layer name, node index, tensor index) of a serialized tensor, else None."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        name, node_index, tensor_index = value["config"]["keras_history"]
        return str(name), int(node_index), int(tensor_index)
    return None


def _tensor_values(value: Any) -> list[Any]:
    """The serialized tensors in nested lists, in order."""
    if _tensor_ref(value) is not None:
        return [value]
    if isinstance(value, list | tuple):
        return [t for item in value for t in _tensor_values(item)]
    return []


def _tensors_in(value: Any) -> Iterator[TensorRef]:
    ref = _tensor_ref(value)
    if ref is not None:
        yield ref
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors_in(item)


def _as_call(node: Any) -> dict[str, Any]:
    """An inbound node in Keras 3 form ({"args", "kwargs"}), also from Keras 2 files."""
    if isinstance(node, dict):
        return {"args": list(node.get("args", [])), "kwargs": dict(node.get("kwargs", {}))}
    tensors, kwargs = [], {}
    for entry in node:  # Keras 2: [[layer name, node index, tensor index, kwargs], ...]
        tensors.append({"class_name": "__keras_tensor__",
                        "config": {"keras_history": list(entry[:3])}})
        kwargs.update(entry[3] if len(entry) > 3 else {})
    return {"args": [tensors[0] if len(tensors) == 1 else tensors], "kwargs": kwargs}


def _refs(value: Any) -> list[TensorRef]:
    """Input/output layer references: one triple, a list of triples, or a dict of them."""
    if isinstance(value, dict):
        return [tuple(v) for v in value.values()]  # type: ignore[misc]
    if value and not isinstance(value[0], list | tuple):
        return [tuple(value)]  # type: ignore[list-item]
    return [tuple(v) for v in value]  # type: ignore[misc]


def _ref_names(value: Any) -> list[str] | None:
    return [str(k) for k in value] if isinstance(value, dict) else None


@dataclass
class _Placed:
    """Where a Keras layer of one graph lives in the document."""

    layer_id: str | None
    calls: list[str]
    config: dict[str, Any]


class _Converter:
    def __init__(self, doc: Document, safe_mode: bool, source: str, in_memory: bool) -> None:
        self.doc = doc
        self.safe_mode = safe_mode
        self.source = source
        self.in_memory = in_memory
        self.warnings: list[str] = []
        self.params = _ParamConverter(doc.catalog, self.warnings)

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
        inputs = _refs(config["input_layers"])
        for name, _, _ in inputs:
            placed[name] = self.input_node(layers[name], graph)
        for record in config["layers"]:
            name = record["config"].get("name", record.get("name"))
            if name in placed:
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
                self.connect_call(record, placed, placed[name].calls[index], _as_call(node),
                                  graph)
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
        dtype = _dtype_name(config.get("dtype", "float32"))
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
            self.frozen_or_cast(config, name)
            return LayerSpec(new_id(), BLOCK_CLASS, name, {}, self.block_of(record, name))
        self.check_class(record, class_name, name)
        if _is_raw_op(record):
            class_name, params = _raw_op_layer(record, name)
        else:
            params = self.params.convert(self.doc.catalog.get(class_name), config, name)
        self.frozen_or_cast(config, name)
        return LayerSpec(new_id(), class_name, name, params)

    def block_of(self, record: dict[str, Any], name: str) -> str:
        block_name, i = name, 1
        while self.doc.block_named(block_name) is not None:
            block_name, i = f"{name}_{i}", i + 1
        block = Block(new_id(), block_name, self.doc.new_graph())
        self.doc.add_block(block)
        self.model_into(record, block.graph)
        return block.id

    def check_class(self, record: dict[str, Any], class_name: str, name: str) -> None:
        if class_name == "Lambda":
            raise UnsafeLambdaError(_lambda_message(name, self.safe_mode, self.in_memory))
        if _is_raw_op(record):
            return
        registered = record.get("registered_name")
        module = str(record.get("module") or "keras.layers")
        custom = not module.startswith("keras") or (registered and registered != class_name
                                                    and ">" in str(registered))
        if custom or class_name not in self.doc.catalog:
            why = self.doc.catalog.excluded.get(class_name)
            if why and not custom:
                raise UnsupportedOperationError(
                    f"layer '{name}' is a Keras {class_name}, which LayerForge cannot edit yet "
                    f"({why}); replace it before importing")
            raise CustomLayerError(
                f"layer '{name}' is of class '{class_name}' ({_origin(record)}), which is not a "
                "public Keras layer; LayerForge imports models made of keras.layers only. "
                "Rebuild that part from Keras layers, or export the model without it")

    def frozen_or_cast(self, config: dict[str, Any], name: str) -> None:
        if config.get("trainable") is False:
            self.warnings.append(f"layer '{name}' is frozen (trainable=False) in the model; "
                                 "the imported layer is trainable")
        dtype = _dtype_name(config.get("dtype"))
        if dtype not in (None, "float32"):
            self.warnings.append(f"layer '{name}' computes in {dtype}; the imported layer "
                                 "uses the default float32 policy")

    # ------------------------------------------------------------- edges
    def connect_call(self, record: dict[str, Any], placed: dict[str, _Placed], call_id: str,
                     call: dict[str, Any], graph: Graph) -> None:
        layer = graph.layer_of(call_id)
        spec = self.doc.port_spec_of(layer)
        name = layer.name
        args, kwargs = call["args"], call["kwargs"]
        if _is_raw_op(record):
            # constants were folded into the layer's params; keep the tensors only
            tensors = _tensor_values(args)
            args = [tensors] if len(tensors) > 1 else tensors
        named = {k: v for k, v in kwargs.items() if list(_tensors_in(v))}
        for slot, value in self.slots(spec.kind, spec.names, args, named, name, layer):
            ref = _tensor_ref(value)
            if ref is None:
                raise UnsupportedOperationError(
                    f"layer '{name}': expected a tensor for input {slot!r}; received "
                    f"{json.dumps(value)[:60]}")
            src = placed[ref[0]].calls[ref[1]]
            self.add_edge(graph, src, ref[2], call_id, slot)
        rest = {k: v for k, v in kwargs.items() if k not in named}
        kwargs_kept = self.call_kwargs(layer, rest)
        if kwargs_kept:
            node = graph.node(call_id)
            graph.replace_node(CallNode(node.id, node.layer_id, kwargs_kept), "call_kwargs")

    def slots(self, kind: str, names: tuple[str, ...], args: list[Any],
              named: dict[str, Any], layer_name: str, layer: LayerSpec
              ) -> list[tuple[int | str, Any]]:
        if kind == "named":
            pairs: list[tuple[int | str, Any]] = list(zip(names, args, strict=False))
            unknown = [k for k in named if k not in names]
            if unknown:
                raise UnsupportedOperationError(
                    f"layer '{layer_name}' receives a tensor as '{unknown[0]}', which LayerForge "
                    f"cannot wire (inputs it wires: {', '.join(names)})")
            return pairs + list(named.items())
        if named:
            raise UnsupportedOperationError(
                f"layer '{layer_name}' receives a tensor as '{next(iter(named))}', which "
                "LayerForge cannot wire (it wires the layer's main input only)")
        first = args[0] if len(args) == 1 else list(args)
        if len(args) > 1 and any(_tensor_ref(a) is None for a in args):
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

    def call_kwargs(self, layer: LayerSpec, kwargs: dict[str, Any]) -> dict[str, Any]:
        defaults = _call_defaults(layer)
        kept = {}
        for key, value in kwargs.items():
            if (key == "mask" and value is None) or (key in defaults and defaults[key] == value):
                continue
            if not is_jsonable(value):
                raise UnsupportedOperationError(
                    f"layer '{layer.name}' is called with {key}={value!r}, which a project "
                    "cannot store")
            kept[key] = value
        return kept

    def add_edge(self, graph: Graph, src: str, src_index: int, dst: str,
                 slot: int | str) -> None:
        graph.add_edge(Edge(new_id(), src, src_index, dst, slot))

    def outputs(self, value: Any, placed: dict[str, _Placed], graph: Graph) -> None:
        names = _ref_names(value)
        taken: set[str] = set()
        for i, (layer_name, node_index, tensor_index) in enumerate(_refs(value)):
            base = names[i] if names else layer_name
            name, k = base, 1
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
            output = OutputNode(new_id(), name)
            graph.add_node(output)
            src = placed[layer_name].calls[node_index]
            self.add_edge(graph, src, tensor_index, output.id, 0)


# ------------------------------------------------------------------ parameters
class _ParamConverter:
    """Keras layer configs -> catalog params: only non-default values, in JSON form."""

    def __init__(self, catalog: Catalog, warnings: list[str]) -> None:
        self.catalog = catalog
        self.warnings = warnings
        self._reference: dict[str, dict[str, Any]] = {}
        self._rebuilt: dict[str, dict[str, Any] | None] = {}
        self._aliases: dict[str, Any] = {}

    def convert(self, entry: LayerEntry, config: dict[str, Any], name: str) -> dict[str, Any]:
        values = {k: v for k, v in config.items() if k not in IGNORED_KEYS}
        given: dict[str, Any] = {}
        for key, raw in values.items():
            if entry.has_param(key):
                given[key] = self.normalized(entry.param(key), raw, name)
            else:
                self.unknown(entry, key, raw, name, values)
        missing = [p.name for p in entry.params if p.required and p.name not in given]
        if missing:
            raise ModelImportError(f"layer '{name}' ({entry.class_name}): expected a value "
                                   f"for '{missing[0]}' in its config; received none")
        params = self.without_defaults(entry, given, values)
        for key, value in params.items():
            problem = entry.param(key).value_error(value)
            if problem is not None:
                raise ModelImportError(f"layer '{name}' ({entry.class_name}): {problem}")
        return params

    def without_defaults(self, entry: LayerEntry, given: dict[str, Any],
                         values: dict[str, Any]) -> dict[str, Any]:
        """Drop values Keras would choose itself, then put back any value whose default
        depends on another argument (MaxPooling2D's strides follow pool_size)."""
        kept = {k: v for k, v in given.items()
                if entry.param(k).required or not self.is_default(entry, entry.param(k), v,
                                                                  values)}
        rebuilt = self.config_of(entry, kept)
        if rebuilt is None:
            return kept
        for key, value in given.items():
            if key not in kept and self.normalized(entry.param(key), rebuilt.get(key),
                                                   "") != value:
                kept[key] = value
        return {k: kept[k] for k in given if k in kept}

    def config_of(self, entry: LayerEntry, params: dict[str, Any]) -> dict[str, Any] | None:
        key = json.dumps([entry.class_name, params], sort_keys=True, default=str)
        if key not in self._rebuilt:
            self._rebuilt[key] = _layer_config(entry, params)
        return self._rebuilt[key]

    def unknown(self, entry: LayerEntry, key: str, raw: Any, name: str,
                values: dict[str, Any]) -> None:
        if raw in (None, False) or key == "seed":
            return
        reference = self.reference(entry, values)
        if key in reference and _plain(reference[key]) == _plain(raw):
            return
        self.warnings.append(f"layer '{name}' ({entry.class_name}): '{key}'={_short(raw)} is "
                             "not a parameter LayerForge edits; the imported layer uses the "
                             "default")

    def normalized(self, spec: ParamSpec, raw: Any, name: str) -> Any:
        value = self.serialized_object(spec, raw, name) if isinstance(raw, dict) else _plain(raw)
        if spec.kind == "int_or_tuple":
            return _compact_tuple(value)
        if spec.kind == "int" and isinstance(value, list) and len(value) == 1:
            return value[0]  # Keras stores an int axis as a 1-tuple (Normalization)
        return value

    def serialized_object(self, spec: ParamSpec, raw: dict[str, Any], name: str) -> Any:
        """An initializer/regularizer/constraint config: its short name where one exists."""
        if "class_name" not in raw:
            return _plain(raw)
        registered = raw.get("registered_name")
        module = str(raw.get("module") or "keras")
        if not module.startswith("keras") or (registered and ">" in str(registered)):
            raise CustomLayerError(
                f"layer '{name}': parameter '{spec.name}' is a custom object "
                f"'{registered or raw['class_name']}', not part of Keras; rebuild the layer "
                "with a Keras initializer, regularizer or constraint")
        if raw["class_name"] == "function" and isinstance(raw.get("config"), str):
            return raw["config"]  # a Keras activation serialized by name
        plain = {"class_name": raw["class_name"], "config": _plain(raw.get("config", {}))}
        alias = self.alias(spec.kind, plain)
        return alias if alias is not None else plain

    def alias(self, kind: str, plain: dict[str, Any]) -> str | None:
        if kind not in ("initializer", "regularizer", "constraint"):
            return None
        snake = _snake(plain["class_name"])
        key = f"{kind}:{snake}"
        if key not in self._aliases:
            self._aliases[key] = _keras_default_config(kind, snake)
        return snake if self._aliases[key] == plain["config"] else None

    def is_default(self, entry: LayerEntry, spec: ParamSpec, value: Any,
                   values: dict[str, Any]) -> bool:
        if value == spec.default or value == _compact_tuple(spec.default):
            return True
        if spec.name in entry.initial and value != entry.initial[spec.name]:
            return False
        reference = self.reference(entry, values)
        if spec.name not in reference:
            return False
        ref_value = reference[spec.name]
        if isinstance(ref_value, dict):
            ref_value = self.serialized_object(spec, ref_value, "")
        return _compact_tuple(_plain(ref_value)) == _compact_tuple(value)

    def reference(self, entry: LayerEntry, values: dict[str, Any]) -> dict[str, Any]:
        """The config of the layer made with its required arguments only (Keras' defaults)."""
        required = {p.name: values[p.name] for p in entry.params
                    if p.required and p.name in values}
        key = json.dumps([entry.class_name, required], sort_keys=True, default=str)
        if key not in self._reference:
            self._reference[key] = _default_config(entry, required)
        return self._reference[key]


def _default_config(entry: LayerEntry, required: dict[str, Any]) -> dict[str, Any]:
    return _layer_config(entry, required) or {}


def _layer_config(entry: LayerEntry, params: dict[str, Any]) -> dict[str, Any] | None:
    """The config of a new layer made with ``params``, or None if Keras refuses them."""
    import keras

    try:
        kwargs = {k: entry.param(k).to_keras(v) for k, v in params.items()}
        return dict(getattr(keras.layers, entry.class_name)(**kwargs).get_config())
    except Exception:  # no reference: every value counts as set (still correct, more verbose)
        return None


def _keras_default_config(kind: str, alias: str) -> Any:
    import keras

    getter = {"initializer": keras.initializers.get, "regularizer": keras.regularizers.get,
              "constraint": keras.constraints.get}[kind]
    try:
        return _plain(getter(alias).get_config())
    except (ValueError, TypeError):
        return None


def _snake(class_name: str) -> str:
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub("([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _plain(value: Any) -> Any:
    """JSON form: tuples become lists (what a saved project gives back)."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return value


def _compact_tuple(value: Any) -> Any:
    """(3, 3) -> 3 and ((1, 1), (2, 2)) -> (1, 2): the same layer, written as Keras users do."""
    if isinstance(value, list) and value and all(isinstance(v, list) and len(v) == 2 and
                                                 v[0] == v[1] for v in value):
        value = [v[0] for v in value]
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool)
                                                 and v == value[0] for v in value):
        return value[0]
    return value


def _short(value: Any) -> str:
    text = json.dumps(value) if is_jsonable(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dtype_name(dtype: Any) -> str | None:
    if isinstance(dtype, dict):
        config = dtype.get("config", {})
        return str(config.get("name")) if isinstance(config, dict) else None
    return None if dtype is None else str(dtype)


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


def _call_defaults(layer: LayerSpec) -> dict[str, Any]:
    if layer.block_id is not None:
        return {"training": None, "mask": None}
    import keras

    cls = getattr(keras.layers, layer.class_name, None)
    if cls is None:
        return {}
    params = inspect.signature(cls.call).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


# ------------------------------------------------------------------ raw ops
_MERGE_OPS = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply",
              "Maximum": "Maximum", "Minimum": "Minimum", "Concatenate": "Concatenate"}
_ACTIVATION_OPS = {"Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh",
                   "Silu": "silu", "Swish": "silu", "Softplus": "softplus",
                   "Softsign": "softsign", "Elu": "elu", "Selu": "selu", "Exp": "exponential",
                   "HardSigmoid": "hard_sigmoid", "Mish": "mish"}


def _is_raw_op(record: dict[str, Any]) -> bool:
    module = str(record.get("module") or "")
    return module.startswith(("keras.src.ops", "keras.ops"))


def _raw_op_layer(record: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    """A public layer computing what a raw ``keras.ops`` node computes."""
    op = str(record["class_name"])
    config = record.get("config", {})
    calls = [_as_call(n) for n in record.get("inbound_nodes", [])]
    constants = [a for c in calls for a in c["args"] if _tensor_ref(a) is None
                 and not isinstance(a, list)]
    if op in _MERGE_OPS and not constants:
        axis = config.get("axis", -1)
        return _MERGE_OPS[op], ({"axis": axis} if op == "Concatenate" and axis != -1 else {})
    if op in ("Add", "Subtract", "Multiply") and len(constants) == 1 and \
            isinstance(constants[0], int | float):
        c = float(constants[0])
        return "Rescaling", {"Add": {"scale": 1.0, "offset": c},
                             "Subtract": {"scale": 1.0, "offset": -c},
                             "Multiply": {"scale": c}}[op]
    if op in _ACTIVATION_OPS and not constants and len(config) <= 1:
        return "Activation", {"activation": _ACTIVATION_OPS[op]}
    if op == "Softmax" and config.get("axis", -1) == -1:
        return "Activation", {"activation": "softmax"}
    if op == "Transpose" and (config.get("axes") or [None])[0] == 0:
        return "Permute", {"dims": [int(a) for a in config["axes"][1:]]}
    raise UnsupportedOperationError(
        f"'{name}' is a raw keras.ops call ({op}, {_short(config)}) that no public Keras layer "
        "expresses; wrap it in a layer (e.g. a Lambda expression made in LayerForge) before "
        "importing")
