"""Commands that replace a document's compile or training settings."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

from ..document.document import Document
from ..schema.settings import (
    CompileSettings,
    TrainingSettings,
    check_compile_settings,
    settings_from_records,
    settings_to_records,
)
from .commands import Command


@dataclass
class SetTrainingSettings(Command):
    """Replace ``doc.training`` (fit arguments, callbacks, data bindings) as one edit.

    The settings are checked as a project file would check them, so a document never
    holds settings that it could not save and reopen; undo puts back the very object
    that was there.
    """

    settings: TrainingSettings
    text: str = "Change training settings"
    _old: TrainingSettings | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        checked = settings_from_records(settings_to_records(self.settings), "training settings")
        self._old = doc.training
        doc.training = checked
        doc.settings_changed.emit("training")

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        doc.training = self._old
        doc.settings_changed.emit("training")


@dataclass
class SetCompileSettings(Command):
    """Replace ``doc.compile`` (optimizer and learning rate) as one edit."""

    settings: CompileSettings
    text: str = "Change optimizer"
    _old: CompileSettings | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        check_compile_settings(self.settings)
        self._old = doc.compile
        doc.compile = copy.deepcopy(self.settings)
        doc.settings_changed.emit("compile")

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        doc.compile = self._old
        doc.settings_changed.emit("compile")


@dataclass
class SetSetting(Command):
    """Set one searched training setting (compile.learning_rate/optimizer,
    training.batch_size); compile settings are checked as :class:`SetCompileSettings` checks
    them."""

    param: str
    value: Any
    text: str = "Set training setting"
    _old: Any = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        owner = doc.training if self.param == "batch_size" else doc.compile
        self._old = getattr(owner, self.param)
        _set(doc, self.param, self.value, check=True)

    def undo(self, doc: Document) -> None:
        _set(doc, self.param, self._old, check=False)


def _set(doc: Document, param: str, value: Any, check: bool) -> None:
    if param == "batch_size":
        doc.training = replace(doc.training, batch_size=value)
        doc.settings_changed.emit("training")
        return
    settings = replace(doc.compile, **{param: value})
    if check:
        check_compile_settings(settings)
    doc.compile = settings
    doc.settings_changed.emit("compile")
