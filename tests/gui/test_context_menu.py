"""From File → New, a user adds Inputs, layers and Outputs with the palette, the search popup
and right-click menus; every entry is one undoable edit, and new nodes never overlap."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu
from user_steps import click_entry, right_click

from layerforge.core.schema.records import CallNode, InputNode, OutputNode
from layerforge.gui.canvas import context_menu
from layerforge.gui.canvas.view import EMPTY_HINT

LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
NONE = Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture
def win(window: Any, qtbot: Any) -> Any:
    """A fresh window after File → New (Ctrl+N)."""
    QTest.keyClick(window, Qt.Key.Key_N, CTRL)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.editor_page)
    return window


def entries(menu: QMenu) -> dict[str, bool]:
    return {a.text(): a.isEnabled() for a in menu.actions() if a.text()}


def palette_insert(win: Any, text: str) -> None:
    search = win.palette.search
    search.setFocus()
    search.selectAll()
    QTest.keyClicks(search, text)
    QTest.keyClick(search, Qt.Key.Key_Return)


def nodes_of(win: Any, kind: type) -> list[Any]:
    return [n for n in win.session.doc.graph.nodes.values() if isinstance(n, kind)]


def screen_point(win: Any, node_id: str) -> QPoint:
    return win.view.mapFromScene(win.view.canvas_scene.nodes[node_id].scenePos())


def overlapping(view: Any) -> list[tuple[str, str]]:
    items = list(view.canvas_scene.nodes.values())
    rects = [i.rect.translated(i.pos()) for i in items]
    return [(a.node_id, b.node_id) for i, a in enumerate(items) for j, b in enumerate(items)
            if i < j and rects[i].intersects(rects[j])]


def test_empty_model_shows_a_hint_until_a_node_exists(win: Any, qtbot: Any) -> None:
    view = win.view
    assert view.hint_text() == EMPTY_HINT and "Right-click or press Tab" in EMPTY_HINT
    palette_insert(win, "input")
    assert view.hint_text() == ""
    QTest.keyClick(win, Qt.Key.Key_Z, CTRL)  # undo: empty again
    assert not win.session.doc.graph.nodes and view.hint_text() == EMPTY_HINT


def test_palette_input_then_layer_then_output(win: Any, qtbot: Any, tmp_path: Any) -> None:
    palette_insert(win, "input")
    (inp,) = nodes_of(win, InputNode)
    item = win.view.canvas_scene.nodes[inp.id]
    assert item.text.lines[1] == "shape (None,)"
    field = win.inspector.editors["shape"]
    assert field.text() == "(None,)", "the inspector reads as the node"
    field.setFocus()
    field.selectAll()
    QTest.keyClicks(field, "32,32,3")
    QTest.keyClick(field, Qt.Key.Key_Return)
    assert item.text.lines[1] == "shape (32, 32, 3)"
    # The Input stays selected: the next layer is fed by it and lands below it.
    palette_insert(win, "flatten")
    (flatten,) = nodes_of(win, CallNode)
    assert [e.src for e in win.session.doc.graph.in_edges(flatten.id)] == [inp.id]
    assert flatten.position[1] > inp.position[1]
    palette_insert(win, "output")
    (out,) = nodes_of(win, OutputNode)
    assert [e.src for e in win.session.doc.graph.in_edges(out.id)] == [flatten.id]
    win.session.analyze()
    labels = sorted(e.label for e in win.view.canvas_scene.edges.values())
    assert labels == ["(None, 3072)", "(None, 32, 32, 3)"]
    assert not overlapping(win.view)
    qtbot.wait(100)
    assert win.grab().save(str(tmp_path / "window.png"))


def test_right_click_on_empty_canvas_adds_here(win: Any, qtbot: Any) -> None:
    view = win.view
    spot = QPoint(220, 180)
    menu = right_click(qtbot, view, spot)
    assert list(entries(menu)) == ["Add layer here…", "Add Input here", "Add Output here",
                                   "Paste", "Select all", "Auto layout", "Fit to window"]
    assert not entries(menu)["Select all"], "nothing to select in an empty model"
    click_entry(menu, "Add Input here")
    (inp,) = nodes_of(win, InputNode)
    where = view.mapToScene(spot)
    assert inp.position == pytest.approx((where.x(), where.y()))
    assert view.node_at(spot + QPoint(0, 56)) is None
    # Just below the Input: an Output centred there would overlap it, so it moves clear.
    menu = right_click(qtbot, view, spot + QPoint(0, 56))
    click_entry(menu, "Add Output here")
    assert len(nodes_of(win, OutputNode)) == 1 and not overlapping(view)
    assert not win.session.doc.graph.edges, "added on empty space: not connected"
    menu = right_click(qtbot, view, QPoint(500, 420))
    click_entry(menu, "Add layer here…")
    assert view.popup is not None and view.popup.isVisible()
    QTest.keyClicks(view.popup.edit, "Dense")
    QTest.keyClick(view.popup.edit, Qt.Key.Key_Return)
    assert len(nodes_of(win, CallNode)) == 1 and not win.session.doc.graph.edges


def test_node_menu_entries_apply_to_what_was_clicked(win: Any, qtbot: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    palette_insert(win, "input")
    (inp,) = nodes_of(win, InputNode)
    menu = right_click(qtbot, win.view, screen_point(win, inp.id))
    shown = entries(menu)
    assert list(shown)[:4] == ["Rename…", "Duplicate", "Delete", "Disconnect"]
    assert not shown["Call again"] and not shown["Group into block"]
    assert not shown["Disconnect"] and shown["Make it an output"]
    monkeypatch.setattr(context_menu, "ask_text", lambda *args: "question")
    click_entry(menu, "Rename…")
    assert win.session.doc.graph.node(inp.id).name == "question"
    palette_insert(win, "dense")  # fed by the selected Input
    (dense,) = nodes_of(win, CallNode)
    menu = right_click(qtbot, win.view, screen_point(win, dense.id))
    assert entries(menu)["Call again"] and entries(menu)["Disconnect"]
    click_entry(menu, "Make it an output")
    (out,) = nodes_of(win, OutputNode)
    assert [(e.src, e.src_index) for e in win.session.doc.graph.in_edges(out.id)] == [
        (dense.id, 0)]
    assert out.position[1] > dense.position[1] and not overlapping(win.view)
    menu = right_click(qtbot, win.view, screen_point(win, dense.id))
    assert not entries(menu)["Make it an output"], "it already feeds an output"
    click_entry(menu, "Disconnect")
    assert not win.session.doc.graph.edges
    QTest.keyClick(win, Qt.Key.Key_Z, CTRL)  # one undo step brings both edges back
    assert len(win.session.doc.graph.edges) == 2
    QTest.keyClick(win, Qt.Key.Key_Z, CTRL)  # and one more removes the Output again
    assert not nodes_of(win, OutputNode) and len(win.session.doc.graph.edges) == 1


def test_duplicate_call_again_and_delete_from_the_node_menu(win: Any, qtbot: Any) -> None:
    palette_insert(win, "input")
    palette_insert(win, "dense")
    (dense,) = nodes_of(win, CallNode)
    click_entry(right_click(qtbot, win.view, screen_point(win, dense.id)), "Duplicate")
    assert len(nodes_of(win, CallNode)) == 2 and not overlapping(win.view)
    click_entry(right_click(qtbot, win.view, screen_point(win, dense.id)), "Call again")
    graph = win.session.doc.graph
    assert len(graph.calls_of(dense.layer_id)) == 2 and not overlapping(win.view)
    click_entry(right_click(qtbot, win.view, screen_point(win, dense.id)), "Delete")
    assert dense.id not in graph.nodes


def test_dragging_a_free_output_port_to_empty_space_offers_output_first(win: Any,
                                                                        qtbot: Any) -> None:
    palette_insert(win, "input")
    (inp,) = nodes_of(win, InputNode)
    view = win.view
    port = view.canvas_scene.nodes[inp.id].outputs[0]
    start = view.mapFromScene(port.scenePos())
    end = start + QPoint(40, 220)
    where = view.mapToScene(end)
    viewport = view.viewport()
    QTest.mousePress(viewport, LEFT, NONE, start)
    for step in (0.3, 0.7, 1.0):
        QTest.mouseMove(viewport, start + (end - start) * step)
    QTest.mouseRelease(viewport, LEFT, NONE, end)
    popup = view.popup
    assert popup is not None and popup.isVisible()
    assert popup.list.item(0).text().startswith("Output")
    assert popup.list.currentItem() is popup.list.item(0)
    assert not any(p.state != "normal" or p.hovered for n in view.canvas_scene.nodes.values()
                   for p in n.inputs + n.outputs), "no port stays highlighted"
    QTest.keyClick(popup.edit, Qt.Key.Key_Return)
    (out,) = nodes_of(win, OutputNode)
    assert [e.src for e in win.session.doc.graph.in_edges(out.id)] == [inp.id]
    assert out.position == pytest.approx((where.x(), where.y()))


def test_tab_popup_lists_input_and_output_first(win: Any, qtbot: Any) -> None:
    view = win.view
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Tab)
    popup = view.popup
    assert [popup.list.item(i).text().split()[0] for i in range(2)] == ["Input", "Output"]
    QTest.keyClicks(popup.edit, "in")
    assert popup.list.currentItem().text().startswith("Input")
    QTest.keyClick(popup.edit, Qt.Key.Key_Return)
    assert len(nodes_of(win, InputNode)) == 1


def test_edit_menu_adds_input_and_output(win: Any, qtbot: Any) -> None:
    edit = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Edit")
    texts = [a.text() for a in edit.actions()]
    assert "Add &Input" in texts and "Add &Output" in texts
    next(a for a in edit.actions() if a.text() == "Add &Input").trigger()
    next(a for a in edit.actions() if a.text() == "Add &Output").trigger()
    (inp,) = nodes_of(win, InputNode)
    (out,) = nodes_of(win, OutputNode)
    assert [e.src for e in win.session.doc.graph.in_edges(out.id)] == [inp.id]


def test_new_nodes_at_one_spot_never_overlap(win: Any, qtbot: Any) -> None:
    view = win.view
    corner = QPoint(4, 4)
    QTest.mouseMove(view.viewport(), corner)  # where earlier tests left the pointer must not matter
    for _ in range(3):  # nothing selected: each lands at the cursor (else the view's centre)
        QTest.mouseClick(view.viewport(), LEFT, NONE, corner)
        assert view.selected_node_ids() == []
        palette_insert(win, "Dense")
    assert len(view.canvas_scene.nodes) == 3 and not overlapping(view)
    assert not win.session.doc.graph.edges
    size = view.viewport().size()  # an empty spot: new nodes are scrolled into view
    spot = next(QPoint(x, y) for y in range(30, size.height(), 30)
                for x in range(30, size.width(), 30) if view.node_at(QPoint(x, y)) is None)
    QTest.mouseDClick(view.viewport(), LEFT, NONE, spot)  # on empty space: at the click
    QTest.keyClicks(view.popup.edit, "Dropout")
    QTest.keyClick(view.popup.edit, Qt.Key.Key_Return)
    assert len(view.canvas_scene.nodes) == 4 and not overlapping(view)


def test_menu_key_and_connections(win: Any, qtbot: Any) -> None:
    palette_insert(win, "input")
    palette_insert(win, "dense")  # selected, fed by the Input
    view = win.view
    viewport = view.viewport()
    QApplication.sendEvent(viewport, QContextMenuEvent(
        QContextMenuEvent.Reason.Keyboard, QPoint(2, 2), viewport.mapToGlobal(QPoint(2, 2))))
    qtbot.waitUntil(lambda: isinstance(QApplication.activePopupWidget(), QMenu))
    menu = QApplication.activePopupWidget()
    assert "Make it an output" in entries(menu), "the menu key opens the selection's menu"
    menu.close()
    (edge,) = view.canvas_scene.edges.values()
    middle = view.mapFromScene(edge.path.pointAtPercent(0.3))
    menu = right_click(qtbot, view, middle)
    assert next(iter(entries(menu))) == "Delete connection"
    click_entry(menu, "Delete connection")
    assert not win.session.doc.graph.edges and len(win.session.doc.graph.nodes) == 2
