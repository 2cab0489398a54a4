"""Training and compile settings as undoable edits: checked, exact undo, saved with the project."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from layerforge.core.document.document import Document
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.settings_commands import (
    SetCompileSettings,
    SetSetting,
    SetTrainingSettings,
)
from layerforge.core.io.project import dumps, loads
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.settings import (
    CallbackSpec,
    CompileSettings,
    DataSource,
    TrainingSettings,
)


def changed_settings(doc: Document) -> TrainingSettings:
    s = copy.deepcopy(doc.training)
    s.batch_size, s.epochs, s.seed = 16, 3, 7
    s.callbacks.append(CallbackSpec("TerminateOnNaN"))
    s.data["x"] = DataSource("npz", {"path": "data.npz", "key": "x"})
    return s


def test_training_settings_edit_round_trips(round_trip: Any, doc: Document) -> None:
    seen: list[str] = []
    doc.settings_changed.connect(seen.append)
    round_trip(SetTrainingSettings(changed_settings(doc)))
    assert doc.training.batch_size == 16 and doc.training.data["x"].params["key"] == "x"
    assert seen == ["training"] * 5  # push, then undo/redo twice


def test_undo_restores_the_very_settings_object(stack: UndoStack, doc: Document) -> None:
    original = doc.training
    stack.push(SetTrainingSettings(changed_settings(doc)))
    assert doc.training is not original
    stack.undo()
    assert doc.training is original


def test_settings_survive_save_and_reopen(stack: UndoStack, doc: Document) -> None:
    stack.push(SetTrainingSettings(changed_settings(doc)))
    stack.push(SetCompileSettings(CompileSettings("adam", 0.003)))
    reopened = loads(dumps(doc))
    assert reopened.training == doc.training
    assert reopened.compile == CompileSettings("adam", 0.003)


@pytest.mark.parametrize("field,value,expected", [
    ("batch_size", 0, "a positive integer"),
    ("validation_split", 1.5, r"up to \(not incl.\) 1"),
    ("epochs", "ten", "an integer"),
])
def test_bad_training_settings_are_refused(stack: UndoStack, doc: Document, field: str,
                                           value: Any, expected: str) -> None:
    before = dumps(doc)
    bad = copy.deepcopy(doc.training)
    setattr(bad, field, value)
    with pytest.raises(LayerForgeError, match=f"training.{field}.*{expected}"):
        stack.push(SetTrainingSettings(bad))
    assert dumps(doc) == before and not stack.can_undo


def test_binding_without_its_required_path_is_refused(stack: UndoStack, doc: Document) -> None:
    bad = copy.deepcopy(doc.training)
    bad.data["x"] = DataSource("npy", {})
    with pytest.raises(LayerForgeError, match=r"training.data.x.params.path: expected a string"):
        stack.push(SetTrainingSettings(bad))


def test_callback_with_an_unknown_parameter_is_refused(stack: UndoStack, doc: Document) -> None:
    bad = copy.deepcopy(doc.training)
    bad.callbacks.append(CallbackSpec("EarlyStopping", {"patients": 2}))
    with pytest.raises(LayerForgeError, match=r"expected a parameter among .*patience.*"
                                              "received 'patients'"):
        stack.push(SetTrainingSettings(bad))


def test_compile_settings_edit_round_trips(round_trip: Any, doc: Document) -> None:
    seen: list[str] = []
    doc.settings_changed.connect(seen.append)
    round_trip(SetCompileSettings(CompileSettings("adamw", 1e-4)))
    assert doc.compile == CompileSettings("adamw", 1e-4)
    assert seen == ["compile"] * 5


@pytest.mark.parametrize("settings,expected", [
    (CompileSettings("", None), "an optimizer name"),
    (CompileSettings("adam", -0.1), "a positive learning rate"),
    (CompileSettings("adam", float("nan")), "a positive learning rate"),
])
def test_bad_compile_settings_are_refused(stack: UndoStack, doc: Document,
                                          settings: CompileSettings, expected: str) -> None:
    with pytest.raises(LayerForgeError, match=expected):
        stack.push(SetCompileSettings(settings))
    assert doc.compile == CompileSettings() and not stack.can_undo


@pytest.mark.parametrize("param,value,expected", [
    ("learning_rate", -0.1, "a positive learning rate"),
    ("learning_rate", float("inf"), "a positive learning rate"),
    ("optimizer", "", "an optimizer name"),
])
def test_set_setting_checks_compile_settings_as_the_optimizer_edit_does(
        stack: UndoStack, doc: Document, param: str, value: Any, expected: str) -> None:
    with pytest.raises(LayerForgeError, match=expected):
        stack.push(SetSetting(param, value))
    assert doc.compile == CompileSettings() and not stack.can_undo


def test_set_setting_round_trips(round_trip: Any, doc: Document) -> None:
    round_trip(SetSetting("learning_rate", 0.01))
    assert doc.compile.learning_rate == 0.01
