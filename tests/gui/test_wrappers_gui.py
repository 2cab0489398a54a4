"""Wrappers in the window: from File → New, Bidirectional from the palette, GRU chosen as
its layer in the inspector, its units and return_sequences set there; the node shows the
parameter count Keras gives, and undo takes each step back."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from user_steps import shortcut, type_into

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.gui.inspector import Inspector
from layerforge.gui.param_editors import NestedLayerEditor, NestedLayersEditor
from layerforge.gui.session import EditorSession

CTRL = Qt.KeyboardModifier.ControlModifier


def from_palette(window: Any, qtbot: Any, name: str) -> str:
    before = set(window.view.canvas_scene.nodes)
    type_into(window.palette.search, name)
    qtbot.waitUntil(lambda: len(set(window.view.canvas_scene.nodes) - before) == 1)
    (new,) = set(window.view.canvas_scene.nodes) - before
    qtbot.waitUntil(lambda: window.view.selected_node_ids() == [new])
    return new


def choose(combo: Any, text: str) -> None:
    """Pick an entry of a closed combo box by typing its text, as a keyboard user does."""
    combo.setFocus()
    QTest.keyClicks(combo, text)


def keras_params(units: int, features: int, return_sequences: bool) -> int:
    import keras

    inputs = keras.Input((10, features))
    layer = keras.layers.Bidirectional(keras.layers.GRU(units,
                                                        return_sequences=return_sequences))
    layer(inputs)
    return int(layer.count_params())


def test_bidirectional_gru_chosen_and_edited_in_the_inspector(window: Any, qtbot: Any) -> None:
    shortcut(window, Qt.Key.Key_N, CTRL)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.editor_page)
    from_palette(window, qtbot, "Input")
    type_into(window.inspector.editors["shape"], "10, 4")
    node = from_palette(window, qtbot, "Bidirectional")
    nested = window.inspector.editors["layer"]
    assert isinstance(nested, NestedLayerEditor)
    assert nested.class_box.currentText() == "LSTM", "a Bidirectional starts with an LSTM"
    steps = window.session.undo_stack.count()

    choose(nested.class_box, "GRU")
    qtbot.waitUntil(lambda: window.session.doc.graph.layer_of(node).params["layer"][
        "class_name"] == "GRU")
    assert window.session.undo_stack.count() == steps + 1
    qtbot.waitUntil(lambda: "units" in window.inspector.editors["layer"].editors)
    units = window.inspector.editors["layer"].editors["units"]
    type_into(units.lineEdit(), "16")
    qtbot.waitUntil(lambda: window.session.doc.graph.layer_of(node).params["layer"][
        "params"].get("units") == 16)
    box = window.inspector.editors["layer"].editors["return_sequences"]
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    qtbot.waitUntil(lambda: window.session.doc.graph.layer_of(node).params["layer"] == {
        "class_name": "GRU", "params": {"units": 16, "return_sequences": True}})
    assert window.session.undo_stack.count() == steps + 3

    item = window.view.canvas_scene.nodes[node]
    count = keras_params(16, 4, True)
    qtbot.waitUntil(lambda: f"params: {count:,}" in item.text.lines, timeout=10_000)
    assert "GRU(16, return_sequences=True)" in item.text.lines
    qtbot.waitUntil(lambda: window.inspector.info.text().startswith("Output: (None, 10, 32)"))

    window.session.undo_stack.undo()  # return_sequences back off
    layer = window.session.doc.graph.layer_of(node)
    assert layer.params["layer"] == {"class_name": "GRU", "params": {"units": 16}}
    qtbot.waitUntil(lambda: not window.inspector.editors["layer"].editors[
        "return_sequences"].isChecked())
    qtbot.waitUntil(lambda: f"params: {keras_params(16, 4, False):,}" in item.text.lines,
                    timeout=10_000)
    window.session.undo_stack.redo()
    from_palette(window, qtbot, "Output")
    source = generate(window.session.doc).source
    assert "layers.Bidirectional(layers.GRU(16, return_sequences=True)" in \
        source.replace("(\n        ", "(").replace(",\n        ", ", ")


def test_a_nested_value_the_catalog_refuses_shows_why(window: Any, qtbot: Any) -> None:
    shortcut(window, Qt.Key.Key_N, CTRL)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.editor_page)
    from_palette(window, qtbot, "Input")
    type_into(window.inspector.editors["shape"], "6, 8, 8, 3")
    node = from_palette(window, qtbot, "TimeDistributed")
    nested = window.inspector.editors["layer"]
    choose(nested.class_box, "Conv2D")
    qtbot.waitUntil(lambda: window.session.doc.graph.layer_of(node).params["layer"][
        "class_name"] == "Conv2D")
    qtbot.waitUntil(lambda: "kernel_size" in window.inspector.editors["layer"].editors)
    steps = window.session.undo_stack.count()
    type_into(window.inspector.editors["layer"].editors["kernel_size"], "3, 3, 3")
    qtbot.waitUntil(lambda: window.inspector.message.isVisible())
    assert "'layer' (Conv2D): 'kernel_size' expected an integer or 2 integers; " \
        "received [3, 3, 3]" in window.inspector.message.text()
    assert window.session.undo_stack.count() == steps
    assert window.inspector.editors["layer"].editors["kernel_size"].text() == "3", \
        "the editor shows the kept value"
    item = window.view.canvas_scene.nodes[node]
    qtbot.waitUntil(lambda: "params: 896" in item.text.lines, timeout=10_000)


def inspect_new(qtbot: Any, class_name: str) -> tuple[EditorSession, Inspector, str]:
    """An input of shape (6, 3) feeding a new ``class_name`` layer, shown in an inspector;
    returns the layer's id."""
    session = EditorSession(Document(get_catalog()))
    session.set_keras_ready()
    doc = session.doc
    add_in, add_layer = edits.add_input(doc, (6, 3)), edits.add_layer(doc, class_name)
    for command in (add_in, add_layer):
        assert session.push(command)
    assert session.push(edits.connect(doc, add_in.node.id, add_layer.node.id))
    inspector = Inspector(session)
    qtbot.addWidget(inspector)
    inspector.show()
    inspector.set_target("main", add_layer.node.id)
    return session, inspector, add_layer.layer.id


