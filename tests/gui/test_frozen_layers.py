"""A user freezes a layer: the inspector's Trainable box or the node's right-click menu; the
node shows it, the Summary counts its weights as non-trainable, and undo brings it back."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from user_steps import click_entry, right_click

from layerforge.gui.canvas.labels import FROZEN_BADGE

LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton
NONE = Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier


def first_dense(window: Any) -> str:
    graph = window.session.doc.graph
    return next(n.id for n in graph.calls() if graph.layer_of(n.id).class_name == "Dense")


def select(window: Any, qtbot: Any, node_id: str) -> Any:
    item = window.view.canvas_scene.nodes[node_id]
    window.view.canvas_scene.clearSelection()
    item.setSelected(True)
    qtbot.waitUntil(lambda: window.inspector.node_id == node_id)
    return item


def test_untick_trainable_freezes_the_layer_and_undo_restores(window: Any, qtbot: Any) -> None:
    assert window.open_template("sequential-mlp")
    node_id = first_dense(window)
    item = select(window, qtbot, node_id)
    box = window.inspector.trainable_box
    assert box is not None and box.isChecked() and FROZEN_BADGE not in item.text.title
    window.session.analyze()
    assert window.summary.split.text().endswith("Non-trainable params: 0")
    assert box.text() == "Trainable"
    box.click()  # what a click on the box does
    assert window.session.doc.graph.layer_of(node_id).trainable is False
    assert item.text.title == f"Dense {FROZEN_BADGE}"
    window.session.analyze()
    qtbot.waitUntil(lambda: "Non-trainable params: 2,080" in window.summary.split.text())
    QTest.keyClick(window, Qt.Key.Key_Z, CTRL)
    assert window.session.doc.graph.layer_of(node_id).trainable is True
    assert item.text.title == "Dense" and box.isChecked()


def test_freeze_and_unfreeze_from_the_node_menu(window: Any, qtbot: Any) -> None:
    assert window.open_template("sequential-mlp")
    node_id = first_dense(window)
    item = select(window, qtbot, node_id)
    view = window.view
    pos = view.mapFromScene(item.sceneBoundingRect().center())
    menu = right_click(qtbot, view, pos)
    assert not next(a for a in menu.actions() if a.text() == "Unfreeze").isEnabled()
    click_entry(menu, "Freeze")
    assert window.session.doc.graph.layer_of(node_id).trainable is False
    assert FROZEN_BADGE in item.text.title and not window.inspector.trainable_box.isChecked()
    click_entry(right_click(qtbot, view, pos), "Unfreeze")
    assert window.session.doc.graph.layer_of(node_id).trainable is True
    assert FROZEN_BADGE not in item.text.title
