"""A user adapts a TextVectorization's vocabulary from the inspector: the button runs off the
UI thread, shows the vocabulary's size, the vocabulary is saved on the layer, and undo
takes it away again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QPushButton
from text_projects import text_classifier, write_texts
from user_steps import click_dock_tab

from layerforge.core.io.project import save
from layerforge.gui.vocabulary import VocabularyRow

CTRL = Qt.KeyboardModifier.ControlModifier


def open_classifier(window: Any, qtbot: Any, tmp_path: Path, folder: Path | None) -> str:
    project = tmp_path / "reviews.json"
    save(text_classifier(folder), project)
    assert window.open_path(str(project))
    graph = window.session.doc.graph
    node_id = next(n.id for n in graph.calls()
                   if graph.layer_of(n.id).class_name == "TextVectorization")
    item = window.view.canvas_scene.nodes[node_id]
    window.view.canvas_scene.clearSelection()
    item.setSelected(True)
    qtbot.waitUntil(lambda: window.inspector.node_id == node_id)
    if not window.inspector.isVisible():
        click_dock_tab(qtbot, window, "Inspector")
    return node_id


def adapt_row(window: Any) -> VocabularyRow:
    rows = window.inspector.findChildren(VocabularyRow)
    assert len(rows) == 1, "the inspector of a TextVectorization shows one Adapt row"
    return rows[0]


def test_adapt_vocabulary_from_the_inspector_and_undo(window: Any, qtbot: Any,
                                                       tmp_path: Path) -> None:
    folder = write_texts(tmp_path / "texts", 20, seed=1)
    node_id = open_classifier(window, qtbot, tmp_path, folder)
    row = adapt_row(window)
    button = row.findChild(QPushButton)
    assert button.text() == "Adapt vocabulary"
    qtbot.waitUntil(button.isVisible, timeout=3000)
    assert row.status.text().startswith("No saved vocabulary")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not button.isEnabled(), "the button waits while the worker adapts"
    assert row.status.text() == "Adapting on the training data…"
    qtbot.waitUntil(lambda: button.isEnabled(), timeout=30_000)
    layer = window.session.doc.graph.layer_of(node_id)
    vocabulary = layer.params["vocabulary"]
    assert "great" in vocabulary and "awful" in vocabulary and "the" in vocabulary
    assert row.status.text().startswith(f"Adapted: text_vectorization: {len(vocabulary)} tokens")
    assert not row.error.isVisible()
    assert window.session.is_modified
    QTest.keyClick(window, Qt.Key.Key_Z, CTRL)
    assert "vocabulary" not in window.session.doc.graph.layer_of(node_id).params
    assert row.status.text().startswith("No saved vocabulary")
    QTest.keyClick(window, Qt.Key.Key_Z, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert window.session.doc.graph.layer_of(node_id).params["vocabulary"] == vocabulary
    assert row.status.text() == f"Saved vocabulary: {len(vocabulary)} tokens"


def test_adapt_without_bound_data_says_what_it_expected(window: Any, qtbot: Any,
                                                        tmp_path: Path) -> None:
    node_id = open_classifier(window, qtbot, tmp_path, None)
    row = adapt_row(window)
    qtbot.mouseClick(row.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row.error.isVisible(), timeout=30_000)
    assert "expected input 'text' bound to a text folder" in row.error.text()
    assert "received synthetic data" in row.error.text()
    assert "vocabulary" not in window.session.doc.graph.layer_of(node_id).params
    assert row.button.isEnabled()
