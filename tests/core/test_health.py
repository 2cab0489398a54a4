"""Training health: per-layer statistics each epoch, the flags drawn from them (dead ReLUs,
vanishing gradients, the first layer to output NaN/Inf), health.jsonl and the reporter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import (
    DataSource,
    TrainingSettings,
    settings_from_records,
    settings_to_records,
)
from layerforge.core.training.fit import train
from layerforge.core.training.health import (
    HEALTH_FILE,
    health_flags,
    layer_stats,
    read_health,
)
from layerforge.core.training.health_callback import _Probe
from layerforge.core.training.process import train_in_child


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.calls.append(("epoch", epoch))

    def on_health(self, report: dict[str, Any]) -> None:
        self.calls.append(("health", report))

    @property
    def reports(self) -> list[dict[str, Any]]:
        return [r for kind, r in self.calls if kind == "health"]


def mlp_settings(**fields: Any) -> TrainingSettings:
    base: dict[str, Any] = {"batch_size": 8, "epochs": 1, "seed": 1,
                            "data": {"features": DataSource("synthetic", {"samples": 40})}}
    return TrainingSettings(**{**base, **fields})


def layer_id(doc: Any, name: str) -> str:
    return next(layer.id for layer in doc.graph.layers.values() if layer.name == name)


# ------------------------------------------------------------------ acceptance
def test_a_relu_dense_with_bias_minus_ten_is_flagged_dead_in_the_first_epoch(tmp_path: Path):
    doc = load_template("sequential-mlp")  # features -> dense -> dense_1 -> predictions
    stack = UndoStack(doc)
    stack.push(SetParam(layer_id(doc, "dense_1"), "bias_initializer",
                        {"class_name": "Constant", "config": {"value": -10.0}}))
    recorder = Recorder()
    result = train(doc, mlp_settings(), run_dir=tmp_path / "run", reporter=recorder)
    assert result.status == "completed", result.message
    # one report per epoch, each right after that epoch's on_epoch_end
    assert [kind for kind, _ in recorder.calls] == ["epoch", "health"]
    report = recorder.reports[0]
    assert report["epoch"] == 0
    assert list(report["layers"]) == ["features", "dense", "dense_1", "predictions"]
    assert report["layers"]["dense_1"]["dead_fraction"] == 1.0
    assert report["layers"]["dense"]["dead_fraction"] < 0.9
    assert report["layers"]["predictions"]["dead_fraction"] is None  # softmax: not a ReLU
    dead = [f for f in report["flags"] if f["kind"] == "dead"]
    assert [f["layer"] for f in dead] == ["dense_1"]
    assert dead[0]["message"].startswith("100 % of units output 0")
    assert read_health(tmp_path / "run") == recorder.reports  # the run folder keeps them
    assert json.loads((tmp_path / "run" / HEALTH_FILE).read_text()) == report


def test_a_learning_rate_of_1e3_flags_the_first_layer_whose_output_is_nan(tmp_path: Path):
    doc = load_template("sequential-mlp")
    doc.compile.optimizer, doc.compile.learning_rate = "sgd", 1e3
    # ReLUs would only die at this rate (flagged dead, not NaN): tanh and a linear output
    # with mse let the weights blow up
    stack = UndoStack(doc)
    for name, activation in (("dense", "tanh"), ("dense_1", "tanh"), ("predictions", "linear")):
        stack.push(SetParam(layer_id(doc, name), "activation", activation))
    for output in doc.graph.outputs():
        output.loss = "mse"
    recorder = Recorder()
    result = train(doc, mlp_settings(epochs=2), run_dir=tmp_path / "run", reporter=recorder)
    assert result.status == "failed"  # the NaN loss still ends the run
    report = recorder.reports[-1]
    bad = [name for name, s in report["layers"].items() if s["nonfinite"] > 0]
    assert len(bad) >= 2  # later layers are contaminated too: the test means something
    flagged = [f["layer"] for f in report["flags"] if f["kind"] == "nonfinite"]
    assert flagged == [bad[0]]
    assert read_health(tmp_path / "run")[-1] == report


# ------------------------------------------------------------------ the flags
def test_vanishing_gradient_is_under_1e_7_of_the_largest():
    layers = {"a": layer_stats(1.0, 2.0), "b": layer_stats(1.0, 1e-8),
              "c": layer_stats(1.0, 3e-7), "d": layer_stats()}
    flags = health_flags(layers)
    assert [(f["layer"], f["kind"]) for f in flags] == [("b", "vanishing")]
    assert "1e-08" in flags[0]["message"] and "a: 2" in flags[0]["message"]


def test_dead_means_more_than_90_percent():
    layers = {"a": layer_stats(1.0, 1.0, dead_fraction=0.9),
              "b": layer_stats(1.0, 0.0, dead_fraction=0.94)}
    flags = health_flags(layers)  # b's zero gradient is its death, not a second flag
    assert [(f["layer"], f["kind"]) for f in flags] == [("b", "dead")]
    assert flags[0]["message"] == "94 % of units output 0 on the whole sample batch (dead ReLU)"


def test_only_the_first_nonfinite_layer_is_flagged_and_nan_norms_become_none():
    layers = {"x": layer_stats(), "a": layer_stats(float("nan"), float("inf"), nonfinite=0),
              "b": layer_stats(float("nan"), float("nan"), nonfinite=12),
              "c": layer_stats(nonfinite=4)}
    assert layers["a"]["weight_norm"] is None and layers["a"]["grad_norm"] is None
    flags = health_flags(layers)
    assert [(f["layer"], f["kind"]) for f in flags] == [("b", "nonfinite")]
    assert flags[0]["message"].startswith("12 NaN/Inf")
    json.dumps(layers, allow_nan=False)  # writable as strict JSON


def test_read_health_of_a_run_without_it_is_empty(tmp_path: Path):
    assert read_health(tmp_path) == []
    (tmp_path / HEALTH_FILE).write_text('{"epoch": 0, "layers": {}, "flags": []}\n{"epo')
    assert read_health(tmp_path) == [{"epoch": 0, "layers": {}, "flags": []}]


# ------------------------------------------------------------------ the measurement
def test_norms_dead_units_and_nan_counts_equal_numpy_on_a_tiny_model():
    inputs = keras.Input((3,), name="x")
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(2, name="out")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 4)).astype("float32")
    kernel[:, :3] = 0.0  # units 0-2 output relu(bias) = 0 for every sample: dead
    model.get_layer("hidden").set_weights([kernel, np.array([-1, -1, -1, 0.5], "float32")])
    x = rng.normal(size=(5, 3)).astype("float32")
    y = rng.normal(size=(5, 2)).astype("float32")
    probe = _Probe(model, x, y)
    start = probe.snapshot()
    before = [w.copy() for w in model.get_layer("out").get_weights()]
    moved = [w + 0.1 for w in before]
    model.get_layer("out").set_weights(moved)

    stats = probe.measure(start)

    h = np.maximum(x @ kernel + np.array([-1, -1, -1, 0.5]), 0)
    k, b = moved
    error = h @ k + b - y
    grad_k, grad_b = h.T @ (2 * error) / error.size, (2 * error).sum(0) / error.size
    out = stats["out"]
    assert out["weight_norm"] == pytest.approx(np.sqrt((k ** 2).sum() + (b ** 2).sum()))
    assert out["grad_norm"] == pytest.approx(np.sqrt((grad_k ** 2).sum() + (grad_b ** 2).sum()),
                                             rel=1e-4)
    norm0 = np.sqrt(sum((w ** 2).sum() for w in before))
    assert out["update_ratio"] == pytest.approx(np.sqrt(0.01 * (k.size + b.size)) / norm0)
    assert stats["hidden"]["update_ratio"] == 0.0
    assert stats["hidden"]["dead_fraction"] == 0.75 and out["dead_fraction"] is None
    assert stats["x"] == layer_stats()  # an input: no weights, not a ReLU
    x[1, 2] = np.nan  # one NaN input poisons its sample's 4 hidden units (NaN x 0 is NaN)
    stats = _Probe(model, x, y).measure([])
    assert [stats[n]["nonfinite"] for n in ("x", "hidden", "out")] == [1, 4, 2]
    assert stats["out"]["update_ratio"] is None  # no snapshot of the epoch's start
    # NaN weights in a ReLU layer: a graph's fused MatMul+bias+ReLU outputs 0 for them,
    # the layer's output as Keras defines it is NaN, and that is what health counts
    x[1, 2] = 0.5
    model.get_layer("hidden").set_weights([np.full((3, 4), np.nan, "float32"),
                                           np.zeros(4, "float32")])
    stats = _Probe(model, x, y).measure([])
    assert [stats[n]["nonfinite"] for n in ("x", "hidden", "out")] == [0, 20, 10]
    assert [f["layer"] for f in health_flags(stats)] == ["hidden"]


def test_the_setting_turns_health_off_and_round_trips(tmp_path: Path):
    settings = mlp_settings(health=False)
    assert settings_from_records(settings_to_records(settings)).health is False
    assert "health" not in settings_to_records(mlp_settings())  # the default is not written
    recorder = Recorder()
    result = train(load_template("sequential-mlp"), settings, run_dir=tmp_path / "run",
                   reporter=recorder)
    assert result.status == "completed" and recorder.reports == []
    assert not (tmp_path / "run" / HEALTH_FILE).exists()


def test_a_failing_measurement_never_fails_the_run_and_is_a_warning(tmp_path: Path,
                                                                     monkeypatch: Any):
    def boom(self: Any, start: Any) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(_Probe, "measure", boom)
    recorder = Recorder()
    result = train(load_template("sequential-mlp"), mlp_settings(epochs=2),
                   run_dir=tmp_path / "run", reporter=recorder)
    assert result.status == "completed" and result.epochs == 2
    assert result.warnings == ["training health stopped: RuntimeError: boom"]
    assert recorder.reports == [] and read_health(tmp_path / "run") == []
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["warnings"] == result.warnings


def test_on_health_reaches_the_reporter_through_the_child_process(tmp_path: Path):
    recorder = Recorder()
    result = train_in_child(load_template("sequential-mlp"), mlp_settings(epochs=2),
                            run_dir=tmp_path / "run", reporter=recorder)
    assert result.status == "completed", result.message
    assert [kind for kind, _ in recorder.calls] == ["epoch", "health", "epoch", "health"]
    assert [r["epoch"] for r in recorder.reports] == [0, 1]
    assert read_health(tmp_path / "run") == recorder.reports


def test_a_nested_model_is_one_layer_and_a_shared_layer_reports_its_first_call():
    block_in = keras.Input((3,))
    block = keras.Model(block_in, keras.layers.Dense(4, activation="relu", name="inner")(block_in),
                        name="block")
    inputs = keras.Input((3,), name="x")
    shared = keras.layers.Dense(3, name="shared")
    first = shared(inputs)
    features = block(shared(first))  # the second call of `shared` feeds the block
    outputs = keras.layers.Dense(1, name="out")(features)
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse")
    x = np.ones((4, 3), "float32")
    x[0, 0] = np.nan
    stats = _Probe(model, x, np.zeros((4, 1), "float32")).measure([])
    assert list(stats) == ["x", "shared", "block", "out"]
    assert stats["block"]["weight_norm"] == pytest.approx(
        np.sqrt(sum((w.astype(np.float64) ** 2).sum() for w in block.get_weights())))
    assert stats["block"]["nonfinite"] == 4  # the block's output in this model: 1 sample x 4
    assert stats["shared"]["nonfinite"] == 3  # its first call: 1 sample x 3 units
    assert [f["layer"] for f in health_flags(stats)] == ["x"]
