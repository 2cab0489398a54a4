"""Vocabularies of an imported ``.keras`` model: an adapted TextVectorization, StringLookup or
IntegerLookup keeps its vocabulary in the archive's assets, not in its config. It is read
as text (nothing in the file runs) and becomes the layer's ``vocabulary`` parameter.

Keras files a layer's assets under ``assets/layers/<snake_case class>[_<n>]/`` (the n-th
layer of that class in the model's layer list, from 1 after the first), not by its name.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from ...catalog.hints import VOCABULARY_LAYERS
from ...document.document import Document

VOCABULARY_FILE = "vocabulary.txt"


def read_vocabularies(path: Path, serialized: dict[str, Any], doc: Document) -> list[str]:
    """Set the vocabulary of each vocabulary layer of the main graph whose config holds none
    from the archive; returns a warning for each that has none there either."""
    layers = serialized.get("config", {}).get("layers", [])
    by_name = {layer.name: layer for layer in doc.graph.layers.values()}
    warnings: list[str] = []
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for folder, raw in _asset_folders(layers):
            config = raw.get("config", {})
            layer = by_name.get(str(config.get("name", raw.get("name"))))
            if layer is None or layer.class_name not in VOCABULARY_LAYERS or \
                    config.get("vocabulary") is not None:
                continue
            member = f"assets/layers/{folder}/{VOCABULARY_FILE}"
            if member not in names:
                warnings.append(f"layer '{layer.name}' ({layer.class_name}): the file holds no "
                                "vocabulary; adapt it (Adapt vocabulary) before training")
                continue
            lines = archive.read(member).decode("utf-8").split("\n")
            tokens = _tokens(layer.class_name, config, lines)
            if tokens:  # none: never adapted, as in the model saved (Keras refuses an empty one)
                layer.params["vocabulary"] = tokens
    return warnings


def _asset_folders(layers: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each layer's asset folder name, as Keras' saver numbers layers of one class."""
    used: dict[str, int] = {}
    folders = []
    for raw in layers:
        if not isinstance(raw, dict):
            continue
        name = _snake_case(str(raw.get("class_name", "")))
        count = used.get(name)
        used[name] = 0 if count is None else count + 1
        folders.append((name if count is None else f"{name}_{count + 1}", raw))
    return folders


def _snake_case(name: str) -> str:
    """Keras' ``naming.to_snake_case``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _tokens(class_name: str, config: dict[str, Any], lines: list[str]) -> list[Any]:
    """The tokens after the mask and OOV tokens Keras writes first."""
    if class_name == "TextVectorization":
        special = 2  # "" (padding) and "[UNK]"
    else:
        special = int(config.get("num_oov_indices", 1)) + \
            (0 if config.get("mask_token") is None else 1)
    tokens = lines[special:]
    if class_name == "IntegerLookup":
        return [int(t) for t in tokens if t.strip()]
    return tokens
