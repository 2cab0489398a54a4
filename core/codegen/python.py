"""Python source text: literals, legal identifiers and calls wrapped to the line width.

Every user-supplied string reaches generated code only through :func:`literal` (a
``repr``) or :class:`Namespace` (a legal, unique identifier), never raw.
"""

from __future__ import annotations

import builtins
import keyword
import re
import unicodedata
from typing import Any

from ..schema.errors import LayerForgeError
from ..schema.reading import MAX_DEPTH

RESERVED = {"keras", "layers", "ops", "build_model", "compile_model", "model", "inputs",
            "outputs", "np", "name"}
MAX_IDENTIFIER = 40
LINE_WIDTH = 100
INDENT = "    "


class CodegenError(LayerForgeError):
    """The graph cannot be written as code (e.g. it has no inputs or outputs)."""


class Namespace:
    """Turns any user name into a unique, legal Python identifier (torch.fx style)."""

    def __init__(self, reserved: set[str] | None = None) -> None:
        self._used: set[str] = set(reserved or ())

    def create(self, name: str) -> str:
        base = self.sanitize(name)
        candidate, i = base, 1
        while candidate in self._used:
            candidate, i = f"{base}_{i}", i + 1
        self._used.add(candidate)
        return candidate

    @staticmethod
    def sanitize(name: str) -> str:
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        ident = re.sub(r"\W+", "_", ascii_name).strip("_").lower()[:MAX_IDENTIFIER].rstrip("_")
        if not ident:
            ident = "x"
        if ident[0].isdigit():
            ident = f"_{ident}"
        if keyword.iskeyword(ident) or keyword.issoftkeyword(ident) or hasattr(builtins, ident) \
                or ident in RESERVED:
            ident = f"{ident}_"
        return ident


def literal(value: Any, as_tuple: bool = False, depth: int = 0) -> str:
    """A Python literal for a JSON value (lists as tuples where Keras stores tuples)."""
    if depth > MAX_DEPTH:
        raise CodegenError(f"expected a parameter value nested at most {MAX_DEPTH} deep; "
                           "received deeper nesting")
    if value is None or isinstance(value, bool | str):
        return repr(value)
    if isinstance(value, int):
        try:
            return repr(value)
        except ValueError:  # over Python's 4,300-digit limit for int -> str
            raise CodegenError("expected an integer of at most 4,300 digits; received a "
                               "longer one") from None
    if isinstance(value, float):
        finite = value == value and abs(value) != float("inf")
        return repr(value) if finite else f"float({str(value)!r})"
    if isinstance(value, list | tuple):
        items = [literal(v, depth=depth + 1) for v in value]
        if as_tuple:
            return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
        return f"[{', '.join(items)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v, depth=depth + 1)}"
                               for k, v in value.items()) + "}"
    raise CodegenError(f"expected a JSON value in the project; received {type(value).__name__}")


def call_text(callee: str, args: list[str], then: list[str] | None = None) -> str:
    """``callee(args)`` on one line when it fits a function body, else one argument a line.

    ``then`` are the arguments of a second call on the result (a layer constructed, then
    called on tensors): the constructor's arguments are spread first, the tensors only if
    the line still does not fit.
    """
    one = f"{callee}({', '.join(args)})"
    if then is not None:
        fits = _fits(f"{one}({', '.join(then)})")
        return call_text(one if fits else _spread(callee, args), then)
    return one if not args or _fits(one) else _spread(callee, args)


def _fits(text: str) -> bool:
    return all(len(INDENT + line) <= LINE_WIDTH for line in text.splitlines())


def _spread(callee: str, args: list[str]) -> str:
    if not args:
        return f"{callee}()"
    return f"{callee}(\n" + "".join(f"{INDENT}{arg},\n" for arg in args) + ")"


def wrapped(head: str, args: list[str], tail: str = ")", indent: str = "") -> str:
    """``head(arg, ...)`` on one line when it fits (with room for a trailing comma), else one
    argument per line; ``indent`` is where the text starts within a function body."""
    line = f"{indent}{head}{', '.join(args)}{tail}"
    if len(INDENT + line) < LINE_WIDTH:
        return line
    inner = indent + INDENT
    return f"{indent}{head}\n" + "".join(f"{inner}{a},\n" for a in args) + f"{indent}{tail}"


def identifier(name: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise CodegenError(f"expected a Python argument name; received {name!r}")
    return name

