"""Project files: a document's records (``document.records``) as JSON text on disk, with
its weights in a file beside it (``weights_file``).

A save is all or nothing for the pair: the weights are written under a content-addressed
name first, then the project replaces the old one atomically (temp file, fsync, rename) and
names that file and its hash; then the files no longer referred to are swept. Reading a file
that is not a project raises one :class:`ProjectFileError` saying what was received instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..catalog.catalog import Catalog
from ..document.document import Document
from ..document.records import from_records, to_records
from ..schema.errors import ProjectFileError
from .atomic import mode_for, write_atomically
from .json_text import PROJECT_TEXT, encode, parse
from .weights_file import REF_KEY, WeightsRef, load_weights, read_ref, save_weights, sweep


def dumps(doc: Document) -> str:
    """The project text (what ``save`` writes, less the weights reference), unchecked."""
    return json.dumps(to_records(doc), indent=1, ensure_ascii=False) + "\n"


def save(doc: Document, path: str | os.PathLike[str]) -> None:
    """Write the project and its weights as one unit: a crash at any moment leaves the old
    pair or the new pair. New files take the mode of the project's existing file."""
    target = Path(path)
    records = to_records(doc, target.parent)
    text = encode(records, str(target))  # refuses unsavable text before anything is written
    mode = mode_for(target)
    ref = save_weights(doc, target, mode)
    if ref is not None:
        text = encode({**records, REF_KEY: ref.record()}, str(target))
    write_atomically(target, text, mode)
    sweep(target, ref)


def load(path: str | os.PathLike[str], catalog: Catalog | None = None) -> Document:
    target = Path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectFileError(f"{target}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ProjectFileError(
            f"{target}: expected {PROJECT_TEXT}; received binary data, not text (byte "
            f"0x{exc.object[exc.start]:02x} at offset {exc.start}), so it cannot be read"
        ) from None
    except OSError as exc:
        raise ProjectFileError(f"{target}: cannot be read ({exc.strerror or exc})") from None
    data = parse(text, str(target))
    raw_ref = _take_ref(data)
    doc = from_records(data, str(target), catalog)
    load_weights(doc, target, _checked_ref(raw_ref, str(target)))
    return doc


def loads(text: str, source: str = "<project>", catalog: Catalog | None = None) -> Document:
    """A document from project text; a weights reference is checked but not followed (text
    alone has no folder to read the weights from)."""
    data = parse(text, source)
    raw_ref = _take_ref(data)
    doc = from_records(data, source, catalog)
    _checked_ref(raw_ref, source)
    return doc


_ABSENT = object()


def _take_ref(data: Any) -> Any:
    """Remove the weights reference from the data (the document's records do not hold it);
    it is checked after them, so a file that is no project is refused as such first."""
    return data.pop(REF_KEY, _ABSENT) if isinstance(data, dict) else _ABSENT


def _checked_ref(raw: Any, source: str) -> WeightsRef | None:
    return None if raw is _ABSENT else read_ref(raw, source)
