"""Freezing a block and the two-phase fine-tuning plan: a frozen block keeps its weights bit for
bit; the plan trains with the base frozen, then unfreezes exactly the top K layers of it
(BatchNormalization kept frozen) at the lower learning rate, in the app's training process,
in ``layerforge train`` and in the exported module."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fine_tune_projects import BASE_LAYERS, PHASE_TWO, PLAN, based_doc

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.cli.main import main as cli_main
from layerforge.core.codegen.fine_tune_code import unfreeze_top
from layerforge.core.codegen.loader import build_and_compile
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.freeze import set_trainable
from layerforge.core.editing.renames import RenameLayer
from layerforge.core.editing.settings_commands import SetTrainingSettings, fine_tune_layers
from layerforge.core.io.export import export_python
from layerforge.core.io.project import dumps, loads, save
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.settings import (
    DataSource,
    FineTune,
    TrainingSettings,
    settings_from_records,
    settings_to_records,
)
from layerforge.core.training.fit import train
from layerforge.core.training.process import train_in_child
from layerforge.core.training.runs import load_run_model

keras = pytest.importorskip("keras")

def initial_weights(doc: Document) -> dict[str, list[np.ndarray]]:
    """The weights a run of ``doc`` starts from (it seeds Keras, then builds)."""
    keras.utils.set_random_seed(doc.training.seed)
    return weights_by_layer(build_and_compile(doc))


def weights_by_layer(model: Any) -> dict[str, list[np.ndarray]]:
    base = model.get_layer("base")
    found = {name: base.get_layer(name).get_weights() for name in BASE_LAYERS}
    found["head"] = model.get_layer("head").get_weights()
    return found


def changed(before: dict[str, list[np.ndarray]], after: dict[str, list[np.ndarray]]
            ) -> list[str]:
    """The layers whose weights differ at all (bit for bit)."""
    return [name for name in before
            if any(not np.array_equal(a, b) for a, b in zip(before[name], after[name],
                                                             strict=True))]


def test_the_block_is_offered_and_the_plan_is_kept_in_the_project() -> None:
    doc = based_doc()
    assert fine_tune_layers(doc) == ["base"]
    stack = UndoStack(doc)
    planned = copy.deepcopy(doc.training)
    planned.fine_tune = PLAN
    stack.push(SetTrainingSettings(planned))
    assert loads(dumps(doc)).training.fine_tune == PLAN
    records = settings_to_records(doc.training)
    assert records["fine_tune"] == {"layer": "base", "top": 3, "epochs": 1,
                                    "learning_rate": 0.001}
    stack.undo()
    assert "fine_tune" not in settings_to_records(doc.training)  # files without a plan as before


@pytest.mark.parametrize("plan,expected", [
    (FineTune("head"), "expected a block call or keras.applications layer of the main graph "
                       "('base'); received 'head'"),
    (FineTune("base", top=0), "training.fine_tune.top: expected a positive integer"),
    (FineTune("base", top=6), "training.fine_tune.top: expected 1 to 5 (the layers of 'base' "
                              "as Keras counts them, its inputs included); received 6"),
    (FineTune("base", learning_rate=-1.0), "training.fine_tune.learning_rate: expected a "
                                           "positive learning rate"),
])
def test_a_plan_that_does_not_fit_is_refused(plan: FineTune, expected: str) -> None:
    doc = based_doc()
    stack = UndoStack(doc)
    bad = copy.deepcopy(doc.training)
    bad.fine_tune = plan
    with pytest.raises(LayerForgeError, match=re.escape(expected)):
        stack.push(SetTrainingSettings(bad))
    assert doc.training.fine_tune is None and not stack.can_undo
    with pytest.raises(LayerForgeError, match=r"training\.fine_tune\.epochs"):
        settings_from_records({"fine_tune": {"layer": "base", "epochs": "two"}})


def test_more_top_layers_than_the_block_has_are_refused() -> None:
    model = build_and_compile(based_doc())
    with pytest.raises(ValueError, match=r"expected 1 to 5 top layers of 'base' \(it has 5\); "
                                         "received 9"):
        unfreeze_top(model, "base", 9)


def test_a_block_frozen_in_the_app_keeps_its_weights_bit_for_bit(tmp_path: Path) -> None:
    doc = based_doc()
    call = next(n for n in doc.graph.calls() if doc.graph.layer_of(n.id).name == "base")
    UndoStack(doc).push(set_trainable(doc, call.id, False))
    before = initial_weights(doc)
    result = train(doc, run_dir=tmp_path / "run")
    assert result.status == "completed", result.message
    assert changed(before, weights_by_layer(load_run_model(tmp_path / "run"))) == ["head"]


def test_the_plan_in_the_app_training_process(tmp_path: Path) -> None:
    doc = based_doc()
    settings = copy.deepcopy(doc.training)
    settings.fine_tune = PLAN
    before = initial_weights(doc)
    result = train_in_child(doc, settings, run_dir=tmp_path / "run")
    assert result.status == "completed", result.message
    assert result.history["epoch"] == [1, 2]
    assert result.history["learning_rate"] == pytest.approx([0.01, 0.001])
    assert "the top 3 layer(s) of 'base' trainable: feat_b, feat_c" in result.message
    after = weights_by_layer(load_run_model(tmp_path / "run"))
    # feat_a below the top 3 and the BatchNormalization (moving statistics too) never moved.
    assert changed(before, after) == [*PHASE_TWO, "head"]


def test_the_plan_from_the_command_line(tmp_path: Path, capsys: Any) -> None:
    doc = based_doc()
    project = tmp_path / "based.json"
    save(doc, project)
    before = initial_weights(doc)
    code = cli_main(["train", str(project), "--fine-tune", "base", "--fine-tune-top", "3",
                     "--fine-tune-epochs", "1", "--fine-tune-lr", "0.001",
                     "--run-dir", str(tmp_path / "run"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "phase 2: 1 epoch(s) at learning rate 0.001 with the top 3 layer(s) of 'base' " \
           "trainable: feat_b, feat_c\n" in err
    history = json.loads(out)["history"]
    assert history["learning_rate"] == pytest.approx([0.01, 0.001])
    assert changed(before, weights_by_layer(load_run_model(tmp_path / "run"))) == \
        [*PHASE_TWO, "head"]
    assert cli_main(["train", str(project), "--fine-tune", "head"]) == 2
    err = capsys.readouterr().err
    assert "--fine-tune: training.fine_tune.layer: expected a block call or " \
           "keras.applications layer of the main graph ('base'); received 'head'" in err


def test_the_exported_module_runs_the_same_plan(tmp_path: Path, monkeypatch: Any) -> None:
    doc = based_doc()
    doc.training.fine_tune = PLAN
    export_python(doc, tmp_path / "model.py")
    spec = importlib.util.spec_from_file_location("fine_tuned_model", tmp_path / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fits: list[dict[str, Any]] = []
    real_fit = keras.Model.fit

    def recording_fit(model: Any, *args: Any, **kwargs: Any) -> Any:
        base = model.get_layer("base")
        fits.append({"trainable": [n for n in BASE_LAYERS if base.get_layer(n).trainable],
                     "rate": float(model.optimizer.learning_rate),
                     "epochs": (kwargs.get("initial_epoch", 0), kwargs["epochs"])})
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    module.main(str(tmp_path / "run"))
    assert fits == [{"trainable": [], "rate": pytest.approx(0.01), "epochs": (0, 1)},
                    {"trainable": PHASE_TWO, "rate": pytest.approx(0.001), "epochs": (1, 2)}]
    source = generate(doc).source
    assert "unfreeze_top(model, 'base', 3)" in source
    assert "model.optimizer.learning_rate = 0.001" in source


def test_a_keras_applications_base_is_fine_tuned_the_same_way(tmp_path: Path,
                                                              monkeypatch: Any) -> None:
    """MobileNetV2 (weights=None, 32x32, average pooling) as the base: phase 2 unfreezes the
    top 4 of its layers; its last BatchNormalization, among them, stays frozen."""
    doc = Document(get_catalog())
    stack = UndoStack(doc)
    x = stack.push(edits.add_input(doc, [32, 32, 3], name="image")).node.id
    app = stack.push(edits.add_layer(doc, "applications.MobileNetV2",
                                     {"include_top": False, "weights": None, "pooling": "avg"},
                                     name="base")).node.id
    head = stack.push(edits.add_layer(doc, "Dense", {"units": 2}, name="head")).node.id
    out = stack.push(edits.add_output(doc, name="head", loss="mse")).node.id
    for src, dst in ((x, app), (app, head), (head, out)):
        stack.push(edits.connect(doc, src, dst))
    assert fine_tune_layers(doc) == ["base"]
    doc.training = TrainingSettings(batch_size=4, epochs=1, seed=1, validation_split=0.0,
                                    data={"image": DataSource("synthetic", {"samples": 4})},
                                    fine_tune=FineTune("base", top=4, epochs=1,
                                                       learning_rate=1e-4))
    fits: list[list[str]] = []
    top: list[str] = []
    real_fit = keras.Model.fit

    def recording_fit(model: Any, *args: Any, **kwargs: Any) -> Any:
        layers = model.get_layer("base").layers
        top[:] = [layer.name for layer in layers[-4:]]
        fits.append([layer.name for layer in layers if layer.trainable])
        return real_fit(model, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording_fit)
    result = train(doc, run_dir=tmp_path / "run")
    assert result.status == "completed", result.message
    assert top[:3] == ["Conv_1", "Conv_1_bn", "out_relu"]  # then the pooling layer
    assert fits == [[], [top[0], *top[2:]]]  # phase 1: all frozen; Conv_1_bn stays frozen


def test_renaming_the_base_renames_the_plan_and_undo_restores_it() -> None:
    doc = based_doc()
    stack = UndoStack(doc)
    planned = copy.deepcopy(doc.training)
    planned.fine_tune = PLAN
    stack.push(SetTrainingSettings(planned))
    base_id = next(layer.id for layer in doc.graph.layers.values() if layer.name == "base")
    stack.push(RenameLayer(base_id, "backbone"))
    assert doc.training.fine_tune.layer == "backbone"
    assert fine_tune_layers(doc) == ["backbone"]
    stack.undo()
    assert doc.training.fine_tune == PLAN
