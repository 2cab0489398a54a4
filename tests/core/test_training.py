"""Training runs: reporter calls, run folders, stop, failures and each callback's effect."""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import pytest

from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import CallbackSpec, DataSource, TrainingSettings
from layerforge.core.training.fit import train
from layerforge.core.training.runs import list_runs, load_activations, load_run, load_run_model


class Recorder:
    """A reporter that keeps every call, like the GUI's signal bridge would."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}
        self.batches: list[tuple[int, dict[str, float]]] = []
        self.epochs: list[tuple[int, dict[str, float]]] = []
        self.result: Any = None

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.info = info

    def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
        self.batches.append((step, dict(logs)))

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append((epoch, dict(logs)))

    def on_train_end(self, result: Any) -> None:
        self.result = result


def mlp_settings(samples: int = 40, **fields: Any) -> TrainingSettings:
    base: dict[str, Any] = {"batch_size": 8, "epochs": 2, "seed": 1,
                            "data": {"features": DataSource("synthetic", {"samples": samples})}}
    return TrainingSettings(**{**base, **fields})


def test_a_run_reports_and_keeps_its_folder(tmp_path):
    doc = load_template("sequential-mlp")
    recorder = Recorder()
    result = train(doc, mlp_settings(), run_dir=tmp_path / "run", reporter=recorder)
    assert result.status == "completed", result.message
    assert recorder.info["epochs"] == 2 and recorder.info["steps"] == 4  # 32 train samples / 8
    assert recorder.info["device"] == result.device and result.device
    assert [step for step, _ in recorder.batches] == list(range(1, 9))
    assert all("loss" in logs for _, logs in recorder.batches)
    assert [e for e, _ in recorder.epochs] == [0, 1] and "val_loss" in recorder.epochs[0][1]
    assert recorder.result is result
    run = load_run(tmp_path / "run")
    assert run.status == "completed" and run.epochs == 2
    assert run.history["loss"] == result.history["loss"] == [e[1]["loss"] for e in recorder.epochs]
    assert run.settings == mlp_settings()
    snapshot = json.loads((tmp_path / "run" / "project.json").read_text())
    assert snapshot["meta"]["title"] == doc.meta.title
    csv_lines = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert csv_lines[0].split(",")[0] == "epoch" and len(csv_lines) == 3
    model = load_run_model(tmp_path / "run")
    assert model.count_params() == 64 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10
    assert [r.path for r in list_runs(tmp_path)] == [tmp_path / "run"]


def test_multi_output_with_dict_losses_and_loss_weights(tmp_path):
    doc = load_template("social-media-multi-output")
    settings = TrainingSettings(batch_size=4, epochs=1, validation_split=0, data={
        "posts": DataSource("synthetic", {"samples": 8, "length": 300})})
    result = train(doc, settings, run_dir=tmp_path / "run")
    assert result.status == "completed", result.message
    h = {k: v[0] for k, v in result.history.items()}
    # the total is the weighted sum of the heads' losses (0.25, 1 and 10, as in the book)
    weighted = 0.25 * h["age_loss"] + h["income_loss"] + 10 * h["gender_loss"]
    assert h["loss"] == pytest.approx(weighted, rel=1e-3)


def test_stop_ends_after_the_current_batch_and_keeps_a_checkpoint(tmp_path):
    doc = load_template("sequential-mlp")
    stop = threading.Event()

    class StopAtThree(Recorder):
        def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
            super().on_batch_end(step, logs)
            if step == 3:
                stop.set()

    recorder = StopAtThree()
    result = train(doc, mlp_settings(samples=400, epochs=50), run_dir=tmp_path / "run",
                   reporter=recorder, stop_event=stop)
    assert result.status == "stopped"
    assert len(recorder.batches) == 3 and result.epochs == 1
    model = load_run_model(tmp_path / "run")
    assert model.predict(np.zeros((1, 64)), verbose=0).shape == (1, 10)
    assert load_run(tmp_path / "run").status == "stopped"


def test_nan_loss_fails_the_run_with_a_message(tmp_path):
    doc = load_template("sequential-mlp")
    np.save(tmp_path / "y.npy", np.full((40, 10), np.nan, np.float32))
    settings = mlp_settings(callbacks=[CallbackSpec("TerminateOnNaN")])
    settings.data["predictions"] = DataSource("npy", {"path": str(tmp_path / "y.npy")})
    settings.allow_nan = True  # past the data check, the loss itself turns NaN
    result = train(doc, settings, run_dir=tmp_path / "run")
    assert result.status == "failed"
    assert "the loss became nan at epoch 1, batch 1" in result.message
    assert load_run(tmp_path / "run").status == "failed"
    assert result.checkpoint is None  # no NaN weights are kept


def test_nan_data_is_refused_before_the_first_batch_naming_the_array(tmp_path):
    doc = load_template("sequential-mlp")
    x = np.random.default_rng(0).random((40, 64)).astype("float32")
    x[3, 5], x[7, 1] = np.nan, np.inf
    np.save(tmp_path / "x.npy", x)
    settings = mlp_settings(validation_split=0, shuffle_split=False)
    settings.data["features"] = DataSource("npy", {"path": str(tmp_path / "x.npy")})
    result = train(doc, settings, run_dir=tmp_path / "run")
    assert result.status == "failed" and result.epochs == 0
    assert "input 'features': 1 NaN and 1 Inf of 2560 values" in result.message
    assert "--allow-nan" in result.message and result.checkpoint is None


def test_errors_are_recorded_not_raised(tmp_path):
    doc = load_template("sequential-mlp")
    np.save(tmp_path / "x.npy", np.zeros((16, 3)))
    settings = mlp_settings(data={"features": DataSource("npy",
                                                         {"path": str(tmp_path / "x.npy")})})
    result = train(doc, settings, run_dir=tmp_path / "run")
    assert result.status == "failed"
    assert "input 'features'" in result.message and "received (3,)" in result.message
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "failed" and "Traceback" in status["traceback"]

    class Broken(Recorder):
        def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
            raise RuntimeError("plot widget gone")

    result = train(doc, mlp_settings(), run_dir=tmp_path / "run2", reporter=Broken())
    assert result.status == "failed" and result.message == "RuntimeError: plot widget gone"


def test_outputs_without_a_loss_train_with_mse_and_say_so(tmp_path):
    doc = load_template("residual-projection")
    settings = TrainingSettings(batch_size=2, epochs=1, validation_split=0, data={
        "input": DataSource("synthetic", {"samples": 2})})
    result = train(doc, settings, run_dir=tmp_path / "run")
    assert result.status == "completed", result.message
    assert result.warnings == ["output 'residual_add' had no loss; trained with mse"]
    snapshot = json.loads((tmp_path / "run" / "project.json").read_text())
    assert [n["loss"] for n in snapshot["graph"]["nodes"] if n["kind"] == "output"] == ["mse"]


def test_early_stopping_ends_the_run(tmp_path):
    doc = load_template("sequential-mlp")
    never_better = CallbackSpec("EarlyStopping", {"patience": 0, "min_delta": 1e9})
    result = train(doc, mlp_settings(epochs=10, callbacks=[never_better]),
                   run_dir=tmp_path / "run")
    assert result.status == "completed" and result.epochs == 2


def test_callbacks_write_their_files(tmp_path):
    doc = load_template("sequential-mlp")
    callbacks = [CallbackSpec("ReduceLROnPlateau", {"factor": 0.5, "patience": 0,
                                                    "min_delta": 1e9}),
                 CallbackSpec("TensorBoard", {"histogram_freq": 1}),
                 CallbackSpec("CSVLogger"), CallbackSpec("ModelCheckpoint", {"verbose": 0}),
                 CallbackSpec("ActivationLogger", {"every": 1, "sample_index": 2})]
    run = tmp_path / "run"
    result = train(doc, mlp_settings(epochs=3, callbacks=callbacks), run_dir=run)
    assert result.status == "completed", result.message
    rates = result.history["learning_rate"]
    # each epoch logs the rate it trained with; no gain in epoch 2 halves it for epoch 3
    assert rates[1] == rates[0] and rates[2] == pytest.approx(rates[0] * 0.5)
    assert list((run / "tensorboard" / "train").glob("events.out.tfevents.*"))
    assert list((run / "tensorboard" / "validation").glob("events.out.tfevents.*"))
    log = (run / "log.csv").read_text().splitlines()
    assert "loss" in log[0] and len(log) == 4
    assert (run / "best.keras").exists()
    acts = load_activations(run, 3)
    names = [layer.name for layer in doc.graph.layers.values()]
    assert {k: v.shape for k, v in acts.items()} == dict(zip(names, [(1, 32), (1, 32), (1, 10)],
                                                             strict=True))
    assert sorted(p.name for p in (run / "activations").iterdir()) == [
        "epoch_001.npz", "epoch_002.npz", "epoch_003.npz"]
    assert acts[names[-1]].sum() == pytest.approx(1.0, rel=1e-4)  # the softmax output


def two_input_doc(catalog) -> Document:
    """a (4 floats) and b (3 floats), concatenated, one sigmoid unit: a model of 8 weights."""
    doc = Document(catalog)
    stack = UndoStack(doc)
    a = stack.push(edits.add_input(doc, [4], name="a")).node.id
    b = stack.push(edits.add_input(doc, [3], name="b")).node.id
    cat = stack.push(edits.add_layer(doc, "Concatenate")).node.id
    dense = stack.push(edits.add_layer(doc, "Dense", {"units": 1, "activation": "sigmoid"})
                       ).node.id
    out = stack.push(edits.add_output(doc, name="p", loss="binary_crossentropy")).node.id
    for src, dst in ((a, cat), (b, cat), (cat, dense), (dense, out)):
        stack.push(edits.connect(doc, src, dst))
    return doc


@pytest.mark.parametrize("feed", ["list", "dict"])
def test_two_inputs_train_fed_by_list_or_by_dict(tmp_path, catalog, feed):
    doc = two_input_doc(catalog)
    settings = TrainingSettings(batch_size=4, epochs=1, feed=feed, data={
        "a": DataSource("synthetic", {"samples": 10})})
    result = train(doc, settings, run_dir=tmp_path / feed)
    assert result.status == "completed", result.message
    assert result.history["epoch"] == [1]
    assert load_run_model(tmp_path / feed).count_params() == 8


@pytest.mark.parametrize(("monitor", "values", "best"), [
    ("val_loss", [0.9, 0.4, 0.6], 1), ("val_acc", [0.5, 0.7, 0.9], 2), ("loss", [0.3, 0.5], 0)])
def test_the_checkpoint_holds_the_best_epoch_weights(tmp_path, monitor, values, best):
    import keras

    from layerforge.core.training.callbacks import BestKeeper

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    keeper = BestKeeper(tmp_path / "best.keras", monitor)
    keeper.set_model(model)
    for epoch, value in enumerate(values):
        model.set_weights([np.full((2, 1), epoch, np.float32), np.zeros(1, np.float32)])
        keeper.on_epoch_end(epoch, {monitor: value})
    keeper.write(model, current_if_none=True)
    kept = keras.models.load_model(tmp_path / "best.keras").get_weights()[0]
    assert kept.tolist() == [[best], [best]]


@pytest.mark.parametrize(("options", "file", "kept"), [
    ({"save_best_only": False}, "best.keras", 2.0),
    ({"save_weights_only": True}, "best.weights.h5", 1.0)])
def test_the_checkpoint_follows_model_checkpoint_options(tmp_path, options, file, kept):
    import keras

    from layerforge.core.schema.settings import checkpoint_file
    from layerforge.core.training.callbacks import BestKeeper

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    assert checkpoint_file(options) == file
    keeper = BestKeeper(tmp_path / file, "loss", **options)
    keeper.set_model(model)
    for epoch, value in enumerate([0.9, 0.4, 0.6]):
        model.set_weights([np.full((2, 1), epoch, np.float32), np.zeros(1, np.float32)])
        keeper.on_epoch_end(epoch, {"loss": value})
    model.set_weights([np.full((2, 1), np.nan, np.float32), np.zeros(1, np.float32)])
    keeper.on_epoch_end(3, {"loss": 0.1})  # NaN weights are never kept
    keeper.write(model, current_if_none=True)
    model.set_weights([np.zeros((2, 1), np.float32), np.zeros(1, np.float32)])
    if file.endswith(".weights.h5"):
        model.load_weights(tmp_path / file)
    else:
        model = keras.models.load_model(tmp_path / file)
    assert model.get_weights()[0].tolist() == [[kept], [kept]]


def test_activations_are_logged_per_call_of_a_shared_layer(tmp_path):
    doc = load_template("siamese-lstm")
    settings = TrainingSettings(batch_size=8, epochs=1, seed=2, validation_split=0,
                                data={n: DataSource("synthetic", {"samples": 8, "length": 6})
                                      for n in ("left", "right")},
                                callbacks=[CallbackSpec("ActivationLogger")])
    result = train(doc, settings, run_dir=tmp_path / "run")
    assert result.status == "completed", result.message
    acts = load_activations(tmp_path / "run", 1)
    assert {"lstm", "lstm@2", "merged", "predictions"} <= set(acts)
    assert acts["lstm"].shape == acts["lstm@2"].shape
    assert not np.allclose(acts["lstm"], acts["lstm@2"])  # the right branch, not the left again


def test_the_split_seed_a_run_drew_is_kept_in_its_settings(tmp_path):
    doc = load_template("sequential-mlp")
    result = train(doc, mlp_settings(samples=16, epochs=1, seed=None), run_dir=tmp_path / "run")
    assert result.status == "completed", result.message
    kept = load_run(tmp_path / "run").settings
    assert kept.shuffle_split and isinstance(kept.split_seed, int)
    assert doc.training.split_seed is None  # the project's own settings are left as they were
