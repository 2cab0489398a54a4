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
