"""Where the canvas looked, per project file: a reopened project shows the same view.

The view is not part of the project (a project shared with someone else should not carry
where this user had scrolled), so it is kept in the app's settings, keyed by the file's
absolute path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QGraphicsView

GROUP = "views"
MAX_REMEMBERED = 50  # recent files worth of views; older ones are forgotten


@dataclass(frozen=True)
class ViewState:
    zoom: float
    center: tuple[float, float]

    def to_settings(self) -> list[float]:
        return [self.zoom, *self.center]

    @classmethod
    def from_settings(cls, value: Any) -> ViewState | None:
        try:
            zoom, x, y = (float(v) for v in value)
        except (TypeError, ValueError):
            return None
        return cls(zoom, (x, y)) if zoom > 0 else None


def _key(path: str | Path) -> str:
    # QSettings treats '/' as a group separator: keep the path as one key.
    return str(Path(path).resolve()).replace("/", "|")


def capture(view: QGraphicsView) -> ViewState:
    center = view.mapToScene(view.viewport().rect().center())
    return ViewState(view.transform().m11(), (center.x(), center.y()))


def remember(path: str | Path, state: ViewState) -> None:
    settings = QSettings()
    settings.beginGroup(GROUP)
    key = _key(path)
    order = [k for k in (settings.value("_order") or []) if k != key] + [key]
    for stale in order[:-MAX_REMEMBERED]:
        settings.remove(stale)
    settings.setValue(key, state.to_settings())
    settings.setValue("_order", order[-MAX_REMEMBERED:])
    settings.endGroup()


def recall(path: str | Path) -> ViewState | None:
    settings = QSettings()
    settings.beginGroup(GROUP)
    value = settings.value(_key(path))
    settings.endGroup()
    return ViewState.from_settings(value) if value is not None else None
