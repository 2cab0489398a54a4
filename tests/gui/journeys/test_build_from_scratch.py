"""Journey: the book's question-answering model (listing 7-1) built from File → New with
the palette, the inspector and a port drag; the status bar totals 1,337,332 parameters;
File → Export → Python code writes a module whose build_model() has those parameters and
exactly the layers the user drew."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from user_steps import click, click_menu, drag, node_point, node_titled, shortcut, type_into

from layerforge.gui import files

CTRL = Qt.KeyboardModifier.ControlModifier
DRAWN = {"text", "question", "embedded_text", "encoded_text", "embedded_question",
         "encoded_question", "concatenated", "answer"}


def from_palette(window: Any, qtbot: Any, name: str) -> str:
    """Type the name in the palette's search box and press Enter: the new node is selected."""
    before = set(window.view.canvas_scene.nodes)
    type_into(window.palette.search, name)
    qtbot.waitUntil(lambda: len(set(window.view.canvas_scene.nodes) - before) == 1)
    (new,) = set(window.view.canvas_scene.nodes) - before
    qtbot.waitUntil(lambda: window.view.selected_node_ids() == [new])
    return new


def edit(window: Any, qtbot: Any, **values: str) -> None:
    for key, text in values.items():
        qtbot.waitUntil(lambda k=key: k in window.inspector.editors)
        type_into(window.inspector.editors[key], text)


def select(window: Any, qtbot: Any, node_id: str) -> None:
    click(window.view.viewport(), node_point(window, node_id))
    qtbot.waitUntil(lambda: window.view.selected_node_ids() == [node_id])


def add_input(window: Any, qtbot: Any, name: str) -> str:
    node = from_palette(window, qtbot, "Input")
    edit(window, qtbot, name=name, shape="None")
    dtype = window.inspector.editors["dtype"]
    dtype.setFocus()
    QTest.keyClicks(dtype, "int32")
    qtbot.waitUntil(lambda: "dtype int32" in window.view.canvas_scene.nodes[node].text.lines)
    return node


def branch(window: Any, qtbot: Any, name: str) -> str:
    """Input → Embedding(10000, 64) → LSTM(32), the LSTM selected at the end."""
    add_input(window, qtbot, name)
    from_palette(window, qtbot, "Embedding")
    edit(window, qtbot, name=f"embedded_{name}", input_dim="10000", output_dim="64")
    lstm = from_palette(window, qtbot, "LSTM")
    edit(window, qtbot, name=f"encoded_{name}", units="32")
    return lstm


@pytest.fixture
def export_target(isolated: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = isolated.path / "qa.py"
    monkeypatch.setattr(files, "choose_save_path", lambda *args: str(target))
    return target


def test_question_answering_from_an_empty_project(window: Any, qtbot: Any,
                                                  export_target: Path) -> None:
    shortcut(window, Qt.Key.Key_N, CTRL)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.editor_page)
    assert window.diagnostics.header.text() == "No problems"  # nothing drawn, nothing wrong

    text_lstm = branch(window, qtbot, "text")
    question_lstm = branch(window, qtbot, "question")
    select(window, qtbot, text_lstm)
    concat = from_palette(window, qtbot, "Concatenate")
    edit(window, qtbot, name="concatenated")
    view = window.view
    start = view.mapFromScene(view.canvas_scene.nodes[question_lstm].output_port(0).scenePos())
    slot = view.canvas_scene.nodes[concat].input_port(1)
    drag(view.viewport(), start, view.mapFromScene(slot.scenePos()))
    qtbot.waitUntil(lambda: len(window.session.doc.graph.in_edges(concat)) == 2)

    from_palette(window, qtbot, "Dense")
    edit(window, qtbot, name="answer", units="500")
    activation = window.inspector.editors["activation"]
    type_into(activation.lineEdit() if hasattr(activation, "lineEdit") and
              activation.lineEdit() else activation, "softmax")
    from_palette(window, qtbot, "Output")

    qtbot.waitUntil(lambda: window.params_label.text() == "Params: 1,337,332", timeout=5000)
    qtbot.waitUntil(lambda: window.diagnostics.header.text() == "No problems")
    assert node_titled(window, "answer", "Output")

    click_menu(qtbot, window, "File", "Export", "Export Python code…")
    qtbot.waitUntil(export_target.exists)
    spec = importlib.util.spec_from_file_location("qa_export", export_target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model()
    assert model.count_params() == 1_337_332
    assert {layer.name for layer in model.layers} == DRAWN
    assert model.output_names == ["answer"]

