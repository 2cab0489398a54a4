"""The inspector edits the selected node with typed widgets; each accepted edit is one undo
step, invalid values are refused with a message and change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.schema.records import DTYPES
from layerforge.gui.inspector import Inspector
from layerforge.gui.session import EditorSession


@pytest.fixture
def session(keras_loaded: dict[str, Any], qtbot: Any) -> EditorSession:
    session = EditorSession(Document(get_catalog()))
    session.set_keras_ready()
    return session


def build(session: EditorSession, class_name: str, params: dict[str, Any] | None = None,
          shape: tuple[int, ...] = (64,)) -> dict[str, str]:
    """input -> layer -> output; returns the node ids."""
    doc = session.doc
    add_in = edits.add_input(doc, shape)
    add_layer = edits.add_layer(doc, class_name, params)
    add_out = edits.add_output(doc)
    for command in (add_in, add_layer, add_out):
        assert session.push(command)
    ids = {"input": add_in.node.id, "layer": add_layer.node.id, "output": add_out.node.id}
    assert session.push(edits.connect(doc, ids["input"], ids["layer"]))
    assert session.push(edits.connect(doc, ids["layer"], ids["output"]))
    session.analyze()
    return ids


def make_inspector(session: EditorSession, qtbot: Any, node_id: str) -> Inspector:
    inspector = Inspector(session)
    qtbot.addWidget(inspector)
    inspector.show()
    inspector.set_target("main", node_id)
    return inspector


def output_shape(session: EditorSession, node_id: str) -> Any:
    session.analyze()
    return session.engine().results[node_id].outputs[0]


def type_into(qtbot: Any, widget: Any, text: str) -> None:
    widget.setFocus()
    widget.selectAll()
    QTest.keyClicks(widget, text)
    QTest.keyClick(widget, Qt.Key.Key_Return)


def test_editors_follow_param_kinds(session: EditorSession, qtbot: Any) -> None:
    ids = build(session, "Conv2D", shape=(28, 28, 1))
    inspector = make_inspector(session, qtbot, ids["layer"])
    kinds = {name: type(widget) for name, widget in inspector.editors.items()}
    assert issubclass(kinds["filters"], QSpinBox)
    assert issubclass(kinds["use_bias"], QCheckBox)
    assert issubclass(kinds["padding"], QComboBox)
    assert issubclass(kinds["activation"], QComboBox)
    assert inspector.editors["activation"].isEditable()
    assert issubclass(kinds["kernel_size"], QLineEdit)
    assert inspector.editors["kernel_size"].text() == "3"
    assert inspector.editors["name"].text() == session.doc.graph.layer_of(ids["layer"]).name


def test_typing_units_is_one_undoable_edit_and_changes_shapes(session: EditorSession,
                                                             qtbot: Any) -> None:
    ids = build(session, "Dense", {"units": 32})
    inspector = make_inspector(session, qtbot, ids["layer"])
    steps = session.undo_stack.count()
    type_into(qtbot, inspector.editors["units"].lineEdit(), "10")
    layer = session.doc.graph.layer_of(ids["layer"])
    assert layer.params["units"] == 10
    assert session.undo_stack.count() == steps + 1
    assert output_shape(session, ids["layer"]) == (None, 10)
    session.undo_stack.undo()
    assert session.doc.graph.layer_of(ids["layer"]).params["units"] == 32
    assert inspector.editors["units"].value() == 32, "the editor follows undo"
    assert output_shape(session, ids["layer"]) == (None, 32)


def test_invalid_tuple_is_refused_with_a_message(session: EditorSession, qtbot: Any) -> None:
    ids = build(session, "Conv2D", shape=(28, 28, 1))
    inspector = make_inspector(session, qtbot, ids["layer"])
    steps = session.undo_stack.count()
    before = dict(session.doc.graph.layer_of(ids["layer"]).params)
    type_into(qtbot, inspector.editors["strides"], "1, 2, 3")
    assert inspector.message.isVisible()
    assert "2 integers" in inspector.message.text()
    assert session.undo_stack.count() == steps
    assert session.doc.graph.layer_of(ids["layer"]).params == before
    assert inspector.editors["strides"].text() == "1, 1", "the editor shows the kept value"


def test_unparsable_text_is_refused(session: EditorSession, qtbot: Any) -> None:
    ids = build(session, "Conv2D", shape=(28, 28, 1))
    inspector = make_inspector(session, qtbot, ids["layer"])
    steps = session.undo_stack.count()
    type_into(qtbot, inspector.editors["kernel_size"], "3, x")
    assert "expected integers" in inspector.message.text()
    assert session.undo_stack.count() == steps


def test_tuple_and_bool_and_choice_edits(session: EditorSession, qtbot: Any) -> None:
    ids = build(session, "Conv2D", {"filters": 8}, shape=(28, 28, 1))
    inspector = make_inspector(session, qtbot, ids["layer"])
    type_into(qtbot, inspector.editors["kernel_size"], "5, 5")
    assert output_shape(session, ids["layer"]) == (None, 24, 24, 8)
    inspector.message.setText("")
    padding = inspector.editors["padding"]
    padding.setCurrentIndex(padding.findData("same"))
    padding.activated.emit(padding.currentIndex())
    assert output_shape(session, ids["layer"]) == (None, 28, 28, 8)
    use_bias = inspector.editors["use_bias"]
    QTest.mouseClick(use_bias, Qt.MouseButton.LeftButton, pos=QPoint(8, use_bias.height() // 2))
    layer = session.doc.graph.layer_of(ids["layer"])
    assert layer.params["kernel_size"] == [5, 5]
    assert layer.params["padding"] == "same"
    assert layer.params.get("use_bias", True) is False
    assert session.engine().layer_params(layer.id) == 5 * 5 * 1 * 8


def test_activation_by_name_and_unknown_name_refused(session: EditorSession, qtbot: Any) -> None:
    ids = build(session, "Dense", {"units": 4})
    inspector = make_inspector(session, qtbot, ids["layer"])
    combo = inspector.editors["activation"]
    type_into(qtbot, combo.lineEdit(), "relu")
    assert session.doc.graph.layer_of(ids["layer"]).params["activation"] == "relu"
    steps = session.undo_stack.count()
    type_into(qtbot, combo.lineEdit(), "relux")
    assert "'activation' expected one of" in inspector.message.text()
    assert session.undo_stack.count() == steps


def test_an_initializer_config_is_shown_whole_and_kept(session: EditorSession,
                                                      qtbot: Any) -> None:
    """A configured initializer (an imported model's, or typed as JSON) shows its values,
    and leaving its field unchanged keeps them: it is no edit at all."""
    constant = {"class_name": "Constant", "config": {"value": -10.0}}
    ids = build(session, "Dense", {"units": 4, "bias_initializer": constant})
    inspector = make_inspector(session, qtbot, ids["layer"])
    combo = inspector.editors["bias_initializer"]
    assert combo.currentText() == '{"class_name": "Constant", "config": {"value": -10.0}}'
    steps = session.undo_stack.count()
    type_into(qtbot, combo.lineEdit(), combo.currentText())
    assert session.doc.graph.layer_of(ids["layer"]).params["bias_initializer"] == constant
    assert session.undo_stack.count() == steps
    type_into(qtbot, combo.lineEdit(), '{"class_name": "Constant", "config": {"value": 2.0}}')
    assert session.doc.graph.layer_of(ids["layer"])\
        .params["bias_initializer"]["config"]["value"] == 2.0


def test_rename_layer_and_name_clash(session: EditorSession, qtbot: Any) -> None:
    ids = build(session, "Dense", {"units": 4})
    inspector = make_inspector(session, qtbot, ids["layer"])
    type_into(qtbot, inspector.editors["name"], "classifier")
    assert session.doc.graph.layer_of(ids["layer"]).name == "classifier"
    steps = session.undo_stack.count()
    input_name = session.doc.graph.node(ids["input"]).name
    type_into(qtbot, inspector.editors["name"], input_name)
    assert session.doc.graph.layer_of(ids["layer"]).name == "classifier"
    assert session.undo_stack.count() == steps
    assert input_name in inspector.message.text()


def test_input_node_shape_and_dtype(session: EditorSession, qtbot: Any) -> None:
    ids = build(session, "Dense", {"units": 4})
    inspector = make_inspector(session, qtbot, ids["input"])
    assert set(inspector.editors) == {"name", "shape", "dtype"}
    type_into(qtbot, inspector.editors["shape"], "10, 16")
    assert session.doc.graph.node(ids["input"]).shape == (10, 16)
    assert output_shape(session, ids["layer"]) == (None, 10, 4)
    assert inspector.editors["shape"].text() == "(10, 16)"
    steps = session.undo_stack.count()
    type_into(qtbot, inspector.editors["shape"], "ten")
    assert "shape expected positive whole numbers or None" in inspector.message.text()
    assert "received 'ten'" in inspector.message.text()
    assert session.doc.graph.node(ids["input"]).shape == (10, 16)
    assert session.undo_stack.count() == steps, "a refused shape pushes nothing"
    dtype = inspector.editors["dtype"]
    assert [dtype.itemText(i) for i in range(dtype.count())] == list(DTYPES)
    dtype.setCurrentText("float16")
    dtype.activated.emit(dtype.currentIndex())
    assert session.doc.graph.node(ids["input"]).dtype == "float16"


@pytest.mark.parametrize(("typed", "shape", "shown"), [
    ("None", (None,), "(None,)"), ("128", (128,), "(128,)"), ("(None, 128)", (None, 128),
                                                              "(None, 128)"),
    ("32,32,3", (32, 32, 3), "(32, 32, 3)"), ("[28, 28, 1]", (28, 28, 1), "(28, 28, 1)")])
def test_input_shape_field_reads_what_keras_input_takes(session: EditorSession, qtbot: Any,
                                                        typed: str, shape: tuple[Any, ...],
                                                        shown: str) -> None:
    ids = build(session, "Dense", {"units": 4}, shape=(7,))
    inspector = make_inspector(session, qtbot, ids["input"])
    type_into(qtbot, inspector.editors["shape"], typed)
    assert session.doc.graph.node(ids["input"]).shape == shape
    assert inspector.editors["shape"].text() == shown
    assert not inspector.message.isVisible()


@pytest.mark.parametrize("typed", ["0", "32,,3", "-1, 4", "", "3.5"])
def test_bad_input_shapes_name_what_was_expected(session: EditorSession, qtbot: Any,
                                                 typed: str) -> None:
    ids = build(session, "Dense", {"units": 4}, shape=(7,))
    inspector = make_inspector(session, qtbot, ids["input"])
    steps = session.undo_stack.count()
    field = inspector.editors["shape"]
    field.setFocus()
    field.selectAll()
    QTest.keyClick(field, Qt.Key.Key_Backspace)
    QTest.keyClicks(field, typed)
    QTest.keyClick(field, Qt.Key.Key_Return)
    text = inspector.message.text()
    assert "expected positive whole numbers" in text and "received" in text
    assert session.undo_stack.count() == steps
    assert inspector.editors["shape"].text() == "(7,)", "the field shows the shape kept"


def test_output_node_loss_weight_metrics(session: EditorSession, qtbot: Any) -> None:
    ids = build(session, "Dense", {"units": 4})
    inspector = make_inspector(session, qtbot, ids["output"])
    type_into(qtbot, inspector.editors["loss"].lineEdit(), "mse")
    type_into(qtbot, inspector.editors["loss_weight"], "0.25")
    type_into(qtbot, inspector.editors["metrics"], "mae, accuracy")
    node = session.doc.graph.node(ids["output"])
    assert (node.loss, node.loss_weight, node.metrics) == ("mse", 0.25, ["mae", "accuracy"])
    steps = session.undo_stack.count()
    type_into(qtbot, inspector.editors["loss_weight"], "heavy")
    assert "loss weight expected a number" in inspector.message.text()
    assert session.undo_stack.count() == steps


def test_removed_node_clears_the_inspector(session: EditorSession, qtbot: Any) -> None:
    ids = build(session, "Dense", {"units": 4})
    inspector = make_inspector(session, qtbot, ids["layer"])
    session.push(edits.remove_nodes(session.doc, [ids["layer"]]))
    assert inspector.editors == {}
    session.undo_stack.undo()
    assert "units" in inspector.editors


def test_selecting_a_node_shows_its_params_without_starting_an_analysis(
        session: EditorSession, qtbot: Any) -> None:
    """A selection is no edit: the inspector counts the selected layer at once, and the
    Summary, hints and the pending Keras check (keyed by the edit generation) are left be."""
    ids = build(session, "Dense", {"units": 8})
    analyses: list[object] = []
    session.analysis_changed.connect(analyses.append)
    generation = session.generation
    inspector = make_inspector(session, qtbot, ids["layer"])
    assert "Params: 520" in inspector.info.text()
    qtbot.wait(50)  # a scheduled analysis would have run by now
    assert analyses == [] and session.generation == generation
