"""Weights files: a project's arrays in ``<stem>.weights-<hash>.npz`` beside the project.

A project and its weights are one unit. The file name holds the first 16 hex digits of a
SHA-256 over the arrays (keys, dtypes, shapes, bytes), and the project records the file's
name and full hash (``"weights": {"file": ..., "sha256": ...}``). ``project.save`` writes
the weights under their new name first, then replaces the project, then sweeps what no
longer belongs: a crash at any moment leaves the old pair whole or the new pair whole. A
pair that does not match (a missing file, a file from another save) is refused at load,
naming both files. ``<stem>.weights.npz`` is the older sidecar: read when a project has no
reference, removed by its next save.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..document.document import Document
from ..schema.errors import ProjectFileError
from .atomic import TEMP_SUFFIX, write_atomically

REF_KEY = "weights"
LEGACY_SUFFIX = ".weights.npz"
NAME_DIGITS = 16
_HEX64 = re.compile(r"[0-9a-f]{64}")
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)


@dataclass(frozen=True)
class WeightsRef:
    """The weights file a project was saved with: a name beside it and the arrays' hash."""

    file: str
    sha256: str

    def record(self) -> dict[str, str]:
        return {"file": self.file, "sha256": self.sha256}


def read_ref(raw: Any, source: str) -> WeightsRef:
    """The project's ``"weights"`` entry, checked: a plain file name and a SHA-256."""
    if not isinstance(raw, dict) or set(raw) != {"file", "sha256"}:
        raise ProjectFileError(f'{source}: "{REF_KEY}" expected an object with "file" and '
                               f'"sha256"; received {_shown(raw)}')
    name, digest = raw["file"], raw["sha256"]
    if (not isinstance(name, str) or not name.endswith(".npz") or name.startswith(".")
            or "/" in name or "\\" in name or "\0" in name):
        raise ProjectFileError(f'{source}: "{REF_KEY}.file" expected the name of a .npz file '
                               f"beside the project; received {_shown(name)}")
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise ProjectFileError(f'{source}: "{REF_KEY}.sha256" expected 64 hex digits; '
                               f"received {_shown(digest)}")
    return WeightsRef(name, digest)


def _shown(value: Any) -> str:
    text = ascii(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ------------------------------------------------------------------ saving
def save_weights(doc: Document, project: Path, mode: int) -> WeightsRef | None:
    """Write the weights of the document's current layers under their content name (kept
    when a whole file of that content is already there); None when there are none."""
    import numpy as np  # lazy: only weights need NumPy

    live = _layer_ids(doc)
    arrays = {f"{layer_id}/{i}": np.asarray(a) for layer_id, values in doc.weights.items()
              if layer_id in live for i, a in enumerate(values)}
    if not arrays:
        return None
    digest = content_hash(arrays)
    ref = WeightsRef(f"{project.stem}.weights-{digest[:NAME_DIGITS]}.npz", digest)
    target = project.with_name(ref.file)
    if not _holds(target, digest):
        write_atomically(target, lambda handle: np.savez(handle, **arrays), mode)
    return ref


def content_hash(arrays: Mapping[str, Any]) -> str:
    """SHA-256 over the arrays in key order: the same arrays give the same name whatever
    wrote them (an .npz file's bytes also hold a time stamp)."""
    import numpy as np  # lazy: only weights need NumPy

    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}\0{array.dtype.str}\0{array.shape}\0"
                      .encode("utf-8", "surrogatepass"))
        digest.update(array.tobytes())
    return digest.hexdigest()


def _holds(target: Path, digest: str) -> bool:
    try:
        return _read(target)[1] == digest
    except (ProjectFileError, *_READ_ERRORS):
        return False


# ------------------------------------------------------------------ loading
def load_weights(doc: Document, project: Path, ref: WeightsRef | None) -> None:
    """Set ``doc.weights`` from the file the project names (checked against its hash), or
    from the older ``<stem>.weights.npz`` when it names none; ids of removed layers are
    skipped."""
    if ref is None:
        legacy = legacy_path(project)
        if legacy.exists():
            doc.weights = _live(_read(legacy)[0], doc)
        return
    target = project.with_name(ref.file)
    if not target.exists():
        raise ProjectFileError(
            f"{project}: expected its weights in {target} (sha256 {ref.sha256[:NAME_DIGITS]}, "
            "written by the same save); that file is missing. Put it back beside the "
            f'project, or remove the "{REF_KEY}" entry to open the project without weights')
    weights, digest = _read(target)
    if digest != ref.sha256:
        raise ProjectFileError(
            f"{project}: expected the weights saved with it in {target} (sha256 "
            f"{ref.sha256[:NAME_DIGITS]}); received a file whose arrays have sha256 "
            f"{digest[:NAME_DIGITS]}, so the two come from different saves")
    doc.weights = _live(weights, doc)


def _read(target: Path) -> tuple[dict[str, dict[int, Any]], str]:
    """Layer id -> {index: array} for every array in the file, and their content hash."""
    import numpy as np  # lazy: only weights need NumPy

    try:
        with open(target, "rb") as handle:
            if handle.read(4) != b"PK\x03\x04":
                raise ValueError("not an .npz archive")
            handle.seek(0)
            with np.load(handle, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        weights: dict[str, dict[int, Any]] = {}
        for key, array in arrays.items():
            layer_id, _, index = key.rpartition("/")
            weights.setdefault(layer_id, {})[int(index)] = array
    except _READ_ERRORS as exc:
        raise ProjectFileError(f"{target}: expected the project's weights (.npz); it cannot "
                               f"be read ({exc})") from None
    return weights, content_hash(arrays)


def _live(weights: dict[str, dict[int, Any]], doc: Document) -> dict[str, list[Any]]:
    live = _layer_ids(doc)
    return {k: [v[i] for i in sorted(v)] for k, v in weights.items() if k in live}


def _layer_ids(doc: Document) -> set[str]:
    return {layer_id for _, graph in doc.graphs() for layer_id in graph.layers}


# ------------------------------------------------------------------ the folder
def legacy_path(project: Path) -> Path:
    """``model.json`` -> ``model.weights.npz``: where weights were kept before the hash."""
    return project.with_name(project.stem + LEGACY_SUFFIX)


def sweep(project: Path, keep: WeightsRef | None) -> list[Path]:
    """Remove this project's weights files other than ``keep`` and the temp files a killed
    save left (its own and its weights'); returns what was removed."""
    weights = rf"{re.escape(project.stem)}\.weights(?:-[0-9a-f]{{{NAME_DIGITS}}})?\.npz"
    ours = re.compile(weights)
    temps = re.compile(rf"\.(?:{re.escape(project.name)}|{weights})\.[a-z0-9_]+"
                       f"{re.escape(TEMP_SUFFIX)}")
    removed = []
    with os.scandir(project.parent) as entries:
        names = [entry.name for entry in entries]
    for name in names:
        if keep is not None and name == keep.file:
            continue
        if ours.fullmatch(name) or temps.fullmatch(name):
            with suppress(OSError):
                (project.parent / name).unlink()
                removed.append(project.parent / name)
    return removed


def remove_project(project: Path) -> None:
    """Delete a project file with its weights and temp files (an autosave no longer needed)."""
    with suppress(OSError):
        project.unlink()
    with suppress(OSError):
        sweep(project, None)
