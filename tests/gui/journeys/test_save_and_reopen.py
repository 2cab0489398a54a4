"""Journey: open a template, change a layer, a training setting, a node's place and the
view; save; quit; start the app again and reopen the file from File → Open recent. The
same graph, settings and view come back."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from user_steps import (
    click,
    click_dock_tab,
    click_menu,
    click_tab,
    drag,
    node_point,
    node_titled,
    shortcut,
    type_into,
)

from layerforge.core.document.records import to_records
from layerforge.gui import files

CTRL = Qt.KeyboardModifier.ControlModifier


def open_inception(window: Any, qtbot: Any) -> None:
    click_menu(qtbot, window, "File", "New from template", "7.1.4  Inception module")
    qtbot.waitUntil(lambda: window.session.doc.meta.title == "Inception module")
    qtbot.waitUntil(lambda: bool(window.view.canvas_scene.nodes))
    qtbot.wait(50)  # the view fits the new graph on the next turn of the event loop


def select_node(window: Any, qtbot: Any, name: str) -> str:
    node_id = node_titled(window, name)
    click(window.view.viewport(), node_point(window, node_id))
    qtbot.waitUntil(lambda: window.view.selected_node_ids() == [node_id])
    return node_id


def test_save_quit_and_reopen_restores_graph_settings_and_view(
        window: Any, qtbot: Any, isolated: SimpleNamespace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    target = isolated.path / "inception.json"
    monkeypatch.setattr(files, "choose_save_path", lambda *args: str(target))
    open_inception(window, qtbot)

    select_node(window, qtbot, "branch_b_2")
    type_into(window.inspector.editors["filters"], "96")
    qtbot.waitUntil(lambda: "filters=96" in " ".join(
        window.view.canvas_scene.nodes[node_titled(window, "branch_b_2")].text.lines))

    moved = node_titled(window, "branch_d_3")
    start = node_point(window, moved)
    drag(window.view.viewport(), start, start + QPoint(60, 40))
    qtbot.waitUntil(lambda: window.session.is_modified)

    click_dock_tab(qtbot, window, "Training")
    click_tab(qtbot, window.training.tabs, "Settings")
    epochs = window.training.settings_editor.epochs
    qtbot.waitUntil(epochs.isVisible)
    type_into(epochs, "7")
    qtbot.waitUntil(lambda: window.session.doc.training.epochs == 7)

    shortcut(window, Qt.Key.Key_Equal, CTRL)  # zoom in twice, then look elsewhere
    shortcut(window, Qt.Key.Key_Equal, CTRL)
    window.view.horizontalScrollBar().setValue(window.view.horizontalScrollBar().value() + 40)
    saved_view = (window.view.zoom(), window.view.mapToScene(
        window.view.viewport().rect().center()))

    shortcut(window, Qt.Key.Key_S, CTRL)
    qtbot.waitUntil(target.exists)
    assert not window.session.is_modified
    saved = to_records(window.session.doc)
    window.close()  # File → Quit
    assert not window.isVisible()

    from layerforge.gui.main_window import MainWindow

    again = MainWindow()  # the app started again
    qtbot.addWidget(again)
    again.resize(window.size())
    again.show()
    qtbot.waitUntil(lambda: again.session.keras_ready, timeout=20_000)
    click_menu(qtbot, again, "File", "Open recent", target.name)
    qtbot.waitUntil(lambda: again.session.path == Path(target))
    qtbot.wait(50)  # the view is restored once the items are laid out

    assert to_records(again.session.doc) == saved
    assert again.session.doc.training.epochs == 7
    zoom, center = saved_view
    assert again.view.zoom() == pytest.approx(zoom, rel=1e-6)
    now = again.view.mapToScene(again.view.viewport().rect().center())
    assert abs(now.x() - center.x()) <= 2 and abs(now.y() - center.y()) <= 2
    labels = [item.label for item in again.view.canvas_scene.edges.values()]
    qtbot.waitUntil(lambda: all(item.label for item in again.view.canvas_scene.edges.values()))
    assert len(labels) == len(again.session.doc.graph.edges)
