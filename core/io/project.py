"""Project files: a document's records (``document.records``) as JSON text on disk.

Saving is atomic (temp file, fsync, rename); weights go to a sidecar beside the file.
Reading a file that is not a project raises one :class:`ProjectFileError` saying what
was received instead.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..catalog.catalog import Catalog
from ..document.document import Document
from ..document.records import from_records, to_records
from ..schema.errors import ProjectFileError
from .weights import load_sidecar, save_sidecar

PROJECT_TEXT = "a LayerForge project file (JSON text)"


def dumps(doc: Document) -> str:
    return json.dumps(to_records(doc), indent=1, ensure_ascii=False) + "\n"


def save(doc: Document, path: str | os.PathLike[str]) -> None:
    """Write atomically: a crash mid-save leaves the old file intact."""
    target = Path(path)
    text = dumps(doc)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    save_sidecar(doc, target)  # <stem>.weights.npz beside the project, or none


def _mode_for(target: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual umask-based mode."""
    try:
        return target.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some file systems cannot open folders; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
    doc = loads(text, source=str(target), catalog=catalog)
    load_sidecar(doc, target)
    return doc


def loads(text: str, source: str = "<project>", catalog: Catalog | None = None) -> Document:
    try:
        data = json.loads(text)
    except RecursionError:
        raise ProjectFileError(f"{source}: expected a JSON project file; it is nested too deeply "
                               "to be one") from None
    except json.JSONDecodeError as exc:
        raise ProjectFileError(f"{source}: expected {PROJECT_TEXT}; received "
                               f"{_json_problem(text, exc)}") from None
    return from_records(data, source, catalog)


def _json_problem(text: str, exc: json.JSONDecodeError) -> str:
    """What a reader found instead of JSON: nothing, text cut short, or other text."""
    if not text.strip():
        return "an empty file (not valid JSON)"
    where = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
    if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
        return f"text that ends before the JSON does (not valid JSON at {where}): was it cut short?"
    return f"text that is not valid JSON ({where})"

