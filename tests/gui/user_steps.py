"""What a user does, as test steps: menus clicked by their visible text, keys typed into
focused widgets, drags on the canvas. Journey tests (tests/gui/journeys) use only these
and read back only what is on screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QAction, QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QMenuBar, QMessageBox, QWidget
from pytestqt.exceptions import TimeoutError as WaitTimedOut

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier


def plain(text: str) -> str:
    """Menu text as the user reads it: no '&' mnemonics, no trailing shortcut hint."""
    return text.replace("&", "").split("\t")[0].strip()


def action_in(menu: QMenu | QMenuBar, text: str) -> QAction:
    found = [a for a in menu.actions() if plain(a.text()) == text]
    if not found:
        shown = [plain(a.text()) for a in menu.actions() if a.text()]
        raise AssertionError(f"no menu entry {text!r}; the menu shows {shown}")
    return found[0]


def click_menu(qtbot: Any, window: Any, *path: str) -> None:
    """Click File → New from template → … by the entries' visible text."""
    bar = window.menuBar()
    top = action_in(bar, path[0])
    QTest.mouseClick(bar, LEFT, NONE, bar.actionGeometry(top).center())
    menu = top.menu()
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    click_entries(qtbot, menu, *path[1:])


def click_entries(qtbot: Any, menu: QMenu, *path: str) -> None:
    """Go through an open menu (a menu bar menu or a context menu) to the last entry: the
    pointer moves onto each entry (highlighting it), Right opens a submenu, Return chooses."""
    for text in path:
        action = action_in(menu, text)
        assert action.isEnabled(), f"the menu entry {text!r} is disabled"
        QTest.mouseMove(menu, menu.actionGeometry(action).center())
        # Offscreen, a menu may ignore a pointer that has not moved since it opened.
        menu.setActiveAction(action)
        if action.menu() is not None:
            QTest.keyClick(menu, Qt.Key.Key_Right)
            menu = action.menu()
            qtbot.waitUntil(menu.isVisible, timeout=3000)
        else:
            choose(qtbot, menu, action)


def choose(qtbot: Any, menu: QMenu, action: QAction, tries: int = 3) -> None:
    """Return on the highlighted entry closes the menu and runs it. A busy event loop may
    drop the highlight before the key arrives; a user who sees the menu still open
    highlights the entry again and presses Return once more."""
    for _ in range(tries):
        menu.setActiveAction(action)
        QTest.keyClick(menu, Qt.Key.Key_Return)
        try:
            qtbot.waitUntil(lambda: not menu.isVisible(), timeout=4000)
            return
        except WaitTimedOut:
            if not action.isEnabled():
                break
    raise AssertionError(
        f"the menu stayed open after Return on {plain(action.text())!r}: enabled="
        f"{action.isEnabled()}, highlighted={_text(menu.activeAction())!r}, "
        f"open popup={type(QApplication.activePopupWidget()).__name__}")


def press(widget: QWidget, key: Qt.Key, modifier: Qt.KeyboardModifier =
          Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(widget, key, modifier)


def shortcut(window: Any, key: Qt.Key, modifier: Qt.KeyboardModifier) -> None:
    """A window-wide shortcut, typed while the canvas has the focus."""
    window.view.setFocus()
    QTest.keyClick(window.view, key, modifier)


def type_into(widget: QWidget, text: str, enter: bool = True) -> None:
    """Select what the field holds, type ``text`` over it, and press Enter."""
    widget.setFocus()
    QTest.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(widget, text)
    if enter:
        QTest.keyClick(widget, Qt.Key.Key_Return)


def node_point(window: Any, node_id: str) -> QPoint:
    """The viewport point at the centre of a node's body (where a user grabs it)."""
    item = window.view.canvas_scene.nodes[node_id]
    return window.view.mapFromScene(item.sceneBoundingRect().center())


def click(widget: QWidget, pos: QPoint, button: Qt.MouseButton = LEFT) -> None:
    QTest.mouseClick(widget, button, NONE, pos)


def drag(viewport: QWidget, start: QPoint, end: QPoint, steps: int = 6) -> None:
    QTest.mousePress(viewport, LEFT, NONE, start)
    for i in range(1, steps + 1):
        QTest.mouseMove(viewport, start + (end - start) * i / steps)
    QTest.mouseRelease(viewport, LEFT, NONE, end)


def node_titled(window: Any, name: str, kind: str | None = None) -> str:
    """The id of the node whose visible text names it ``name`` (layer, input or output);
    ``kind`` is the node's title line (the layer class, "Input" or "Output")."""
    matches = [nid for nid, item in window.view.canvas_scene.nodes.items()
               if name in shown_lines(item) and kind in (None, item.text.title)]
    assert len(matches) == 1, f"expected one node showing {name!r}; found {len(matches)}"
    return matches[0]


def shown_lines(item: Any) -> list[str]:
    """What a node item draws: its title line and the lines under it."""
    return [item.text.title, *item.text.lines]


def click_dock_tab(qtbot: Any, window: Any, title: str) -> None:
    """Bring a tabbed dock (Diagnostics, Training, Runs...) forward by clicking its tab."""
    from PySide6.QtWidgets import QTabBar

    for bar in window.findChildren(QTabBar):
        for index in range(bar.count()):
            if bar.isVisible() and plain(bar.tabText(index)) == title:
                click(bar, bar.tabRect(index).center())
                qtbot.waitUntil(lambda b=bar, i=index: b.currentIndex() == i, timeout=3000)
                return
    raise AssertionError(f"no visible dock tab {title!r}")


def click_tab(qtbot: Any, tabs: Any, title: str) -> None:
    """Click the tab titled ``title`` of a QTabWidget."""
    bar = tabs.tabBar()
    index = next((i for i in range(bar.count()) if plain(bar.tabText(i)) == title), None)
    assert index is not None, f"no tab {title!r}"
    click(bar, bar.tabRect(index).center())
    qtbot.waitUntil(lambda: tabs.currentIndex() == index, timeout=3000)


def _text(action: QAction | None) -> str | None:
    return plain(action.text()) if action is not None else None


def right_click(qtbot: Any, view: Any, pos: QPoint) -> QMenu:
    """A right click on a canvas as the platform delivers it (press, release, context-menu
    event); returns the menu it opened."""
    viewport = view.viewport()
    QTest.mouseClick(viewport, Qt.MouseButton.RightButton, NONE, pos)
    QApplication.sendEvent(viewport, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                       viewport.mapToGlobal(pos)))
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu))
    return QApplication.activePopupWidget()


def click_entry(menu: QMenu, text: str) -> None:
    """Click the entry of an open context menu with this visible text, as a user does."""
    (action,) = [a for a in menu.actions() if a.text() == text]
    assert action.isEnabled(), f"{text!r} is disabled: {action.toolTip()}"
    QTest.mouseClick(menu, LEFT, NONE, menu.actionGeometry(action).center())


def answer_prompt(button: str, seen: list[str], tries: int = 250,
                  on_show: Callable[[], None] | None = None) -> None:
    """When a question box shows (within about 5 s), read it into ``seen``, call ``on_show``
    (to look at the world before the answer), and click ``button``."""
    def look(left: int = tries) -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            if left:
                QTimer.singleShot(20, lambda: look(left - 1))
            return
        seen.append(box.text())
        if on_show is not None:
            on_show()
        chosen = next(b for b in box.buttons() if plain(b.text()) == button)
        QTest.mouseClick(chosen, LEFT)
    QTimer.singleShot(0, look)
