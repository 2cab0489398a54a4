"""What an imported model must pass before it becomes a project: no Python code anywhere in
its config, names a project file accepts, and a document that reads back from its records."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...catalog.catalog import Catalog
from ...catalog.custom import SHIPPED_SOURCE, source_of
from ...document.document import Document
from ...document.graph import Graph
from ...document.records import from_records, to_records
from ...schema.errors import ModelImportError, UnsafeLambdaError

# Serialized Python functions: a lambda's bytecode, a function by module and name.
CODE_CLASSES = {"__lambda__", "function", "lambda", "__function__"}
# What to do about a class that is neither Keras' nor of a custom module given.
CUSTOM_HINT = ("If the class is defined in a Python file of yours, import with "
               "--custom-module FILE (in the app: File → Add Custom Layer Module…, then open "
               "the model); otherwise rebuild that part from Keras layers")
# Nested models add a few levels each; deeper than this is no model Keras writes.
MAX_CONFIG_DEPTH = 400


def refuse_code(serialized: Any, source: str) -> None:
    """Refuse a config holding Python code (bytecode or a function reference), naming the
    layer and the place, before anything is converted. Iterative: any depth is reported."""
    todo: list[tuple[Any, str, str, int]] = [(serialized, "", "the model", 0)]
    while todo:
        value, place, owner, depth = todo.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise ModelImportError(f"{source}: expected a model config nested at most "
                                   f"{MAX_CONFIG_DEPTH} deep; received deeper nesting")
        if isinstance(value, list):
            todo += [(v, f"{place}[{i}]", owner, depth + 1) for i, v in enumerate(value)]
            continue
        if not isinstance(value, dict) or value.get("class_name") == "Lambda":
            continue  # a Lambda layer is refused by the converter, with its own message
        owner = _owner(value, owner)
        kind = _code_kind(value)
        if kind is not None:
            raise UnsafeLambdaError(
                f"{source}: layer '{owner}' holds Python code at {place or 'the top level'} "
                f"({kind}); loading it would run code from the file, so it is refused. "
                "Replace it by a Keras built-in (e.g. an activation name) before importing")
        todo += [(v, f"{place}.{k}" if place else str(k), owner, depth + 1)
                 for k, v in value.items()]


def from_custom_module(catalog: Catalog, class_name: str) -> bool:
    """Whether the class comes from one of the user's custom modules in ``catalog``."""
    source = source_of(catalog, class_name)
    return bool(source) and source != SHIPPED_SOURCE


def _owner(record: dict[str, Any], owner: str) -> str:
    config = record.get("config")
    if "class_name" in record and isinstance(config, dict) and isinstance(config.get("name"),
                                                                          str):
        return config["name"]
    return owner


def _code_kind(record: dict[str, Any]) -> str | None:
    class_name = record.get("class_name")
    if isinstance(class_name, str) and class_name in CODE_CLASSES:
        return f"class_name '{class_name}'"
    if record.get("function_type") in ("lambda", "raw"):
        return f"function_type '{record['function_type']}'"
    return None


def clean_name(name: str) -> str:
    """A name a project file accepts: no '/', not blank, UTF-8 encodable."""
    text = name.encode("utf-8", "replace").decode("utf-8").replace("/", "_").strip()
    return text or "layer"


def sanitize_names(doc: Document) -> list[str]:
    """Rename the layers, inputs, outputs and blocks whose names a project file refuses;
    returns one warning per rename."""
    renames: list[str] = []
    for _, graph in doc.graphs():
        renames += _sanitize_graph(graph)
    for block in doc.blocks.values():
        if clean_name(block.name) != block.name:
            new = clean_name(block.name)
            while doc.block_named(new) is not None:
                new += "_"
            renames.append(f"block {block.name!r} renamed to {new!r}")
            block.name = new
    return renames


def _sanitize_graph(graph: Graph) -> list[str]:
    renamed: dict[str, str] = {}
    for layer in list(graph.layers.values()):
        if clean_name(layer.name) != layer.name:
            new = graph.unique_name(clean_name(layer.name))
            renamed[layer.name] = new
            graph.replace_layer(replace(layer, name=new), "name")
    for node in graph.inputs():
        if clean_name(node.name) != node.name:
            new = graph.unique_name(clean_name(node.name))
            renamed[node.name] = new
            graph.replace_node(replace(node, name=new), "name")
    for out in graph.outputs():
        if clean_name(out.name) != out.name:
            new = renamed.get(out.name) or graph.unique_name(clean_name(out.name))
            graph.replace_node(replace(out, name=new), "name")
            renamed.setdefault(out.name, new)
    return [f"name {old!r} renamed to {new!r} (a project name has no '/' and is not blank)"
            for old, new in renamed.items()]


def check_reads_back(doc: Document, source: str) -> None:
    """Refuse a document that its own project file would not load, with load's reason."""
    try:
        from_records(to_records(doc), source, doc.catalog)
    except ModelImportError:
        raise
    except Exception as exc:  # any refusal of the reader, said in its words
        raise ModelImportError(f"{source}: the imported model cannot be saved as a project "
                               f"that opens again: {exc}") from None
