"""Reading Keras model files: ``.keras`` archives, ``.h5`` files and model JSON.

Only the serialized architecture is read (``config.json``, the ``model_config``
attribute, the JSON text), never deserialized, so nothing in the file runs before the
graph converter has checked it. Weights are read only when asked, through Keras'
loader (in safe mode unless told otherwise).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from ...catalog.catalog import Catalog
from ...schema.errors import ModelImportError
from ..weights import capture_weights
from .graph import ImportResult, import_config
from .vocabulary import read_vocabularies


def import_file(path: str | os.PathLike[str], *, keep_weights: bool = False,
                safe_mode: bool = True, catalog: Catalog | None = None) -> ImportResult:
    """A document of the model in a ``.keras``, ``.h5`` or model JSON file."""
    target = Path(path)
    serialized = read_model_config(target)
    result = import_config(serialized, safe_mode=safe_mode, catalog=catalog, source=str(target))
    if not result.doc.meta.title:
        result.doc.meta.title = target.stem
    if target.suffix.lower() == ".keras":  # adapted vocabularies are assets, not config
        result.warnings += read_vocabularies(target, serialized, result.doc)
    if keep_weights:
        _keep_file_weights(result, target, safe_mode)
    return result


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
    except RecursionError:
        raise ModelImportError(f"{path}: expected a Keras model file; it is nested too deeply "
                               "to be one") from None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelImportError(f"{path}: cannot be read as a Keras model file ({exc})") from None
    return _check_model_record(data, path)


def _h5_config(path: Path) -> dict[str, Any]:
    import h5py  # lazy: only .h5 files need it

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
    import keras  # lazy: Keras only when weights are read, never at start-up

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as exc:  # Keras' loaders fail in many ways (e.g. raw ops in .h5 files)
        raise ModelImportError(
            f"{path}: the architecture imports, but Keras cannot load the file to read its "
            f"weights ({type(exc).__name__}: {str(exc)[:200]}); import it without weights, or "
            "save the model as .keras") from None
    result.doc.weights = capture_weights(model, result.doc)
