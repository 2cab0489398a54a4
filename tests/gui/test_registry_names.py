"""The window offers the losses, metrics and optimizers Keras resolves (read from the installed
Keras, aliases included) and refuses a name Keras does not resolve, naming what it expects."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from layerforge.core.catalog.registries import offered_names


def type_into(widget: Any, text: str) -> None:
    widget.setFocus()
    widget.selectAll()
    QTest.keyClicks(widget, text)
    QTest.keyClick(widget, Qt.Key.Key_Return)


def combo_items(combo: Any) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def select_output(window: Any) -> Any:
    output = window.session.doc.graph.outputs()[0]
    window.inspector.set_target("main", output.id)
    return output


def test_output_losses_and_metrics_are_keras_names(window: Any) -> None:
    assert window.open_template("sequential-mlp")
    registries = window.session.doc.catalog.registries
    output = select_output(window)
    inspector = window.inspector
    loss = inspector.editors["loss"]
    assert combo_items(loss) == ["None", *offered_names(registries["loss"])]
    assert {"mse", "bce", "huber", "sparse_categorical_crossentropy"} <= set(combo_items(loss))
    type_into(loss.lineEdit(), "bce")
    assert window.session.doc.graph.node(output.id).loss == "bce"
    steps = window.session.undo_stack.count()
    type_into(loss.lineEdit(), "msee")
    text = inspector.message.text()
    assert "loss: expected a loss name that keras.losses resolves, one of bce, " in text
    assert "received 'msee' (did you mean 'mse'?)" in text
    assert window.session.undo_stack.count() == steps
    metric_names = ", ".join(offered_names(registries["metric"]))
    assert inspector.editors["metrics"].toolTip().endswith(f"resolves: {metric_names}")
    type_into(inspector.editors["metrics"], "auc, acc")
    assert window.session.doc.graph.node(output.id).metrics == ["auc", "acc"]
    type_into(inspector.editors["metrics"], "auc, acuracy")
    assert "received 'acuracy' (did you mean 'accuracy'?)" in inspector.message.text()
    assert window.session.doc.graph.node(output.id).metrics == ["auc", "acc"]


def test_the_optimizer_list_is_what_keras_resolves(window: Any) -> None:
    assert window.open_template("sequential-mlp")
    window.docks["training"].raise_()
    window.training.tabs.setCurrentIndex(1)
    editor = window.training.settings_editor
    offered = offered_names(window.session.doc.catalog.registries["optimizer"])
    assert combo_items(editor.optimizer) == offered
    assert {"adam", "rmsprop", "sgd", "adafactor", "lion"} <= set(offered)
    type_into(editor.optimizer.lineEdit(), "adafactor")
    assert window.session.doc.compile.optimizer == "adafactor"
    type_into(editor.optimizer.lineEdit(), "adamm")
    assert editor.error_label.isVisible()
    assert "expected an optimizer name that keras.optimizers resolves" in \
        editor.error_label.text()
    assert "received 'adamm' (did you mean 'adam'?)" in editor.error_label.text()
    assert window.session.doc.compile.optimizer == "adafactor"
