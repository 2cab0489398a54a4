"""Training settings: records round trip, and every bad field is named with expected/received."""

from __future__ import annotations

import json

import pytest

from layerforge.core.schema.settings import (
    CallbackSpec,
    DataSource,
    SettingsError,
    TrainingSettings,
    callback_param_error,
    monitored_params,
    settings_from_records,
    settings_to_records,
)


def full_settings() -> TrainingSettings:
    return TrainingSettings(
        batch_size=16, epochs=3, validation_split=0.1, shuffle=False, seed=7,
        mixed_precision=True, feed="list",
        callbacks=[CallbackSpec("EarlyStopping", {"patience": 2, "monitor": "val_acc"}),
                   CallbackSpec("TensorBoard", {"histogram_freq": 1, "write_graph": False}),
                   CallbackSpec("ActivationLogger", {"every": 2})],
        data={"image": DataSource("keras_dataset", {"name": "mnist", "part": "x", "scale": 0.5}),
              "label": DataSource("keras_dataset", {"name": "mnist", "part": "y"})},
        validation_data={"image": DataSource("npz", {"path": "v.npz", "key": "x"})},
    )


def test_records_round_trip_through_json():
    settings = full_settings()
    text = json.dumps(settings_to_records(settings))
    assert settings_from_records(json.loads(text)) == settings


def test_missing_records_give_defaults():
    assert settings_from_records(None) == TrainingSettings()
    assert settings_from_records({}) == TrainingSettings()


@pytest.mark.parametrize(("records", "where", "expected", "received"), [
    ({"batch_size": "32"}, "training.batch_size", "an integer", '"32"'),
    ({"batch_size": 0}, "training.batch_size", "a positive integer", "0"),
    ({"epochs": True}, "training.epochs", "an integer", "true"),
    ({"validation_split": 1.5}, "training.validation_split", "up to (not incl.) 1", "1.5"),
    ({"feed": "tuple"}, "training.feed", "'dict' or 'list'", '"tuple"'),
    ({"callbacks": [{"kind": "EarlyStop"}]}, "training.callbacks[0].kind", "EarlyStopping",
     '"EarlyStop"'),
    ({"data": {"x": {"kind": "npz", "params": {"path": "a.npz"}}}},
     "training.data.x.params.key", "a string", "null"),
    ({"data": {"x": {"kind": "parquet"}}}, "training.data.x.kind", "synthetic", '"parquet"'),
])
def test_bad_fields_are_named(records, where, expected, received):
    with pytest.raises(SettingsError) as info:
        settings_from_records(records, "model.json")
    message = str(info.value)
    assert message.startswith(f"model.json: at {where}: expected")
    assert expected in message and f"received {received}" in message


def test_callback_params_checked_against_the_keras_signature():
    misspelt = CallbackSpec("EarlyStopping", {"patiense": 3})
    problem = callback_param_error(misspelt)
    assert "received 'patiense'" in problem and "patience" in problem and "monitor" in problem
    wrong_type = callback_param_error(CallbackSpec("ReduceLROnPlateau", {"factor": "half"}))
    assert wrong_type == "'factor' expects a number (default 0.1); received \"half\""
    assert callback_param_error(CallbackSpec("EarlyStopping", {"patience": 3})) is None
    assert callback_param_error(CallbackSpec("ActivationLogger", {"every": 1})) is None
    assert "'every'" in callback_param_error(CallbackSpec("ActivationLogger", {"every": "x"}))


def test_run_folder_paths_cannot_be_set():
    problem = callback_param_error(CallbackSpec("ModelCheckpoint", {"filepath": "/tmp/x.keras"}))
    assert problem.startswith("'filepath' is set by the run folder")


def test_bad_callback_params_fail_loading_with_the_callback_named():
    records = {"callbacks": [{"kind": "CSVLogger", "params": {"seperator": ";"}}]}
    with pytest.raises(SettingsError, match=r"training.callbacks\[0\] \(CSVLogger\).*'seperator'"):
        settings_from_records(records, "p.json")


def test_monitor_follows_validation():
    spec = CallbackSpec("EarlyStopping", {"patience": 1})
    assert monitored_params(spec, True)["monitor"] == "val_loss"
    assert monitored_params(spec, False)["monitor"] == "loss"
    custom = CallbackSpec("EarlyStopping", {"monitor": "acc"})
    assert monitored_params(custom, False)["monitor"] == "acc"
