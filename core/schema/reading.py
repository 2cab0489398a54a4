"""Reading JSON-able records (project files, settings, search spaces) with messages that name
the place in the file, what was expected and what was received."""

from __future__ import annotations

import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Unfit:
    """The first thing in a JSON-like value that a project file cannot hold: nesting deeper
    than allowed, or text with an unpaired UTF-16 surrogate (no UTF-8 file can store it)."""

    place: tuple[Any, ...]  # the keys and list indexes down to it
    too_deep: bool = False
    text: str = ""  # the text that cannot be stored (a value, or a key when ``in_key``)
    in_key: bool = False
    position: int = 0  # of the first character UTF-8 cannot encode


def first_unfit(value: Any, max_depth: int) -> Unfit | None:
    """Walk ``value`` without recursion (it may be deep) for what a file cannot hold."""
    todo: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while todo:
        current, place = todo.pop()
        if isinstance(current, str):
            at = unencodable_at(current)
            if at is not None:
                return Unfit(place, text=current, position=at)
            continue
        if not isinstance(current, dict | list | tuple):
            continue
        if len(place) >= max_depth:
            return Unfit(place, too_deep=True)
        if not isinstance(current, dict):
            todo.extend((item, (*place, i)) for i, item in enumerate(current))
            continue
        for key, item in current.items():
            at = unencodable_at(key) if isinstance(key, str) else None
            if at is not None:
                return Unfit(place, text=key, in_key=True, position=at)
            todo.append((item, (*place, key)))
    return None


def unencodable_at(text: str) -> int | None:
    """Where UTF-8 first fails on ``text`` (a lone surrogate), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def value_problem(value: Any, where: str, max_depth: int = MAX_DEPTH) -> str | None:
    """The first string that UTF-8 cannot hold, or nesting deeper than ``max_depth``, in a
    JSON-like value, as 'at PLACE: expected ...; received ...'; None when there is none."""
    unfit = first_unfit(value, max_depth)
    if unfit is None:
        return None
    place = _dotted(where, unfit.place) or "the top level"
    if unfit.too_deep:
        return (f"at {place}: expected values nested at most {max_depth} deep; received "
                "deeper nesting")
    key = "a key " if unfit.in_key else ""
    return (f"at {place}: expected {key}text encodable as UTF-8; received "
            f"{unfit.text[:40]!r} (character {unfit.text[unfit.position]!r} at position "
            f"{unfit.position} is half a UTF-16 pair)")


def _dotted(where: str, parts: tuple[Any, ...]) -> str:
    """``where.key[0].key``, kept short the way a long place is shown: its start and end."""
    place = _trimmed(where)
    for part in parts:
        if isinstance(part, str):
            place = _trimmed(f"{place}.{part}" if place else part)
        else:
            place = _trimmed(f"{place}[{part}]")
    return place


def _trimmed(place: str) -> str:
    return place if len(place) < 100 else f"{place[:40]}...{place[-40:]}"
