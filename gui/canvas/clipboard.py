"""What the canvas receives: sub-graph records on the system clipboard (copy/paste, works
between windows) and a layer dragged from the palette."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QGuiApplication

SUBGRAPH_MIME = "application/x-layerforge-subgraph"
LAYER_MIME = "application/x-layerforge-layer"
#: Keys the canvas' insert path reads as "a model input / output node" (not catalog classes:
#: a class name never holds a colon).
INPUT_KEY = "node:input"
OUTPUT_KEY = "node:output"


def put_subgraph(records: dict[str, Any]) -> None:
    mime = QMimeData()
    mime.setData(SUBGRAPH_MIME, json.dumps(records).encode("utf-8"))
    QGuiApplication.clipboard().setMimeData(mime)


def get_subgraph() -> Any:
    """The records on the clipboard, None when it holds no sub-graph.

    Raises ValueError when the clipboard claims a sub-graph but its bytes are not JSON.
    """
    mime = QGuiApplication.clipboard().mimeData()
    if mime is None or not mime.hasFormat(SUBGRAPH_MIME):
        return None
    raw = bytes(mime.data(SUBGRAPH_MIME).data())
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"expected LayerForge sub-graph records (JSON) on the clipboard; "
                         f"received {len(raw)} bytes that are not ({exc})") from None


def layer_mime(class_name: str) -> QMimeData:
    """What the palette drags: a catalog class name (or a node key), read by the canvas."""
    mime = QMimeData()
    mime.setData(LAYER_MIME, class_name.encode("utf-8"))
    mime.setText(class_name)
    return mime


def layer_from_mime(mime: QMimeData) -> str | None:
    """The catalog class name a palette drag carries, or None."""
    if not mime.hasFormat(LAYER_MIME):
        return None
    name = bytes(mime.data(LAYER_MIME).data()).decode("utf-8", "replace").strip()
    return name or None
