"""A checked export: build the project's model with its weights, write one format, load it
back in that format's runtime, and compare its outputs with Keras' on the same samples.

The export is written beside its target under a temporary name and moved into place only
once it has been loaded back and run, so a refused model leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..codegen.portable import string_tensors
from ..document.document import Document
from .failures import failure_from
from .formats import (
    DeployError,
    ExportOptions,
    ExportReport,
    require_runtimes,
)
from .samples import Samples, accuracy, check_samples, deploy_model
from .writers import Runner, runner, write

BATCH = 256  # samples per call when the accuracy runs over the validation data
UNKNOWN_LOCATION = "<unknown>:0: error: "  # MLIR's prefix on the TFLite converter's lines


def export_checked(doc: Document, path: str | os.PathLike[str], options: ExportOptions,
                   samples: Samples | None = None, model: Any = None) -> ExportReport:
    """Write ``doc``'s model to ``path`` in ``options.format`` and check it against Keras.
    Raises DeployError (with ``failure`` set when a converter refused a layer)."""
    require_runtimes(options.format)
    target = writable_target(Path(path), options.format)
    model = deploy_model(doc) if model is None else model
    samples = check_samples(doc, model) if samples is None else samples
    inputs = [t.name for t in model.inputs]
    reference = keras_outputs(model, samples.x)  # also: Keras' ONNX export needs one call
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _remove(partial)
    try:
        started = time.perf_counter()
        float_size = _converted(doc, model, partial, options)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        run = _loaded(doc, partial, options, inputs, len(model.outputs))
        exported = run(samples.x)
        report = ExportReport(
            options.format, os.fspath(target), 0, seconds, 0.0, samples.count,
            samples.source, _differences(model, reference, exported), options.quantize,
            options.opset, float_size_bytes=float_size)
        if options.quantized and samples.val_y:
            report.accuracy = _accuracy_change(doc, model, run, samples)
        report.check_seconds = time.perf_counter() - started
        _move(partial, target)
    finally:
        _remove(partial)
    report.size_bytes = size_of(target)
    return report


def writable_target(path: Path, fmt: str) -> Path:
    """The output path, or one message saying why it cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise DeployError(f"expected an output path in an existing folder; received '{path}' "
                          f"(no folder {parent})")
    if not os.access(parent, os.W_OK):
        raise DeployError(f"expected a writable output path; received '{path}' ({parent} is "
                          "not writable)")
    if path.is_dir() and fmt != "savedmodel":
        raise DeployError(f"expected a file path for a {fmt} export; received '{path}', a "
                          "folder")
    if path.exists() and not path.is_dir() and fmt == "savedmodel":
        raise DeployError(f"expected a folder path for a SavedModel; received '{path}', an "
                          "existing file")
    return path


def _converted(doc: Document, model: Any, partial: Path, options: ExportOptions) -> int | None:
    try:
        return write(model, partial, options)
    except DeployError:
        raise
    except OSError as exc:
        raise DeployError(f"expected a writable output path; writing {partial.parent} failed "
                          f"({exc.strerror or exc})") from None
    except Exception as exc:  # each converter refuses a model in its own way
        failure = failure_from(doc, options.format, _converter_text(exc))
        raise DeployError(failure.describe(), failure) from None


def _loaded(doc: Document, partial: Path, options: ExportOptions, inputs: list[str],
            outputs: int) -> Runner:
    """The runtime loading a converted file can be the first to refuse an op in it."""
    try:
        return runner(partial, options, inputs, outputs)
    except DeployError:
        raise
    except Exception as exc:
        failure = failure_from(doc, options.format, _converter_text(exc))
        raise DeployError(failure.describe(), failure) from None


def _converter_text(exc: BaseException) -> str:
    """The converter's own words: its error lines when it prints pages of context."""
    text = str(exc).strip() or type(exc).__name__
    errors = [line.replace(UNKNOWN_LOCATION, " ").strip() for line in text.splitlines()
              if "error" in line.lower()]
    return "\n".join(errors) if 0 < len(errors) < len(text.splitlines()) else text


# ------------------------------------------------------------ comparing
def keras_outputs(model: Any, x: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Keras' outputs, in the model's output order."""
    import keras  # lazy: Keras takes seconds to import

    names = [t.name for t in model.inputs]
    feed = string_tensors({n: x[n] for n in names})
    result = model(feed if len(names) > 1 else feed[names[0]], training=False)
    if isinstance(result, dict):
        result = [result[n] for n in model.output_names]
    elif not isinstance(result, (list, tuple)):
        result = [result]
    return [np.asarray(keras.ops.convert_to_numpy(r)) for r in result]


def _differences(model: Any, reference: list[np.ndarray], exported: list[np.ndarray]
                 ) -> dict[str, float]:
    found: dict[str, float] = {}
    for name, want, got in zip(model.output_names, reference, exported, strict=True):
        if want.shape != got.shape:
            raise DeployError(f"output '{name}': expected shape {want.shape} from the export, "
                              f"as Keras gives; received {got.shape}")
        diff = np.abs(want.astype(np.float64) - got.astype(np.float64))
        found[name] = float(diff.max()) if diff.size else 0.0
    return found


def _accuracy_change(doc: Document, model: Any, run: Runner, samples: Samples
                     ) -> dict[str, dict[str, float]]:
    count = len(next(iter(samples.val_x.values())))
    keras_parts: list[list[np.ndarray]] = []
    export_parts: list[list[np.ndarray]] = []
    for start in range(0, count, BATCH):
        batch = {n: a[start:start + BATCH] for n, a in samples.val_x.items()}
        keras_parts.append(keras_outputs(model, batch))
        export_parts.append(run(batch))
    found: dict[str, dict[str, float]] = {}
    for i, name in enumerate(model.output_names):
        if name not in samples.val_y:
            continue
        target = samples.val_y[name]
        before = accuracy(doc, name, np.concatenate([p[i] for p in keras_parts]), target)
        after = accuracy(doc, name, np.concatenate([p[i] for p in export_parts]), target)
        if before is not None and after is not None:
            found[name] = {"keras": before, "export": after, "change": after - before,
                           "samples": float(count)}
    return found


# ------------------------------------------------------------ files
def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def _move(partial: Path, target: Path) -> None:
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(partial, target)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()
