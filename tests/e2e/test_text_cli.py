"""`layerforge train` on a text-folder classifier whose project holds no vocabulary: the run
adapts its TextVectorization on the folder first, and the model it keeps tells held-out
files apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from text_projects import held_out, text_classifier, write_texts

from layerforge.core.cli import main as cli
from layerforge.core.io.project import save

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


def test_train_a_text_folder_from_the_command_line(tmp_path: Path, capsys) -> None:
    folder = write_texts(tmp_path / "reviews", 100, seed=1)
    project = tmp_path / "reviews.json"
    save(text_classifier(), project)  # bound by --data, as a user does from a shell
    code = cli.main(["train", str(project), "--data", str(folder), "--run-dir",
                     str(tmp_path / "run"), "--json"])
    assert code == 0
    history = json.loads(capsys.readouterr().out)["history"]
    assert history["val_accuracy"][-1] >= 0.85
    model = keras.saving.load_model(tmp_path / "run" / "best.keras")
    texts, labels = held_out(tmp_path / "held")
    scores = model.predict(tf.constant(texts), verbose=0)[:, 0]
    assert np.mean((scores > 0.5) == np.asarray(labels)) >= 0.85
