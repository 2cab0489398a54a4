"""What a checked export is asked for and what it answers: the formats, their options, the
report of the check, the structured failure of a converter, and the runtime packages.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

from ..schema.errors import LayerForgeError

SAVEDMODEL, TFLITE, ONNX = "savedmodel", "tflite", "onnx"
DEPLOY_FORMATS = (SAVEDMODEL, TFLITE, ONNX)
QUANTIZATIONS = ("float16", "int8")  # TFLite only: float16 weights; dynamic-range int8
# Keras' ONNX export leaves the opset to tf2onnx when none is given.
DEFAULT_OPSET: int | None = None
MIN_OPSET, MAX_OPSET = 9, 18
TOLERANCE = 1e-4  # max abs difference against Keras for a float32 export to pass
CHECK_SAMPLES = 32
SUFFIXES = {SAVEDMODEL: "", TFLITE: ".tflite", ONNX: ".onnx"}


class DeployError(LayerForgeError):
    """A checked export that could not be written or run back; ``failure`` says which layer
    the converter refused, when it refused one."""

    def __init__(self, message: str, failure: ExportFailure | None = None) -> None:
        super().__init__(message)
        self.failure = failure


@dataclass(frozen=True)
class ExportOptions:
    format: str
    quantize: str | None = None
    opset: int | None = DEFAULT_OPSET

    def __post_init__(self) -> None:
        check_options(self.format, self.quantize, self.opset)

    @property
    def quantized(self) -> bool:
        return self.quantize is not None


def check_options(fmt: str, quantize: str | None, opset: int | None) -> None:
    """One clear message for a format or option that does not exist or does not apply."""
    if fmt not in DEPLOY_FORMATS:
        raise DeployError(f"expected a format among {', '.join(DEPLOY_FORMATS)}; "
                          f"received {fmt!r}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise DeployError(f"expected a quantisation among {', '.join(QUANTIZATIONS)}; "
                          f"received {quantize!r}")
    if quantize is not None and fmt != TFLITE:
        raise DeployError(f"expected --quantize only with --format {TFLITE}; received it with "
                          f"--format {fmt}")
    if opset is not None and fmt != ONNX:
        raise DeployError(f"expected --opset only with --format {ONNX}; received it with "
                          f"--format {fmt}")
    if opset is not None and not MIN_OPSET <= opset <= MAX_OPSET:
        raise DeployError(f"expected an ONNX opset from {MIN_OPSET} to {MAX_OPSET}; "
                          f"received {opset}")


@dataclass(frozen=True)
class ExportFailure:
    """A converter refused the model: the layer it names (None when its text names none the
    project has) and the converter's own text."""

    format: str
    layer: str | None  # the project's layer name
    message: str
    node_id: str | None = None  # the call node that shows it on the canvas
    graph_key: str = "main"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        where = f"layer '{self.layer}'" if self.layer else \
            "a layer the converter's message does not name"
        return f"the {self.format} converter refused {where}: {self.message}"


@dataclass
class ExportReport:
    """The check of one written export against Keras on the same samples."""

    format: str
    path: str
    size_bytes: int
    seconds: float  # writing and converting
    check_seconds: float  # loading back and running the samples
    samples: int
    data: str  # where the samples came from
    max_abs_diff: dict[str, float] = field(default_factory=dict)  # per output
    quantize: str | None = None
    opset: int | None = None
    tolerance: float = TOLERANCE
    # validation accuracy per classification output: Keras, the export, their difference
    accuracy: dict[str, dict[str, float]] = field(default_factory=dict)
    float_size_bytes: int | None = None  # the float32 TFLite file, beside a quantised one

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff.values(), default=0.0)

    @property
    def passed(self) -> bool | None:
        """Within the tolerance; None for a quantised export, which is not expected to be."""
        return None if self.quantize else self.worst <= self.tolerance

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "worst": self.worst}


def verdict(report: ExportReport) -> str:
    if report.passed is None:
        return f"quantised ({report.quantize}): differences reported, no pass/fail"
    return "pass" if report.passed else f"FAIL (over {report.tolerance:g})"


def format_report(report: ExportReport) -> str:
    """The lines the CLI prints and the dialog shows."""
    lines = [f"{report.format} export: {report.path}",
             f"size: {human_size(report.size_bytes)}"
             + (f" (float32: {human_size(report.float_size_bytes)})"
                if report.float_size_bytes else ""),
             f"time: {report.seconds:.2f} s to write, {report.check_seconds:.2f} s to check",
             f"checked on {report.samples} samples ({report.data})"]
    for name, diff in report.max_abs_diff.items():
        lines.append(f"output '{name}': max abs diff {diff:.3g}")
    for name, acc in report.accuracy.items():
        lines.append(f"output '{name}': accuracy {acc['keras']:.4f} in Keras, "
                     f"{acc['export']:.4f} exported (change {acc['change']:+.4f}) on "
                     f"{acc['samples']:.0f} validation samples")
    if report.quantize and not report.accuracy:
        lines.append("accuracy change: not measured (it needs validation data with labels for "
                     "a classification output: bind a data source in the training settings)")
    lines.append(f"result: {verdict(report)}")
    return "\n".join(lines)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


# ------------------------------------------------------------ runtime packages
RUNTIMES: dict[str, list[tuple[str, str]]] = {
    # (module, pip package): each format's converter and runtime beyond TensorFlow
    SAVEDMODEL: [],
    TFLITE: [],
    ONNX: [("tf2onnx", "tf2onnx"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime")],
}
LITERT = ("ai_edge_litert.interpreter", "ai-edge-litert")


def require(module: str, package: str) -> Any:
    """Import a runtime package, or one message naming what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DeployError(f"{package} is not installed: pip install {package}") from None


def require_runtimes(fmt: str) -> None:
    """Each package the format needs, found without importing it (tf2onnx imports
    TensorFlow: seconds before a missing package could be named)."""
    for module, package in RUNTIMES[fmt]:
        if not installed(module):
            raise DeployError(f"{package} is not installed: pip install {package}")


def installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None  # None: an import known to fail
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
