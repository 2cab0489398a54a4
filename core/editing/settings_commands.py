"""Commands that replace a document's compile or training settings."""

from __future__ import annotations

import copy
from abc import abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

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
class _SwapSettings(Command):
    """Replace one part of the document's settings (``part``) by a checked value; undo puts
    back the very object that was there."""

    part: ClassVar[str]
    _old: Any = field(default=None, repr=False, kw_only=True)

    @abstractmethod
    def checked(self) -> Any:
        """The new value, checked (raises with a message naming what was expected)."""

    def redo(self, doc: Document) -> None:
        new = self.checked()
        self._old = getattr(doc, self.part)
        _swap(doc, self.part, new)

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        _swap(doc, self.part, self._old)


@dataclass
class SetTrainingSettings(_SwapSettings):
    """Replace ``doc.training`` (fit arguments, callbacks, data bindings) as one edit.

    The settings are checked as a project file would check them, so a document never
    holds settings that it could not save and reopen.
    """

    settings: TrainingSettings
    text: str = "Change training settings"
    part: ClassVar[str] = "training"

    def checked(self) -> TrainingSettings:
        return settings_from_records(settings_to_records(self.settings), "training settings")


@dataclass
class SetCompileSettings(_SwapSettings):
    """Replace ``doc.compile`` (optimizer and learning rate) as one edit."""

    settings: CompileSettings
    text: str = "Change optimizer"
    part: ClassVar[str] = "compile"

    def checked(self) -> CompileSettings:
        check_compile_settings(self.settings)
        return copy.deepcopy(self.settings)


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
        _swap(doc, "training", replace(doc.training, batch_size=value))
        return
    settings = replace(doc.compile, **{param: value})
    if check:
        check_compile_settings(settings)
    _swap(doc, "compile", settings)


def _swap(doc: Document, part: str, value: Any) -> None:
    setattr(doc, part, value)
    doc.settings_changed.emit(part)
