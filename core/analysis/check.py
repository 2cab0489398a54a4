"""The full check: build the model from the generated source, as compile does.

It catches what the live pass cannot (e.g. Concatenate of mismatched spatial
sizes), and puts Keras' error on the node whose line raised it.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from ..codegen.loader import load_generated
from ..codegen.model_code import CodegenError, PythonCode, generate
from ..document.document import MAIN, Document
from ..document.trust import untrusted_diagnostics
from ..schema.diagnostics import Diagnostic, errors
from .keras_calls import keras_message
from .validation import validate

MODULE = "layerforge_generated"
# The code of the diagnostics that come from building the whole model.
KERAS_CODE = "keras"


@dataclass
class CheckResult:
    model: Any | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    code: PythonCode | None = None

    @property
    def ok(self) -> bool:
        return not errors(self.diagnostics)


def full_check(doc: Document) -> CheckResult:
    """Structural validation, then a symbolic build of the generated model. A model with
    code the user has not trusted is not built: a warning on each such node says why."""
    found = validate(doc)
    if errors(found):
        return CheckResult(None, found)
    untrusted = untrusted_diagnostics(doc)
    if untrusted:
        return CheckResult(None, [*found, *untrusted])
    try:
        code = generate(doc)
    except CodegenError as exc:
        return CheckResult(None, [*found, Diagnostic(MAIN, "error", str(exc), "codegen")])
    try:
        model = load_generated(code, MODULE).build_model()
    except Exception as exc:  # any Keras failure becomes a diagnostic on its node
        return CheckResult(None, [*found, _build_diagnostic(code, exc)], code)
    return CheckResult(model, found, code)


def _build_diagnostic(code: PythonCode, exc: BaseException) -> Diagnostic:
    owner = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == f"<{MODULE}>" and frame.lineno in code.line_nodes:
            owner = code.line_nodes[frame.lineno]
    graph_key, target = owner if owner else (MAIN, MAIN)
    return Diagnostic(target, "error", keras_message(exc), KERAS_CODE, graph_key)
