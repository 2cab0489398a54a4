"""File → Export → Checked Export…: the dialog exports in a child process and shows the
check; a layer the format cannot express is named and marked on the canvas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from user_steps import click_menu

from layerforge.core.io.templates import load_template
from layerforge.gui.panels.export_dialog import ACTION_TEXT, ExportDialog

EXPORT_S = 240_000  # the child imports TensorFlow, converts, loads back and checks


def open_dialog(qtbot: Any, window: Any, template: str) -> ExportDialog:
    assert window.open_template(template)
    click_menu(qtbot, window, "File", "Export", ACTION_TEXT)
    dialog = window.export_dialog
    qtbot.waitUntil(dialog.isVisible)
    return dialog


def choose(qtbot: Any, dialog: ExportDialog, fmt: str, path: Path) -> None:
    dialog.format.setFocus()
    dialog.format.setCurrentIndex(dialog.format.findData(fmt))
    dialog.path.selectAll()
    QTest.keyClicks(dialog.path, str(path))
    assert dialog.path.text() == str(path)
    QTest.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)


def test_export_to_onnx_shows_the_check_against_keras(qtbot: Any, window: Any,
                                                      tmp_path: Path) -> None:
    dialog = open_dialog(qtbot, window, "sequential-mlp")
    assert [dialog.format.itemData(i) for i in range(dialog.format.count())] == \
        ["savedmodel", "tflite", "onnx"]
    target = tmp_path / "mlp.onnx"
    choose(qtbot, dialog, "onnx", target)
    assert not dialog.export_button.isEnabled()  # running, off the UI thread
    assert dialog.opset.isEnabled() and not dialog.quantize.isEnabled()
    qtbot.waitUntil(lambda: "max abs diff" in dialog.result.toPlainText(), timeout=EXPORT_S)
    text = dialog.result.toPlainText()
    assert "output 'predictions': max abs diff" in text and "result: pass" in text
    assert dialog.status.text() == "Exported: pass"
    assert target.stat().st_size > 0 and "size: " in text
    assert dialog.export_button.isEnabled()


def test_a_layer_tflite_cannot_express_is_marked_on_the_canvas(qtbot: Any, window: Any,
                                                                tmp_path: Path) -> None:
    dialog = open_dialog(qtbot, window, "text-classifier")
    doc = window.session.doc
    layer = next(lay for lay in doc.graph.layers.values() if lay.name == "text_vectorization")
    node = doc.graph.calls_of(layer.id)[0].id
    choose(qtbot, dialog, "tflite", tmp_path / "text.tflite")
    item = window.view.canvas_scene.nodes[node]
    qtbot.waitUntil(lambda: item.severity == "error", timeout=EXPORT_S)
    assert "tflite export: the converter refused this layer" in item.toolTip()
    assert "StringLower" in item.toolTip()  # the converter's own message
    assert dialog.status.text() == "Export failed"
    assert "refused layer 'text_vectorization'" in dialog.result.toPlainText()
    assert not (tmp_path / "text.tflite").exists()
    assert any(d.target == node and "converter refused" in d.message
               for d in window.session.diagnostics)  # the Diagnostics panel lists it too
    template = load_template("text-classifier")
    assert len(template.graph.layers) == len(doc.graph.layers)  # nothing was edited
