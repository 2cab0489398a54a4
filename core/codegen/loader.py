"""Build and compile a Keras model by running the generated source.

The model LayerForge trains is built from exactly the code the user exports.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ..document.document import Document
from .model_code import PythonCode, generate


def load_generated(code: PythonCode, module_name: str = "layerforge_generated") -> ModuleType:
    """Execute generated source as a fresh module (never shared between calls)."""
    module = ModuleType(module_name)
    module.__dict__["__file__"] = f"<{module_name}>"
    exec(compile(code.source, f"<{module_name}>", "exec"), module.__dict__)
    return module


def build_model(doc: Document) -> Any:
    """A ``keras.Model`` (functional) of the document's main graph."""
    return load_generated(generate(doc)).build_model()


def build_and_compile(doc: Document) -> Any:
    module = load_generated(generate(doc))
    return module.compile_model(module.build_model())
