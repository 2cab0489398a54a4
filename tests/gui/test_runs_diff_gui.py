"""The Runs dock's "Compare architectures": two runs selected in the list, the button
clicked, the panel beside the curves lists what changed in the model from the older run (A)
to the newer (B), with the parameter counts Keras gives; identical runs say so; a run folder
without a snapshot is named."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.io.project import save
from layerforge.core.schema.settings import TrainingSettings
from layerforge.core.training.runs import (
    finish_run,
    new_run_dir,
    runs_folder,
    start_run,
    write_history,
)
from layerforge.gui.runs.architecture import COUNTING, WAITING_FOR_KERAS
from layerforge.gui.runs.panel import RunsPanel

LEFT = Qt.MouseButton.LeftButton
CTRL = Qt.KeyboardModifier.ControlModifier
NONE = Qt.KeyboardModifier.NoModifier


def mlp(units: int) -> Document:
    """x (8,) -> Dense ``units`` -> Dense 1 -> y."""
    doc = Document(get_catalog())
    stack = UndoStack(doc)
    x = stack.push(edits.add_input(doc, [8], name="x")).node.id
    hidden = stack.push(edits.add_layer(doc, "Dense", {"units": units},
                                        position=(0.0, 140.0))).node.id
    last = stack.push(edits.add_layer(doc, "Dense", {"units": 1}, position=(0.0, 280.0))).node.id
    out = stack.push(edits.add_output(doc, name="y", loss="mse", position=(0.0, 420.0))).node.id
    for src, dst in ((x, hidden), (hidden, last), (last, out)):
        stack.push(edits.connect(doc, src, dst))
    return doc


def write_run(project: Path, doc: Document, snapshot: bool = True) -> Path:
    """A finished run folder as core/training/runs.py writes it (no training needed)."""
    run_dir = new_run_dir(runs_folder(project))
    start_run(run_dir, doc, TrainingSettings(epochs=2))
    write_history(run_dir, {"epoch": [1, 2], "loss": [1.0, 0.5]})
    finish_run(run_dir, "completed")
    if not snapshot:  # a run from before runs kept their graph
        (run_dir / "project.json").unlink()
    return run_dir


@pytest.fixture
def runs(tmp_path: Path) -> SimpleNamespace:
    project = tmp_path / "model.json"
    save(mlp(4), project)
    small = write_run(project, mlp(4))
    wide = write_run(project, mlp(8))
    same = write_run(project, mlp(8))
    old = write_run(project, mlp(8), snapshot=False)
    return SimpleNamespace(project=project, small=small.name, wide=wide.name, same=same.name,
                           old=old)


@pytest.fixture
def panel(window: Any, runs: SimpleNamespace, qtbot: Any) -> RunsPanel:
    assert window.files.open_path(runs.project)
    window.docks["runs"].show()
    window.docks["runs"].raise_()
    window.resizeDocks([window.docks["runs"]], [420], Qt.Orientation.Vertical)
    shown: RunsPanel = window.runs_panel
    qtbot.waitUntil(lambda: shown.tree.height() > 150, timeout=5000)
    qtbot.waitUntil(lambda: len(shown.items()) == 4, timeout=5000)
    return shown


def click_run(panel: RunsPanel, name: str, modifier: Qt.KeyboardModifier = NONE) -> None:
    item = panel.item_for(name)
    assert item is not None, f"expected run {name} among {[i.text(0) for i in panel.items()]}"
    panel.tree.scrollToItem(item)
    rect = panel.tree.visualItemRect(item)
    QTest.mouseClick(panel.tree.viewport(), LEFT, modifier,
                     QPoint(rect.left() + 12, rect.center().y()))


def compare(panel: RunsPanel, qtbot: Any, first: str, second: str) -> list[str]:
    click_run(panel, first)
    assert not panel.compare_button.isEnabled()  # one run selected
    click_run(panel, second, CTRL)
    assert panel.compare_button.isEnabled()
    QTest.mouseClick(panel.compare_button, LEFT)
    view = panel.architecture
    assert view.isVisible()
    qtbot.waitUntil(lambda: view.note.text() != COUNTING, timeout=30_000)
    return view.texts()


def test_changed_units_and_their_parameter_delta(panel: RunsPanel, runs: SimpleNamespace,
                                                 qtbot: Any) -> None:
    # Newer run clicked first: A is still the older run.
    lines = compare(panel, qtbot, runs.wide, runs.small)
    view = panel.architecture
    title = view.title.text()
    assert f"A: run {runs.small} (older)" in title and f"B: run {runs.wide} (newer)" in title
    changed = [line for line in lines if line.startswith("~ ")]
    assert changed == ["~ dense (Dense)  units: 4 \u2192 8  params: 36 \u2192 72 (+36)"], lines
    assert lines[-1] == "total parameters: 41 \u2192 81 (+40)"
    assert panel.curves.plotted_runs() == sorted([runs.small, runs.wide])  # curves beside


def test_identical_runs_show_no_differences(panel: RunsPanel, runs: SimpleNamespace,
                                            qtbot: Any) -> None:
    lines = compare(panel, qtbot, runs.wide, runs.same)
    assert lines == ["no differences", "total parameters: 81 (no change)"]


def test_a_run_without_snapshot_is_named(panel: RunsPanel, runs: SimpleNamespace,
                                         qtbot: Any) -> None:
    click_run(panel, runs.same)
    click_run(panel, runs.old.name, CTRL)
    QTest.mouseClick(panel.compare_button, LEFT)
    view = panel.architecture
    assert view.texts() == []
    assert str(runs.old) in view.note.text() and "project.json" in view.note.text()
    assert not view.canvas_button.isEnabled()


def test_show_on_canvas_colours_against_run_a(window: Any, panel: RunsPanel,
                                              runs: SimpleNamespace, qtbot: Any) -> None:
    compare(panel, qtbot, runs.small, runs.wide)
    QTest.mouseClick(panel.architecture.canvas_button, LEFT)
    comparison = window.comparison
    assert comparison.active and comparison.source == runs.small
    assert comparison.diff is not None and comparison.diff.is_empty()  # open project = run A


def test_counts_follow_once_keras_has_loaded(window: Any, panel: RunsPanel,
                                             runs: SimpleNamespace, qtbot: Any) -> None:
    window.session.keras_ready = False  # as in the first seconds after the window opens
    click_run(panel, runs.small)
    click_run(panel, runs.wide, CTRL)
    QTest.mouseClick(panel.compare_button, LEFT)
    view = panel.architecture
    assert view.note.text() == WAITING_FOR_KERAS
    assert "~ dense (Dense)  units: 4 \u2192 8" in view.texts()
    assert view.texts()[-1] == "total parameters: ? \u2192 ?"
    window.session.set_keras_ready(True)
    qtbot.waitUntil(lambda: view.texts()[-1] == "total parameters: 41 \u2192 81 (+40)",
                    timeout=30_000)


def test_another_project_closes_the_comparison(window: Any, panel: RunsPanel,
                                               runs: SimpleNamespace, qtbot: Any) -> None:
    compare(panel, qtbot, runs.small, runs.wide)
    assert panel.architecture.isVisible()
    assert window.files.new_project()
    assert panel.architecture.isHidden()  # the runs it compared are no longer listed


def test_the_runs_context_menu_offers_the_comparison(panel: RunsPanel, runs: SimpleNamespace,
                                                     qtbot: Any) -> None:
    click_run(panel, runs.small)
    click_run(panel, runs.same, CTRL)
    menu = panel.run_menu()  # what a right click on the list shows
    assert menu is not None
    action = next(a for a in menu.actions() if a.text() == "Compare architectures")
    assert action.isEnabled()
    action.trigger()
    qtbot.waitUntil(lambda: panel.architecture.note.text() != COUNTING, timeout=30_000)
    assert f"B: run {runs.same} (newer)" in panel.architecture.title.text()
    assert any(line.startswith("~ dense (Dense)") for line in panel.architecture.texts())
    click_run(panel, runs.small)
    menu = panel.run_menu()
    assert menu is not None
    assert not next(a for a in menu.actions() if a.text() == "Compare architectures").isEnabled()
