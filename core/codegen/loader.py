"""Build and compile a Keras model by running the generated source.

The model LayerForge trains is built from exactly the code the user exports. The
source is registered in :mod:`linecache` under its module's file name, so a
traceback through generated code shows the generated lines.
"""

from __future__ import annotations

import linecache
from types import ModuleType
from typing import Any

from ..document.document import Document
from ..schema.trust import UntrustedCodeError, untrusted_functions
from .model_code import PythonCode, generate


def load_generated(code: PythonCode, module_name: str = "layerforge_generated") -> ModuleType:
    """Execute generated source as a fresh module (never shared between calls). In a guarded
    process a module with code the user has not trusted is refused before it runs."""
    refused = untrusted_functions(code.source)
    if refused:
        shown = "; ".join(text[:80] for text in refused)
        raise UntrustedCodeError(
            f"expected code you trust; received a project whose Lambda layers run code that is "
            f"not trusted ({shown}): nothing was run. Trust the project (the app asks when it "
            "opens it; the command line takes --trust) to build it")
    module = ModuleType(module_name)
    filename = f"<{module_name}>"
    module.__dict__["__file__"] = filename
    # No mtime: checkcache() keeps entries without one, as there is no file to compare.
    linecache.cache[filename] = (len(code.source), None, code.source.splitlines(True), filename)
    exec(compile(code.source, filename, "exec"), module.__dict__)
    return module


def build_model(doc: Document) -> Any:
    """A ``keras.Model`` (functional) of the document's main graph."""
    return load_generated(generate(doc)).build_model()


def build_and_compile(doc: Document) -> Any:
    module = load_generated(generate(doc))
    return module.compile_model(module.build_model())
