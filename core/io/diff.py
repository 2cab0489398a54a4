"""The models ``layerforge diff`` and "Compare with…" read: project files, templates, Keras
model files (imported in memory, without their weights) and run folders (their snapshot).
"""

from __future__ import annotations

from pathlib import Path

from ..catalog.catalog import Catalog
from ..document.document import Document
from ..schema.errors import ProjectFileError
from .keras_import.files import import_file
from .project import load
from .templates import open_project

# The graph snapshot a run folder keeps (core/training/runs.py writes it): a project file.
RUN_SNAPSHOT = "project.json"
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
SOURCES = "a project file, a template name, a .keras/.h5 file or a run folder"


def open_model(source: str, catalog: Catalog | None = None) -> Document:
    """The model ``source`` names (see :data:`SOURCES`), as a document."""
    path = Path(source)
    if path.is_dir():
        snapshot = path / RUN_SNAPSHOT
        if not snapshot.is_file():
            raise ProjectFileError(f"{path}: expected {SOURCES}; received a folder without "
                                   f"a {RUN_SNAPSHOT} snapshot")
        return load(snapshot, catalog)
    if path.suffix.lower() in KERAS_SUFFIXES:
        return import_file(path, catalog=catalog).doc
    return open_project(source, catalog)
