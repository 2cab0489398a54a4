"""The exported code of layers from Python files: a custom module's classes are imported
from its folder (``from my_layers import Sampling``); LayerForge's own classes for
keras.applications' layers are written into the module, so it runs standalone."""

from __future__ import annotations

import ast
from pathlib import Path

from ..catalog.catalog import LayerEntry
from ..catalog.custom import SHIPPED_PATH, SHIPPED_SOURCE, source_of
from ..document.document import Document
from ..schema.records import LayerSpec
from .python import literal

CUSTOM_COMMENT = ("# The project's custom layers: Python files of yours (trusted), imported "
                  "from their folder.")
SHIPPED_COMMENT = ("# Layers keras.applications defines for its own models, as LayerForge "
                   "writes them (public Keras API).")


def class_sources(doc: Document) -> dict[str, str]:
    """Each class the document's layers use that is not Keras': its file or SHIPPED_SOURCE."""
    used = {layer.class_name for _, graph in doc.graphs() for layer in graph.layers.values()
            if layer.block_id is None}
    found = {name: source_of(doc.catalog, name) for name in sorted(used)}
    return {name: source for name, source in found.items() if source}


def standard_imports(doc: Document) -> list[str]:
    """The standard-library imports the custom part needs."""
    return ["import sys"] if any(s != SHIPPED_SOURCE for s in class_sources(doc).values()) \
        else []


def custom_part(doc: Document) -> str:
    """The imports of custom modules and the shipped class definitions ('' when none)."""
    sources = class_sources(doc)
    by_file: dict[str, list[str]] = {}
    for name, source in sources.items():
        if source != SHIPPED_SOURCE:
            by_file.setdefault(source, []).append(name)
    parts = []
    if by_file:
        folders = sorted({str(Path(path).parent) for path in by_file})
        lines = [CUSTOM_COMMENT, *(f"sys.path.insert(0, {literal(f)})" for f in folders)]
        lines += [f"from {Path(path).stem} import {', '.join(names)}  # noqa: E402"
                  for path, names in sorted(by_file.items())]
        parts.append("\n".join(lines) + "\n")
    shipped = [name for name, source in sources.items() if source == SHIPPED_SOURCE]
    if shipped:
        parts.append(SHIPPED_COMMENT + "\n\n\n" + "\n\n\n".join(shipped_classes(shipped)) + "\n")
    return "\n\n".join(parts)


def shipped_classes(names: list[str]) -> list[str]:
    """The definitions of LayerForge's own classes, as written in application_layers.py."""
    text = SHIPPED_PATH.read_text(encoding="utf-8")
    tree = ast.parse(text)
    found = {node.name: ast.get_source_segment(text, node) or "" for node in tree.body
             if isinstance(node, ast.ClassDef)}
    return [found[name] for name in names]


def keyword_arguments(entry: LayerEntry, layer: LayerSpec) -> list[str]:
    """A custom class's arguments, all by keyword (its signature is the user's)."""
    args = []
    for spec in entry.params:
        if spec.name not in layer.params:
            continue
        value = layer.params[spec.name]
        if spec.required or value != spec.default:
            text = literal(value, as_tuple=spec.kind in ("tuple", "int_or_tuple"))
            args.append(f"{spec.name}={text}")
    return args
