"""Menus that panels add to the main window (runs, search): one way to build them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMenu, QMenuBar

# (text, slot, tip), or None for a separator
MenuEntry = tuple[str, Callable[[], Any], str] | None


def add_entries(owner: QObject, menu: QMenu, entries: Sequence[MenuEntry]
                ) -> dict[str, QAction]:
    """Add actions (owned by ``owner``) with tooltips and status tips; returns them by text."""
    actions: dict[str, QAction] = {}
    for entry in entries:
        if entry is None:
            menu.addSeparator()
            continue
        text, slot, tip = entry
        action = QAction(text, owner)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False, s=slot: s())
        menu.addAction(action)
        actions[text] = action
    return actions


def install_menu(bar: QMenuBar, menu: QMenu, dock: QDockWidget) -> None:
    """Put ``menu`` before Help, and the dock's toggle in the View menu."""
    titles = {a.text().replace("&", ""): a for a in bar.actions()}
    if "Help" in titles:
        bar.insertMenu(titles["Help"], menu)
    else:
        bar.addMenu(menu)
    if "View" in titles and titles["View"].menu() is not None:
        titles["View"].menu().addAction(dock.toggleViewAction())
