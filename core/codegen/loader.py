"""Build and compile a Keras model by running the generated source.

The model LayerForge trains is built from exactly the code the user exports. The
source is registered in :mod:`linecache` under its module's file name, so a
traceback through generated code shows the generated lines.
"""

from __future__ import annotations

import functools
import linecache
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ..document.document import Document
from ..schema.trust import UntrustedCodeError, untrusted_functions
from .model_code import PythonCode, generate

# Frames Keras' graph walk takes per layer, with room to spare.
FRAMES_PER_NODE = 12


def load_generated(code: PythonCode, module_name: str = "layerforge_generated") -> ModuleType:
    """Execute generated source as a fresh module (never shared between calls). In a guarded
    process a module with code the user has not trusted is refused before it runs."""
    refused = untrusted_functions(code.source)
    if refused:
        shown = "; ".join(text[:80] for text in refused)
        raise UntrustedCodeError(
            f"expected code you trust; received a project whose code (Lambda layers, custom "
            f"layer modules, SavedModels) is not trusted ({shown}): nothing was run. Trust the "
            "project (the app asks when it opens it; the command line takes --trust) to build it")
    module = ModuleType(module_name)
    filename = f"<{module_name}>"
    module.__dict__["__file__"] = filename
    # No mtime: checkcache() keeps entries without one, as there is no file to compare.
    linecache.cache[filename] = (len(code.source), None, code.source.splitlines(True), filename)
    exec(compile(code.source, filename, "exec"), module.__dict__)
    if callable(module.__dict__.get("build_model")):
        module.build_model = _with_room(module.build_model, len(code.line_nodes))
    return module


def _with_room(build: Callable[[], Any], nodes: int) -> Callable[[], Any]:
    """Keras walks a functional graph recursively, a few frames per layer: a long valid
    chain (thousands of layers) needs more than Python's default recursion limit."""

    @functools.wraps(build)
    def build_model() -> Any:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, limit + FRAMES_PER_NODE * nodes))
        try:
            return build()
        finally:
            sys.setrecursionlimit(limit)

    return build_model


def build_model(doc: Document) -> Any:
    """A ``keras.Model`` (functional) of the document's main graph."""
    return load_generated(generate(doc)).build_model()


def build_and_compile(doc: Document) -> Any:
    module = load_generated(generate(doc))
    return module.compile_model(module.build_model())
