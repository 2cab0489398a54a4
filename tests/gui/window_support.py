"""Fixtures for the window tests: isolated settings and recovery folder, Keras loaded once,
and dialogs answered without a modal loop. Imported by the test modules that need them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import QCoreApplication, QSettings, QStandardPaths

from layerforge.core.document.search_space import Dimension
from layerforge.core.editing.settings_commands import SetTrainingSettings
from layerforge.core.editing.space_edits import mark_dimension
from layerforge.core.schema.settings import DataSource, TrainingSettings
from layerforge.gui import files


@pytest.fixture(scope="session")
def keras_loaded() -> dict[str, Any]:
    """Import Keras once for the whole run (the window's loader then finishes at once)."""
    from layerforge.gui.keras_loader import load_keras

    return load_keras()


@pytest.fixture(scope="session")
def check_worker() -> Iterator[Any]:
    """One Keras check process for the whole run, shared by the windows that ask for it
    (``MainWindow(check_worker=...)``); other windows run without one."""
    from layerforge.core.analysis.check_worker import CheckWorker

    worker = CheckWorker()
    worker.start()
    yield worker
    worker.stop()


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             qapp: Any) -> Iterator[SimpleNamespace]:
    """Settings, recent files and autosaves under tmp_path; dialogs never block."""
    QStandardPaths.setTestModeEnabled(True)
    QCoreApplication.setOrganizationName("LayerForgeTest")
    QCoreApplication.setApplicationName("LayerForgeTest")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "settings"))
    monkeypatch.setenv("LAYERFORGE_RECOVERY_DIR", str(tmp_path / "recovery"))
    monkeypatch.setattr(files, "ask_save_changes", lambda parent, name: "discard")
    monkeypatch.setattr(files, "ask_restore", lambda *args: False)
    notes: list[tuple[str, str]] = []
    monkeypatch.setattr(files, "notify", lambda parent, title, text, error=True:
                        notes.append((title, text)))
    yield SimpleNamespace(path=tmp_path, notes=notes)  # notes: what would have been shown


@pytest.fixture
def window(isolated: SimpleNamespace, keras_loaded: dict[str, Any], qtbot: Any) -> Any:
    from layerforge.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitUntil(lambda: win.session.keras_ready, timeout=20_000)
    return win


def search_dense_units(window: Any, isolated: SimpleNamespace, monkeypatch: pytest.MonkeyPatch,
                       batch_size: int, samples: int) -> Any:
    """sequential-mlp saved in tmp_path, trained on ``samples`` synthetic rows for one epoch,
    with its ``dense`` layer's units searched (4..32, step 4): a study ready to run."""
    assert window.open_template("sequential-mlp")
    monkeypatch.setattr(files, "choose_save_path", lambda *a: str(isolated.path / "mlp.json"))
    assert window.files.save()
    settings = TrainingSettings(batch_size=batch_size, epochs=1, validation_split=0.25, seed=1,
                                data={"features": DataSource("synthetic", {"samples": samples})})
    assert window.session.push(SetTrainingSettings(settings))
    doc = window.session.doc
    dense = next(layer for layer in doc.graph.layers.values() if layer.name == "dense")
    assert window.session.push(mark_dimension(doc, Dimension("units", "int", 4, 32, step=4,
                                                             layer_id=dense.id)))
    return window
