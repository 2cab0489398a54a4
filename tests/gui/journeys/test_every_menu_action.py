"""Journey: with a template open and a node selected, click every entry of every menu.
None may raise (pytest-qt fails the test on an exception in any slot), and the window is
still usable afterwards. Dialogs are answered "Cancel" so nothing waits for a person."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QInputDialog, QMenu, QMessageBox
from user_steps import click, click_menu, node_point, node_titled, plain

from layerforge.gui import files

RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def no_dialogs(monkeypatch: pytest.MonkeyPatch) -> None:
    cancel = QMessageBox.StandardButton.Cancel
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("", False))
    for name in ("information", "warning", "critical", "question"):
        monkeypatch.setattr(QMessageBox, name, lambda *a, **k: cancel)
    monkeypatch.setattr(QDialog, "exec", lambda self: 0)
    monkeypatch.setattr(files, "choose_open_path", lambda parent: None)
    monkeypatch.setattr(files, "choose_save_path", lambda *a: None)


def menu_paths(menu: QMenu, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for action in menu.actions():
        if action.isSeparator() or not action.text():
            continue
        path = (*prefix, plain(action.text()))
        if action.menu() is not None:
            yield from menu_paths(action.menu(), path)
        else:
            yield path


def every_entry(window: Any) -> list[tuple[str, ...]]:
    paths = []
    for action in window.menuBar().actions():
        if action.menu() is not None:
            paths += list(menu_paths(action.menu(), (plain(action.text()),)))
    return paths


def select_a_layer(window: Any, qtbot: Any) -> None:
    window.view.setFocus()
    click(window.view.viewport(), node_point(window, node_titled(window, "dense")))
    qtbot.waitUntil(lambda: len(window.view.selected_node_ids()) == 1)


def test_every_menu_entry_runs_without_an_exception(window: Any, qtbot: Any,
                                                    no_dialogs: None) -> None:
    click_menu(qtbot, window, "File", "New from template", "7.1.1  Sequential MLP")
    qtbot.waitUntil(lambda: window.session.doc.meta.title == "Sequential MLP")
    qtbot.wait(50)
    entries = [p for p in every_entry(window) if p[-1] != "Quit"]
    assert len(entries) >= 30, entries
    clicked = []
    for path in entries:
        if window.stack.currentWidget() is not window.editor_page:
            click_menu(qtbot, window, "File", "New from template", "7.1.1  Sequential MLP")
        if window.session.doc.meta.title == "Sequential MLP" and window.view.canvas_scene.nodes:
            # A previous entry may have removed that layer: the next entry runs all the same.
            with contextlib.suppress(AssertionError):
                select_a_layer(window, qtbot)
        menu_action = _action_at(window, path)
        if not menu_action.isEnabled():
            continue
        try:
            click_menu(qtbot, window, *path)
        except AssertionError:
            if menu_action.isEnabled():
                raise
            close_menus(qtbot)  # a run or the Keras check ended meanwhile and disabled it
            continue
        clicked.append(path)
        popup = QApplication.activePopupWidget()
        if popup is not None:  # the layer search: the user changes their mind
            QTest.keyClick(popup, Qt.Key.Key_Escape)
            qtbot.waitUntil(lambda: QApplication.activePopupWidget() is None)
        # A run or a study started by an entry ends before the next entry is clicked.
        if window.training.is_running():
            qtbot.waitUntil(lambda: not window.training.is_running(), timeout=RUN_TIMEOUT_MS)
        if window.tuning_panel.is_running():
            window.tuning_panel.stop_study()
            qtbot.waitUntil(lambda: not window.tuning_panel.is_running(),
                            timeout=RUN_TIMEOUT_MS)
    assert len(clicked) >= 25, clicked
    assert window.isVisible()
    click_menu(qtbot, window, "File", "Quit")
    qtbot.waitUntil(lambda: not window.isVisible())


def close_menus(qtbot: Any) -> None:
    while (popup := QApplication.activePopupWidget()) is not None:
        QTest.keyClick(popup, Qt.Key.Key_Escape)
        qtbot.wait(20)


def _action_at(window: Any, path: tuple[str, ...]) -> Any:
    from user_steps import action_in

    menu: Any = window.menuBar()
    action = None
    for text in path:
        action = action_in(menu, text)
        menu = action.menu()
    return action
