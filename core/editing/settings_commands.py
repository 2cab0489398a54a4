"""Commands that replace a document's compile or training settings."""

from __future__ import annotations

import copy
from abc import abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ..catalog.entry import APPLICATION_PREFIX
from ..catalog.registries import registry_error
from ..document.document import Document
from ..schema.errors import EditError
from ..schema.records import BLOCK_CLASS
from ..schema.settings import (
    CompileSettings,
    FineTune,
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
    def checked(self, doc: Document) -> Any:
        """The new value, checked (raises with a message naming what was expected)."""

    def redo(self, doc: Document) -> None:
        new = self.checked(doc)
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

    def checked(self, doc: Document) -> TrainingSettings:
        checked = settings_from_records(settings_to_records(self.settings), "training settings")
        plan = checked.fine_tune
        # Checked when it changes: a later rename of its layer must not block other edits.
        problem = fine_tune_error(doc, plan) if plan != doc.training.fine_tune else None
        if problem:
            raise EditError(problem)
        return checked


@dataclass
class SetCompileSettings(_SwapSettings):
    """Replace ``doc.compile`` (optimizer and learning rate) as one edit."""

    settings: CompileSettings
    text: str = "Change optimizer"
    part: ClassVar[str] = "compile"

    def checked(self, doc: Document) -> CompileSettings:
        check_compile_settings(self.settings)
        check_optimizer_name(doc, self.settings.optimizer)
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
        check_optimizer_name(doc, settings.optimizer)
    _swap(doc, "compile", settings)


def check_optimizer_name(doc: Document, name: str) -> None:
    """Refuse an optimizer name ``keras.optimizers.get`` does not resolve."""
    problem = registry_error(doc.catalog.registries, "optimizer", name)
    if problem:
        raise EditError(problem)


def fine_tune_layers(doc: Document) -> list[str]:
    """The main graph's layers a two-phase plan can fine-tune, by name: block calls (a model
    used as a layer) and keras.applications layers."""
    return [layer.name for layer in doc.graph.layers.values()
            if layer.block_id is not None or layer.class_name == BLOCK_CLASS
            or layer.class_name.startswith(APPLICATION_PREFIX)]


def fine_tune_error(doc: Document, plan: FineTune | None) -> str | None:
    """Why the plan's layer cannot be fine-tuned in ``doc``, or None."""
    if plan is None:
        return None
    names = fine_tune_layers(doc)
    if plan.layer not in names:
        known = ", ".join(repr(n) for n in names) or "none in this graph"
        return (f"training.fine_tune.layer: expected a block call or keras.applications "
                f"layer of the main graph ({known}); received {plan.layer!r}")
    count = block_layer_count(doc, plan.layer)
    if count is not None and plan.top > count:
        return (f"training.fine_tune.top: expected 1 to {count} (the layers of "
                f"'{plan.layer}' as Keras counts them, its inputs included); "
                f"received {plan.top}")
    return None


def block_layer_count(doc: Document, name: str) -> int | None:
    """How many layers Keras gives the block ``name`` calls (an InputLayer per input, then
    its layers); None for a keras.applications layer, known only once built."""
    layer = next(lay for lay in doc.graph.layers.values() if lay.name == name)
    if layer.block_id is None:
        return None
    graph = doc.block(layer.block_id).graph
    return len(graph.inputs()) + len(graph.layers)


def _swap(doc: Document, part: str, value: Any) -> None:
    setattr(doc, part, value)
    doc.settings_changed.emit(part)