def test_a_backward_layer_chosen_runs_backwards(keras_loaded: Any, qtbot: Any) -> None:
    session, inspector, layer_id = inspect_new(qtbot, "Bidirectional")
    assert inspector.editors["backward_layer"].class_box.currentText() == "None"
    choose(inspector.editors["backward_layer"].class_box, "GRU")
    params = session.doc.graph.layer(layer_id).params
    assert params["backward_layer"] == {"class_name": "GRU",
                                        "params": {"units": 32, "go_backwards": True}}
    session.analyze()
    (call,) = session.doc.graph.calls_of(layer_id)
    assert session.engine().results[call.id].outputs == ((None, 64),)


def test_stacked_cells_are_added_and_removed_with_buttons(keras_loaded: Any, qtbot: Any) -> None:
    """An RNN's cell set to StackedRNNCells: its cells are a list with an add button and a
    remove button per cell, each press one undoable edit."""
    session, inspector, layer_id = inspect_new(qtbot, "RNN")
    doc = session.doc
    choose(inspector.editors["cell"].class_box, "StackedRNNCells")

    def cells() -> list[str]:
        value = doc.graph.layer(layer_id).params["cell"]
        return [cell["class_name"] for cell in value["params"]["cells"]]

    qtbot.waitUntil(lambda: doc.graph.layer(layer_id).params["cell"]["class_name"] ==
                    "StackedRNNCells")
    assert cells() == ["LSTMCell", "LSTMCell"]
    stacked = inspector.editors["cell"].editors["cells"]
    assert isinstance(stacked, NestedLayersEditor)
    steps = session.undo_stack.count()
    QTest.mouseClick(stacked.add_button, Qt.MouseButton.LeftButton)
    assert cells() == ["LSTMCell", "LSTMCell", "LSTMCell"]
    choose(stacked.items[1].class_box, "GRUCell")
    assert cells() == ["LSTMCell", "GRUCell", "LSTMCell"]
    QTest.mouseClick(stacked.remove_buttons[0], Qt.MouseButton.LeftButton)
    assert cells() == ["GRUCell", "LSTMCell"]
    assert session.undo_stack.count() == steps + 3
    session.undo_stack.undo()
    assert cells() == ["LSTMCell", "GRUCell", "LSTMCell"]
    assert [item.class_box.currentText() for item in stacked.items] == \
        ["LSTMCell", "GRUCell", "LSTMCell"], "the editor follows undo"
