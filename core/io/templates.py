"""Templates: project files shipped in ``layerforge.templates``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..catalog.catalog import Catalog
from ..document.document import Document
from ..schema.errors import ProjectFileError
from .project import load, loads


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    title: str
    section: str
    description: str


def _files() -> list[tuple[str, str]]:
    root = resources.files("layerforge.templates")
    found = [(entry.name[:-5], entry.read_text(encoding="utf-8")) for entry in root.iterdir()
             if entry.name.endswith(".json")]
    return sorted(found)


def list_templates() -> list[TemplateInfo]:
    """Names and descriptions, read without building documents (no Keras import)."""
    infos = []
    for name, text in _files():
        meta = json.loads(text).get("meta", {})
        infos.append(TemplateInfo(name, meta.get("title", name), meta.get("section", ""),
                                  meta.get("description", "")))
    return infos


def template_names() -> list[str]:
    return [name for name, _ in _files()]


def load_template(name: str, catalog: Catalog | None = None) -> Document:
    for candidate, text in _files():
        if candidate == name:
            return loads(text, source=f"template {name}", catalog=catalog)
    raise ProjectFileError(
        f"expected a template name ({', '.join(template_names())}) or a project file; "
        f"received '{name}'"
    )


def names_a_template(file_or_template: str) -> bool:
    """What ``open_project`` opens: a file when the path exists or ends in .json, else a
    template by name."""
    path = Path(file_or_template)
    return not (path.exists() or path.suffix == ".json")


def open_project(file_or_template: str, catalog: Catalog | None = None) -> Document:
    """A project file when the path exists, else a template by name."""
    if names_a_template(file_or_template):
        return load_template(file_or_template, catalog)
    return load(Path(file_or_template), catalog)
