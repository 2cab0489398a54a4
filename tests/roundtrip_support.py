"""Keras -> .keras file -> import -> generated code -> Keras: checks that the model is the same.

Equal parameter count, equal layer configs (compared by layer name) and identical outputs on
a random batch once weights are copied by layer name. What may legitimately differ, and why:
the rebuilt model may have extra ``Identity`` layers (the code generator names an output that
is not the plain output of a layer of that name through ``Identity``, see
``codegen.emit_output``) and a public layer for each raw ``keras.ops`` call of the original
(``keras_import.ops``), named as the op; they hold no weights. Nothing else: names,
dtypes, initializer and regularizer configs, tuples, call arguments and nesting must all come
back as they were; a nested ``keras.Sequential`` comes back a Sequential with the same config
(its InputLayer included).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import keras
import numpy as np
import pytest

from layerforge.core.cli import main as cli
from layerforge.core.codegen import model_code as codegen
from layerforge.core.codegen.loader import load_generated
from layerforge.core.io.keras_import.files import import_file


def plain(config: dict[str, Any]) -> Any:
    return json.loads(json.dumps(config, default=str))


def is_model(layer: Any) -> bool:
    return isinstance(layer, keras.Model)


def assert_same_layers(original: Any, rebuilt: Any, where: str = "model") -> None:
    """Every layer of ``original`` exists in ``rebuilt`` with an equal config (nested
    models compared layer by layer); the only extra layers allowed are Identity renames and
    the layers standing for ``original``'s raw ops, by the op's name (``x + 3.0`` in
    MobileNetV3 comes back as ``Rescaling(offset=3.0, name='add')``)."""
    names = {layer.name for layer in original.layers}
    operations = getattr(original, "operations", original.layers)  # a Sequential has none
    raw_ops = {op.name for op in operations if not isinstance(op, keras.layers.Layer)}
    extra = [layer for layer in rebuilt.layers if layer.name not in names]
    assert all(type(layer).__name__ == "Identity" or layer.name in raw_ops for layer in extra), \
        f"{where}: unexpected extra layers {[layer.name for layer in extra]}"
    for layer in original.layers:
        twin = rebuilt.get_layer(layer.name)
        assert same_class(twin, layer), f"{where}/{layer.name}: class differs"
        if is_model(layer):
            assert_same_layers(layer, twin, f"{where}/{layer.name}")
            if isinstance(layer, keras.Sequential):  # its config holds its InputLayer too
                assert plain(twin.get_config()) == plain(layer.get_config()), \
                    f"{where}/{layer.name}: Sequential config differs"
            continue
        assert plain(twin.get_config()) == plain(layer.get_config()), \
            f"{where}/{layer.name}: config differs"


def same_class(twin: Any, layer: Any) -> bool:
    """The same class; for a class keras.applications defines for its own models
    (LayerScale, CustomScaleLayer), LayerForge's class of that name, which the export carries
    (``core/catalog/application_layers.py``)."""
    if type(twin) is type(layer):
        return True
    return type(layer).__module__.startswith("keras.src.applications.") and \
        type(twin).__name__ == type(layer).__name__


def copy_weights(original: Any, rebuilt: Any) -> int:
    copied = 0
    for layer in original.layers:
        twin = rebuilt.get_layer(layer.name)
        if is_model(layer):
            copied += copy_weights(layer, twin)
        elif layer.weights:
            twin.set_weights(layer.get_weights())
            copied += 1
    return copied


def random_batch(model: Any, rows: int = 2, length: int = 16) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    batch = []
    for tensor in model.inputs:
        shape = (rows, *(length if d is None else d for d in tensor.shape[1:]))
        if "string" in str(tensor.dtype):  # words a vocabulary may hold, and unknown ones
            words = np.array(["the", "a", "movie", "great", "zz", "[UNK]", ""])
            batch.append(np.array([" ".join(rng.choice(words, 5)) for _ in range(np.prod(shape))]
                                  ).reshape(shape))
        elif "int" in str(tensor.dtype):
            batch.append(rng.integers(0, 50, size=shape).astype(tensor.dtype))
        else:
            batch.append(rng.random(shape, dtype=np.float32))
    return batch


def predictions(model: Any, batch: list[np.ndarray]) -> list[np.ndarray]:
    out = model(batch if len(batch) > 1 else batch[0], training=False)
    return [np.asarray(o) for o in (out if isinstance(out, list | tuple) else [out])]


def assert_same_model(model: Any, rebuilt: Any, length: int = 16) -> None:
    """Same parameter count, same configs layer by layer, same outputs with copied weights."""
    assert rebuilt.count_params() == model.count_params()
    assert_same_layers(model, rebuilt)
    assert copy_weights(model, rebuilt) > 0
    batch = random_batch(model, length=length)
    for a, b in zip(predictions(model, batch), predictions(rebuilt, batch), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def assert_round_trip(model: Any, tmp_path: Path, length: int = 16) -> Any:
    """Through the importer and the code generator in this process; returns the document."""
    path = tmp_path / "model.keras"
    model.save(path)
    result = import_file(path)
    assert result.warnings == []
    rebuilt = load_generated(codegen.generate(result.doc)).build_model()
    assert_same_model(model, rebuilt, length)
    return result.doc


def assert_cli_round_trip(model: Any, tmp_path: Path, length: int = 16) -> Path:
    """Through `layerforge import` and `layerforge export --format py`, as a user runs them;
    returns the exported Python file."""
    saved, imported, exported = (tmp_path / "model.keras", tmp_path / "imported.json",
                                 tmp_path / "model.py")
    model.save(saved)
    assert cli.main(["import", str(saved), "-o", str(imported)]) == 0
    assert cli.main(["export", str(imported), "--format", "py", "-o", str(exported)]) == 0
    rebuilt = exported_module(exported).build_model()
    assert_same_model(model, rebuilt, length)
    return exported


def exported_module(path: Path) -> ModuleType:
    """The exported file run as a module, as `python -c "import model"` would."""
    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def marked(names: list[str], fast: set[str]) -> list[Any]:
    return [n if n in fast else pytest.param(n, marks=pytest.mark.slow) for n in names]
