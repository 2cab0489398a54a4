"""The two-phase fine-tuning plan in the Training dock: planned with the visible widgets (a
check box, the base, K, M and the phase-2 learning rate), undone, refused when it does not
fit, and run by Train: two epochs, the second at the phase-2 learning rate."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fine_tune_projects import PLAN, based_doc
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from layerforge.core.io.project import save

RUN_TIMEOUT_MS = 120_000


def click_box(box: Any) -> None:
    assert box.isVisible() and box.isEnabled()
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def type_into(widget: Any, text: str) -> None:
    assert widget.isVisible() and widget.isEnabled()
    widget.setFocus()
    widget.selectAll()
    QTest.keyClicks(widget, text)
    QTest.keyClick(widget, Qt.Key.Key_Return)


def settings_tab(window: Any) -> Any:
    window.docks["training"].show()
    window.docks["training"].raise_()
    window.training.tabs.setCurrentIndex(1)
    return window.training.settings_editor


def test_plan_fine_tuning_in_the_dock_and_train(window: Any, qtbot: Any,
                                                isolated: SimpleNamespace) -> None:
    path = isolated.path / "based.json"
    save(based_doc(), path)
    assert window.open_path(str(path))
    editor = settings_tab(window)
    group = editor.fine_tune
    qtbot.waitUntil(group.enabled.isVisible, timeout=3000)
    assert not group.top.isEnabled()  # nothing planned yet
    click_box(group.enabled)
    doc = window.session.doc
    assert doc.training.fine_tune is not None and doc.training.fine_tune.layer == "base"
    assert [group.layer.itemText(i) for i in range(group.layer.count())] == ["base"]
    assert group.top.maximum() == 5  # the block's input and its 4 layers
    type_into(group.top.lineEdit(), "3")
    type_into(group.learning_rate, "0.001")
    assert window.session.doc.training.fine_tune == PLAN
    assert "its top 3 layer(s) unfrozen, 1 more epoch(s) at 0.001" in group.hint.text()
    type_into(group.learning_rate, "fast")
    assert "Phase 2 learning rate: expected a number such as 1e-05; received 'fast'" in \
        editor.error_label.text()
    window.session.undo_stack.undo()
    assert window.session.doc.training.fine_tune.learning_rate == 1e-5
    assert group.learning_rate.text() == "1e-05"
    window.session.undo_stack.redo()
    with qtbot.waitSignal(window.training.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        QTest.mouseClick(window.training.train_button, Qt.MouseButton.LeftButton)
    result = finished.args[0]
    assert result.status == "completed", result.message
    history = json.loads((Path(result.run_dir) / "history.json").read_text())
    assert history["epoch"] == [1, 2]
    assert history["learning_rate"] == pytest.approx([0.01, 0.001])  # float32 in Keras
    assert window.training.progress.maximum() == 2 * 3  # 24 training samples in batches of 8
    assert "Completed 2 epoch(s).  Phase 2: 1 epoch(s) at learning rate 0.001 with the top 3 " \
           "layer(s) of 'base' trainable: feat_b, feat_c." in \
           window.training.progress_label.text()


def test_a_model_without_a_base_cannot_plan_fine_tuning(window: Any) -> None:
    assert window.open_template("sequential-mlp")
    editor = settings_tab(window)
    click_box(editor.fine_tune.enabled)
    assert "Fine-tuning: expected a block call or keras.applications layer" in \
        editor.error_label.text()
    assert window.session.doc.training.fine_tune is None
    assert not editor.fine_tune.enabled.isChecked()
