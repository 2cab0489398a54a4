"""A study from the Search dock trains each trial in a child process: the trial's epochs
still show in the dock as they end, relayed from the child."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from layerforge.core.document.search_space import Dimension
from layerforge.core.editing.settings_commands import SetTrainingSettings
from layerforge.core.editing.space_edits import mark_dimension
from layerforge.core.schema.settings import DataSource, TrainingSettings
from layerforge.gui import files

STUDY_TIMEOUT_MS = 240_000
EPOCHS = 3


def child_processes() -> list[int]:
    """This process's live children (the training ones: test windows start no other,
    beside multiprocessing's resource tracker)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        try:
            if not entry.name.isdigit():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == me and fields[0] != "Z" and b"resource_tracker" not in command:
            found.append(int(entry.name))
    return found


def test_a_trial_s_epochs_show_in_the_dock_while_it_trains_in_a_child(
        window: Any, isolated: SimpleNamespace, qtbot: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert window.open_template("sequential-mlp")
    monkeypatch.setattr(files, "choose_save_path", lambda *a: str(isolated.path / "mlp.json"))
    assert window.files.save()
    settings = TrainingSettings(batch_size=16, epochs=EPOCHS, validation_split=0.25, seed=1,
                                data={"features": DataSource("synthetic", {"samples": 96})})
    assert window.session.push(SetTrainingSettings(settings))
    doc = window.session.doc
    dense = next(la.id for la in doc.graph.layers.values() if la.name == "dense")
    assert window.session.push(mark_dimension(doc, Dimension("units", "int", 4, 32, step=4,
                                                             layer_id=dense)))
    panel = window.tuning_panel
    window.docks["tuning"].show()
    window.docks["tuning"].raise_()
    qtbot.waitUntil(panel.run_button.isVisible, timeout=3000)
    panel.n_trials.setValue(1)
    shown: list[tuple[str, str, int]] = []
    # processes of the window's own (its preview worker, a training spare) are not the study's
    others = set(child_processes())

    def study_processes() -> set[int]:
        return set(child_processes()) - others - {window.warm_worker.process.pid}

    def on_epoch(number: int, epoch: int, logs: dict[str, float]) -> None:
        # connected after the panel's own slot: what the dock shows for this epoch
        row = panel.rows[number]
        shown.append((panel.status.text(), panel.trials.item(row, 1).text(),
                      len(study_processes())))

    with qtbot.waitSignal(panel.study_finished, timeout=STUDY_TIMEOUT_MS) as finished:
        QTest.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        panel.worker.epoch_ended.connect(on_epoch)
    [trial] = finished.args[0].trials
    assert trial.state == "complete", trial.message
    assert shown, "no epoch of the trial reached the dock"
    status, row_text, children = shown[0]
    assert status.startswith("Trial 0, epoch 1: val_loss ")
    assert row_text == "running (epoch 1)"
    assert children >= 1, "the trial trains in a child process of the app"
    assert shown[-1][1] == f"running (epoch {EPOCHS})", "the trial's last epoch is shown"
    assert panel.trials.item(0, 1).text().startswith("complete")
    # the trial's process exits and the one started ahead for a next trial is stopped
    qtbot.waitUntil(lambda: not study_processes(), timeout=60_000)
