"""The source text of the helpers exported modules contain, exactly as the app runs them.

Portable functions (:mod:`.portable` and the loaders of
:mod:`core.schema.data_sources`) are read with ``inspect``; the activation logger,
whose module imports Keras, is read from its file with ``ast`` and never imported.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..schema.data_sources import DATA_SOURCES
from . import portable

ACTIVATION_LOGGER = Path(__file__).with_name("activation_logger.py")
# Imports the exported module makes at its top, dropped from the helpers' bodies.
LOCAL_IMPORT = re.compile(r"^ *import (keras|os|csv|numpy as np)\b.*\n(\n(?= ))?", re.MULTILINE)


def helper_source(name: str) -> str:
    """A portable function's or the activation logger's source, as the exported module holds
    it: no type-checker comments, no imports the module makes at its top."""
    if name == "ActivationLogger":
        source = _class_source(ACTIVATION_LOGGER, name)
    else:
        source = textwrap.dedent(inspect.getsource(_portable_functions()[name]))
    source = re.sub(r"  # (type: ignore\[[^\]]*\]|noqa: \w+)", "", source)
    return LOCAL_IMPORT.sub("", source)


def _class_source(path: Path, name: str) -> str:
    """A class's source read from its file: the module itself (Keras at its top) is never
    imported while exporting."""
    text = path.read_text(encoding="utf-8")
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == name)
    return "\n".join(text.splitlines()[node.lineno - 1:node.end_lineno]) + "\n"


def _portable_functions() -> dict[str, Callable[..., Any]]:
    found = {name: fn for name, fn in vars(portable).items()
             if inspect.isfunction(fn) and fn.__module__ == portable.__name__}
    found.update({kind.loader.__name__: kind.loader for kind in DATA_SOURCES.values()
                  if kind.loader is not None})
    return found


def helper_names() -> set[str]:
    return {*_portable_functions(), "ActivationLogger"}
