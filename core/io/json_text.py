"""Project JSON text: parsed with one clear error per fault of the text itself, and written
only when all of it can be.

What ``json`` lets through but a project cannot hold is refused at load, naming the place:
an integer literal longer than Python converts (``json.loads`` raises a bare ValueError),
nesting deeper than the writer's recursion reaches, and strings with unpaired surrogates
(``"\\ud800"``), which no UTF-8 file can store, so a later save would fail.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from ..schema.errors import ProjectFileError
from ..schema.reading import first_unfit

PROJECT_TEXT = "a LayerForge project file (JSON text)"
# A project nests about 10 levels (graph, layers, params, an initializer's config); the
# writer (``json.dumps`` with an indent recurses in Python) fails near 300.
MAX_DEPTH = 100
_SURROGATE = re.compile("[\ud800-\udfff]")


def parse(text: str, source: str) -> Any:
    """JSON data that a project can hold, or one ProjectFileError saying what is wrong."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ProjectFileError(f"{source}: expected a JSON project file; it is nested too deeply "
                               "to be one") from None
    except json.JSONDecodeError as exc:
        raise ProjectFileError(f"{source}: expected {PROJECT_TEXT}; received "
                               f"{_json_problem(text, exc)}") from None
    except ValueError:  # json.loads' only other ValueError: int() of a too-long literal
        raise ProjectFileError(f"{source}: expected numbers of at most "
                               f"{sys.get_int_max_str_digits()} digits; received "
                               f"{_huge_number(text)}") from None
    check_tree(data, source)
    return data


def _json_problem(text: str, exc: json.JSONDecodeError) -> str:
    """What a reader found instead of JSON: nothing, text cut short, or other text."""
    if not text.strip():
        return "an empty file (not valid JSON)"
    where = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
        return f"text that ends before the JSON does (not valid JSON at {where}): was it cut short?"
    return f"text that is not valid JSON ({where})"


def _huge_number(text: str) -> str:
    limit = sys.get_int_max_str_digits()
    found = re.search(rf"(?<![\w.+-])-?\d{{{limit + 1},}}(?![\w.])", text)
    if found is None:
        return "an integer literal longer than that"
    line = text.count("\n", 0, found.start()) + 1
    column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
    digits = len(found.group().lstrip("-"))
    return f"an integer of {digits} digits at line {line}, column {column}"


def check_tree(data: Any, source: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH and text that cannot be written as UTF-8,
    naming the place."""
    unfit = first_unfit(data, MAX_DEPTH)
    if unfit is None:
        return
    if unfit.too_deep:
        raise ProjectFileError(f"{source}: expected a project nested at most {MAX_DEPTH} "
                               f"levels deep; received deeper nesting at {_place(unfit.place)}")
    place, what = ((*unfit.place, unfit.text), " (a key)") if unfit.in_key else (unfit.place, "")
    raise ProjectFileError(
        f"{source}: {_place(place)}{what}: expected text that can be saved as UTF-8; "
        f"received {_shown(unfit.text)}, which holds an unpaired surrogate "
        f"(\\u{ord(unfit.text[unfit.position]):04x})")


def _place(place: tuple[str | int, ...]) -> str:
    if not place:
        return "the top level"
    parts = [f"[{p}]" if isinstance(p, int)
             else f".{_shown(p) if _SURROGATE.search(str(p)) else p}" for p in place]
    if len(parts) > 8:  # deep nesting: the start, the end and how deep
        parts = [*parts[:5], f"...({len(parts)} levels)...", *parts[-2:]]
    return "".join(parts).lstrip(".")


def _shown(text: str) -> str:
    shown = ascii(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def encode(data: Any, source: str) -> bytes:
    """The project text of ``data`` as UTF-8 bytes. What ``parse`` would refuse is refused
    here too, naming the place, before anything is written: a save never writes a file that
    cannot be opened, and never fails halfway with a UnicodeEncodeError."""
    check_tree(data, source)
    try:
        return (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    except (UnicodeEncodeError, RecursionError) as exc:  # in values check_tree does not walk
        raise ProjectFileError(f"{source}: cannot be saved: expected text that UTF-8 can "
                               f"store, nested at most {MAX_DEPTH} levels; received "
                               f"{type(exc).__name__}: {exc}") from None
