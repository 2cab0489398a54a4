"""Journey: File → New from template → Sequential MLP, a few epochs typed into the Training
dock, Train on the toolbar, and once it has finished Train again with F5. While the second
run trains, the chart holds its points only; afterwards the Runs dock lists both runs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import Qt
from user_steps import click, click_dock_tab, click_menu, click_tab, shortcut, type_into

EPOCHS = 3
RUN_TIMEOUT_MS = 120_000  # a fresh training process imports TensorFlow on a busy machine


def chart(window: Any) -> tuple[int, list[float], list[float]]:
    """What the Training dock shows: the progress bar's step, and the x values of the
    loss curves (batch average; per epoch)."""
    plot = window.training.plot
    batch = plot.line("loss", per_batch=True) if plot is not None else None
    epoch = plot.line("loss") if plot is not None else None
    return (window.training.progress.value(),
            [float(x) for x in batch.get_xdata()] if batch is not None else [],
            [float(x) for x in epoch.get_xdata()] if epoch is not None else [])


def train_button(window: Any) -> Any:
    from PySide6.QtWidgets import QToolBar

    return window.findChild(QToolBar, "mainToolbar").widgetForAction(window.act_train)


def test_train_twice_the_chart_follows_each_run_and_the_runs_dock_lists_both(
        window: Any, qtbot: Any, isolated: SimpleNamespace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYERFORGE_UNSAVED_RUNS_DIR", str(isolated.path / "data"))
    click_menu(qtbot, window, "File", "New from template", "7.1.1  Sequential MLP")
    qtbot.waitUntil(lambda: window.session.doc.meta.title == "Sequential MLP")

    click_dock_tab(qtbot, window, "Training")
    click_tab(qtbot, window.training.tabs, "Settings")
    editor = window.training.settings_editor
    qtbot.waitUntil(editor.epochs.isVisible)
    type_into(editor.epochs, str(EPOCHS))
    qtbot.waitUntil(lambda: window.session.doc.training.epochs == EPOCHS)

    button = train_button(window)
    click(button, button.rect().center())
    qtbot.waitUntil(lambda: not window.training.is_running(), timeout=RUN_TIMEOUT_MS)
    assert "Completed 3 epoch(s)" in window.training.progress_label.text()
    steps = window.training.progress.maximum() // EPOCHS
    assert chart(window)[2] == [1.0, 2.0, 3.0]

    shortcut(window, Qt.Key.Key_F5, Qt.KeyboardModifier.NoModifier)
    assert window.training.is_running(), "F5 starts the second run"
    seen = []  # the chart while run 2 trains, as often as the event loop turns
    while window.training.is_running():
        seen.append(chart(window))
        qtbot.wait(5)
        assert len(seen) < RUN_TIMEOUT_MS / 5, "the second run never ended"
    for shown_step, batch_xs, epoch_xs in seen:
        step = max(shown_step, 0)  # -1 while the bar is busy (steps not known yet)
        done = step // steps  # epochs run 2 has finished, by its progress bar
        assert epoch_xs == [float(e) for e in range(1, len(epoch_xs) + 1)], epoch_xs
        assert len(epoch_xs) <= done, f"{epoch_xs} drawn after {step} steps of run 2"
        assert len(batch_xs) <= step and batch_xs == sorted(batch_xs)
        assert not batch_xs or batch_xs[0] == pytest.approx(1 / steps), "run 2's first batch"
    assert any(batch_xs for _, batch_xs, _ in seen), "the chart followed run 2 while it ran"
    assert "Completed 3 epoch(s)" in window.training.progress_label.text()
    assert chart(window)[2] == [1.0, 2.0, 3.0]

    click_dock_tab(qtbot, window, "Runs")
    runs = window.runs_panel
    qtbot.waitUntil(lambda: len(runs.items()) == 2, timeout=5000)
    assert [item.text(2) for item in runs.items()] == ["completed", "completed"]
    assert runs.folder == window.training.runs_folder()
