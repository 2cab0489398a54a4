"""Hints in the window: from a template the chapter's advice shows in Diagnostics, Fix
applies it (one undo), Silence hides its kind and it stays hidden after save and reopen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from layerforge.core.analysis.advice import ACTIVATION_BEFORE_BN, BIAS_BEFORE_BN, LOSS_DOMINATES
from layerforge.core.training.runs import new_run_dir, runs_folder, write_history, write_status
from layerforge.gui import files


def settle(window: Any) -> None:
    window.session.analyze()


def click_row(window: Any, code: str) -> None:
    rows = window.diagnostics.hint_list
    row = next(i for i in range(rows.count())
               if rows.item(i).data(Qt.ItemDataRole.UserRole).code == code)
    rect = rows.visualItemRect(rows.item(row))
    QTest.mouseClick(rows.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def shown_codes(window: Any) -> list[str]:
    return [d.code for d in window.diagnostics.hint_rows()]


def test_a_templates_hint_fix_and_silence_survive_save_and_reopen(
        window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert window.open_template("batchnorm-convnet")
    settle(window)
    panel = window.diagnostics
    assert shown_codes(window) == [ACTIVATION_BEFORE_BN, ACTIVATION_BEFORE_BN]
    assert panel.header.text() == "No problems" and panel.hints_label.text() == "2 hint(s)"
    assert "hint: Conv2D 'conv2d': conv2d applies relu before the BatchNormalization" in \
        panel.hint_list.item(0).text()
    assert window.session.diagnostics == []  # hints are not problems: nothing blocks
    # With no problems, the hints have the panel to themselves (no empty problems list).
    assert panel.hint_list.isVisibleTo(panel) and not panel.list.isVisibleTo(panel)

    click_row(window, ACTIVATION_BEFORE_BN)
    assert panel.fix_button.isEnabled() and panel.silence_button.isEnabled()
    QTest.mouseClick(panel.fix_button, Qt.MouseButton.LeftButton)
    settle(window)
    classes = [layer.class_name for layer in window.session.doc.graph.layers.values()]
    assert classes.count("Activation") == 1
    # The conv now feeds BatchNormalization linearly: its bias is the next piece of advice.
    assert sorted(shown_codes(window)) == [ACTIVATION_BEFORE_BN, BIAS_BEFORE_BN]
    window.session.undo_stack.undo()
    settle(window)
    assert shown_codes(window) == [ACTIVATION_BEFORE_BN, ACTIVATION_BEFORE_BN]

    click_row(window, ACTIVATION_BEFORE_BN)
    menu = panel.context_menu(panel.hint_list.currentItem().data(Qt.ItemDataRole.UserRole))
    assert [a.text() for a in menu.actions()][-1].startswith("Silence this hint")
    QTest.mouseClick(panel.silence_button, Qt.MouseButton.LeftButton)
    settle(window)
    assert shown_codes(window) == [] and panel.hints_label.text() == ""
    assert panel.show_silenced_button.isVisible()
    assert panel.show_silenced_button.text() == "Show silenced hints (1)"

    target = tmp_path / "bn.json"
    monkeypatch.setattr(files, "choose_save_path", lambda *args: str(target))
    assert window.files.save()
    assert '"silenced_hints"' in target.read_text()
    assert window.open_path(str(target))
    settle(window)
    assert shown_codes(window) == []
    QTest.mouseClick(panel.show_silenced_button, Qt.MouseButton.LeftButton)
    settle(window)
    assert shown_codes(window) == [ACTIVATION_BEFORE_BN, ACTIVATION_BEFORE_BN]
    assert not panel.show_silenced_button.isVisible()


def test_the_loss_weights_hint_appears_once_a_run_has_its_first_epoch(
        window: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qtbot: Any) -> None:
    assert window.open_template("social-media-multi-output")
    target = tmp_path / "social.json"
    monkeypatch.setattr(files, "choose_save_path", lambda *args: str(target))
    assert window.files.save()
    settle(window)
    assert LOSS_DOMINATES not in shown_codes(window)  # the book's weights, and no run yet
    run = new_run_dir(runs_folder(target))
    write_status(run, {"status": "running"})
    write_history(run, {"epoch": [0], "loss": [260.0], "age_loss": [1000.0],
                        "income_loss": [2.3], "gender_loss": [0.7]})
    qtbot.waitUntil(lambda: LOSS_DOMINATES in shown_codes(window), timeout=5000)
    click_row(window, LOSS_DOMINATES)
    QTest.mouseClick(window.diagnostics.fix_button, Qt.MouseButton.LeftButton)
    settle(window)
    weights = {o.name: o.loss_weight for o in window.session.doc.graph.outputs()}
    assert weights == {"age": 0.0007, "income": 0.304, "gender": 1.0}
    assert LOSS_DOMINATES not in shown_codes(window)
