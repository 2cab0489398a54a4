"""Reading JSON-able records (project files, settings, search spaces) with messages that name
the place in the file, what was expected and what was received."""

from __future__ import annotations

import json
from typing import Any

from .errors import ProjectFileError

TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", list: "a list",
              dict: "an object", bool: "true/false", type(None): "null"}
MISSING: Any = ...


def show(value: Any, width: int = 80) -> str:
    """A received value as the message shows it: JSON where it is JSON-able."""
    try:
        return json.dumps(value)[:width]
    except (TypeError, ValueError, RecursionError):
        return repr(value)[:width]


def kinds_of(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(TYPE_NAMES.get(k, k.__name__) for k in kinds_of(kind))


def is_kind(value: Any, kind: type | tuple[type, ...]) -> bool:
    """``isinstance``, except that true/false is not accepted where a number is expected."""
    kinds = kinds_of(kind)
    return isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool))


class RecordReader:
    """Checks records of one source; each failure raises ``error`` naming the place."""

    error: type[Exception] = ProjectFileError

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, expected: str, received: Any) -> Exception:
        return self.error(f"{self.source}: at {where}: expected {expected}; "
                          f"received {show(received)}")

    def expect(self, ok: bool, where: str, expected: str, received: Any) -> None:
        if not ok:
            raise self.fail(where, expected, received)

    def get(self, record: Any, key: str, kind: type | tuple[type, ...], where: str,
            default: Any = MISSING) -> Any:
        """``record[key]`` checked against ``kind``; missing is an error without a default."""
        if not isinstance(record, dict):
            raise self.fail(where, "an object", record)
        if key not in record:
            if default is MISSING:
                raise self.fail(f"{where}.{key}", f"a value ({kind_name(kind)})", None)
            return default
        value = record[key]
        if not is_kind(value, kind):
            raise self.fail(f"{where}.{key}", kind_name(kind), value)
        return value


# Deeper values are no parameter Keras takes; walking them would exhaust Python's stack
# in the code writer and in Keras' own config parsing.
MAX_DEPTH = 64


def text_error(text: str) -> str | None:
    """Why ``text`` cannot be saved as UTF-8 (a lone UTF-16 surrogate), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"text encodable as UTF-8; received {text[:40]!r} (character " \
               f"{exc.object[exc.start]!r} at position {exc.start} is half a UTF-16 pair)"
    return None


def value_problem(value: Any, where: str, max_depth: int = MAX_DEPTH) -> str | None:
    """The first string that UTF-8 cannot hold, or nesting deeper than ``max_depth``, in a
    JSON-like value, as 'at PLACE: expected ...; received ...'; None when there is none.
    Iterative, so any depth is reported rather than overflowing the stack."""
    todo: list[tuple[Any, str, int]] = [(value, where, 0)]
    while todo:
        current, place, depth = todo.pop()
        place = place if len(place) < 100 else f"{place[:40]}...{place[-40:]}"
        if isinstance(current, str):
            problem = text_error(current)
            if problem is not None:
                return f"at {place or 'the top level'}: expected {problem}"
            continue
        if not isinstance(current, dict | list):
            continue
        if depth >= max_depth:
            return (f"at {place or 'the top level'}: expected values nested at most "
                    f"{max_depth} deep; received deeper nesting")
        items = current.items() if isinstance(current, dict) else enumerate(current)
        for key, item in items:
            if isinstance(key, str):
                problem = text_error(key)
                if problem is not None:
                    return f"at {place or 'the top level'}: expected a key {problem}"
                todo.append((item, f"{place}.{key}" if place else key, depth + 1))
            else:
                todo.append((item, f"{place}[{key}]", depth + 1))
    return None
