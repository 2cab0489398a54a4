"""Writing each format and running it back in its own runtime.

A writer raises the converter's own exception when the converter refuses the model
(``ConverterRefused`` when a converter only logs it); a runner takes inputs by the model's
input names and returns the outputs in the model's output order.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .formats import LITERT, ONNX, SAVEDMODEL, TFLITE, ExportOptions, require

Runner = Callable[[dict[str, np.ndarray]], list[np.ndarray]]
SIGNATURE = "serving_default"


class ConverterRefused(Exception):
    """A converter that wrote a model it could not convert in full, and said so in its log."""


# ------------------------------------------------------------ writing
def write(model: Any, path: Path, options: ExportOptions) -> int | None:
    """Write the export to ``path``; returns the float32 TFLite size beside a quantised one."""
    if options.format == SAVEDMODEL:
        _quiet_export(model, path, "tf_saved_model")
        return None
    if options.format == ONNX:
        _write_onnx(model, path, options.opset)
        return None
    return _write_tflite(model, path, options.quantize)


def _quiet_export(model: Any, path: Path, fmt: str, **kwargs: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(os.fspath(path), format=fmt, verbose=False, **kwargs)


def _write_onnx(model: Any, path: Path, opset: int | None) -> None:
    # Keras' own ONNX export (tf2onnx underneath) logs unsupported ops and still writes a
    # model that no runtime loads: those log lines are the converter's refusal.
    with _errors_logged("tf2onnx") as errors, quiet_stderr():
        _quiet_export(model, path, "onnx", **({"opset_version": opset} if opset else {}))
    refused = [e for e in errors if "nsupported" in e or "ailed to convert" in e]
    if refused:
        raise ConverterRefused("\n".join(refused))


@contextlib.contextmanager
def _errors_logged(name: str) -> Iterator[list[str]]:
    found: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found.append(record.getMessage())

    logger, handler = logging.getLogger(name), Keep(logging.ERROR)
    logger.addHandler(handler)
    try:
        yield found
    finally:
        logger.removeHandler(handler)


def _write_tflite(model: Any, path: Path, quantize: str | None) -> int | None:
    import tensorflow as tf  # lazy: only exports convert with TensorFlow

    with tempfile.TemporaryDirectory(prefix="layerforge-tflite-") as folder:
        saved = Path(folder) / "saved_model"
        _quiet_export(model, saved, "tf_saved_model")
        plain = _convert(tf, saved, None)
        data = _convert(tf, saved, quantize) if quantize else plain
    path.write_bytes(data)
    return len(plain) if quantize else None


def _convert(tf: Any, saved: Path, quantize: str | None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(os.fspath(saved))
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic-range int8 weights
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    with quiet_stderr():
        return bytes(converter.convert())


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Converters print their errors straight to the process's stderr before raising the
    same text: the refusal is reported once, from the exception."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


# ------------------------------------------------------------ running back
def runner(path: Path, options: ExportOptions, inputs: list[str], outputs: int) -> Runner:
    """Load the written export in its runtime (the loading itself may refuse it)."""
    if options.format == SAVEDMODEL:
        return _savedmodel_runner(path, inputs, outputs)
    if options.format == TFLITE:
        return _tflite_runner(path, inputs, outputs)
    return _onnx_runner(path, inputs)


def _by_name(given: dict[str, np.ndarray], wanted: list[str], model_inputs: list[str]
             ) -> dict[str, np.ndarray]:
    """The runtime's input names from the model's: the same names, else (a runtime that
    renamed them) the same order."""
    if set(wanted) >= set(given):
        return {name: given[name] for name in given}
    return {w: given[m] for w, m in zip(wanted, model_inputs, strict=True)}


def _indexed(result: dict[str, Any], outputs: int) -> list[np.ndarray]:
    """``output_0``, ``output_1``... (Keras' serving signature) in the model's order."""
    keys = [f"output_{i}" for i in range(outputs)]
    if all(k in result for k in keys):
        return [np.asarray(result[k]) for k in keys]
    return [np.asarray(result[k]) for k in sorted(result)]


def _savedmodel_runner(path: Path, inputs: list[str], outputs: int) -> Runner:
    import tensorflow as tf  # lazy: only exports run TensorFlow

    loaded = tf.saved_model.load(os.fspath(path))
    signature = loaded.signatures[SIGNATURE]
    wanted = list(signature.structured_input_signature[1])

    def run(x: dict[str, np.ndarray]) -> list[np.ndarray]:
        feed = _by_name(x, wanted, inputs)
        return _indexed({k: v.numpy() for k, v in signature(
            **{k: tf.constant(v) for k, v in feed.items()}).items()}, outputs)

    return run


def _tflite_runner(path: Path, inputs: list[str], outputs: int) -> Runner:
    interpreter = _interpreter(path)
    signature = interpreter.get_signature_runner(SIGNATURE)
    wanted = list(interpreter.get_signature_list()[SIGNATURE]["inputs"])
    types = {k: d["dtype"] for k, d in signature.get_input_details().items()}

    def run(x: dict[str, np.ndarray]) -> list[np.ndarray]:
        feed = {k: v.astype(types.get(k, v.dtype)) for k, v in _by_name(x, wanted, inputs).items()}
        with quiet_stderr():  # the interpreter's XNNPACK line on its first run
            return _indexed(signature(**feed), outputs)

    return run


def _interpreter(path: Path) -> Any:
    """LiteRT's interpreter when installed, else TensorFlow's (deprecated there, still
    shipped with TF 2.21); one message naming the package when neither is there."""
    try:
        interpreter = importlib.import_module(LITERT[0]).Interpreter
    except ImportError:
        interpreter = _tensorflow_interpreter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TF's interpreter says it is deprecated
        return interpreter(model_path=os.fspath(path))


def _tensorflow_interpreter() -> Any:
    try:
        import tensorflow as tf  # lazy: only exports run TensorFlow

        return tf.lite.Interpreter
    except (ImportError, AttributeError):
        require(*LITERT)  # raises, naming the package
        raise


def _onnx_runner(path: Path, inputs: list[str]) -> Runner:
    ort = require("onnxruntime", "onnxruntime")
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    wanted = [i.name for i in session.get_inputs()]
    types = {i.name: i.type for i in session.get_inputs()}

    def run(x: dict[str, np.ndarray]) -> list[np.ndarray]:
        feed = {k: v.astype(_numpy_type(types[k], v.dtype))
                for k, v in _by_name(x, wanted, inputs).items()}
        return [np.asarray(r) for r in session.run(None, feed)]

    return run


def _numpy_type(onnx_type: str, current: Any) -> Any:
    known = {"tensor(float)": np.float32, "tensor(double)": np.float64,
             "tensor(int32)": np.int32, "tensor(int64)": np.int64}
    return known.get(onnx_type, current)
