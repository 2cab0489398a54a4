"""The text-classifier template from the window: it opens with no problems and trains on
random texts (no data bound) through the training process, like any numeric template."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_training_dock import RUN_TIMEOUT_MS, click, toolbar_button

from layerforge.core.editing.settings_commands import SetTrainingSettings
from layerforge.core.schema.settings import TrainingSettings
from layerforge.gui import files


def test_the_text_template_trains_on_random_texts(window: Any, qtbot: Any,
                                                  isolated: SimpleNamespace,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert window.open_template("text-classifier")
    monkeypatch.setattr(files, "choose_save_path", lambda *a: str(isolated.path / "text.json"))
    assert window.files.save()
    window.session.analyze()
    assert window.session.diagnostics == []
    settings = TrainingSettings(batch_size=16, epochs=1, validation_split=0.25, seed=1)
    assert window.session.push(SetTrainingSettings(settings))
    with qtbot.waitSignal(window.training.run_finished, timeout=RUN_TIMEOUT_MS) as finished:
        click(toolbar_button(window, window.act_train))
    result = finished.args[0]
    assert result.status == "completed", result.message
    assert (Path(result.run_dir) / "best.keras").is_file()
