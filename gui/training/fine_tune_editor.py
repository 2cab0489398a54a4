"""The two-phase fine-tuning plan in the Training dock's settings (``TrainingSettings.fine_tune``).

Phase 1 trains the settings' epochs with the chosen layer (a block call or a
keras.applications layer, the model's base) frozen; phase 2 unfreezes its top K layers
(BatchNormalization stays frozen) and trains M more epochs at a lower learning rate. Every
change is one undoable edit pushed through the settings editor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QWidget,
)

from layerforge.core.document.document import Document
from layerforge.core.editing.settings_commands import block_layer_count, fine_tune_layers
from layerforge.core.schema.settings import FineTune, TrainingSettings

Push = Callable[[Callable[[TrainingSettings], None], str], bool]
LIMIT = 10**6


class FineTuneGroup(QGroupBox):
    """Edits the plan of the document ``doc()`` returns; ``push`` applies a change to a copy
    of the settings as one edit, ``show_error`` shows why a value was refused."""

    def __init__(self, doc: Callable[[], Document], push: Push,
                 show_error: Callable[[str | None], None],
                 parent: QWidget | None = None) -> None:
        super().__init__("Fine-tuning (two phases)", parent)
        self.doc, self.push, self.show_error = doc, push, show_error
        self.enabled = QCheckBox("then unfreeze the base and continue")
        self.enabled.setToolTip("Phase 1 trains the epochs above with the base frozen; phase "
                                "2 unfreezes its top layers and trains on at a lower "
                                "learning rate (the model is compiled again, as Keras "
                                "requires)")
        self.enabled.toggled.connect(self._on_enabled)
        self.layer = QComboBox()
        self.layer.setToolTip("The base: a block call or keras.applications layer of the "
                              "model, frozen in phase 1")
        self.layer.activated.connect(lambda _i: self._set("layer", self.layer.currentText()))
        self.top = self._spin("top", "How many of the base's top layers phase 2 unfreezes; "
                                     "BatchNormalization layers among them stay frozen "
                                     "(inference mode), as in Keras' fine-tuning guide")
        self.epochs = self._spin("epochs", "Epochs of phase 2, after those of phase 1")
        self.learning_rate = QLineEdit()
        self.learning_rate.setToolTip("The learning rate of phase 2, usually far below "
                                      "phase 1's")
        self.learning_rate.editingFinished.connect(self._commit_rate)
        self.hint = QLabel()
        self.hint.setWordWrap(True)
        form = QFormLayout(self)
        for label, widget in (("Phase 2", self.enabled), ("Base", self.layer),
                              ("Unfreeze top layers", self.top),
                              ("Phase 2 epochs", self.epochs),
                              ("Phase 2 learning rate", self.learning_rate)):
            form.addRow(label, widget)
        form.addRow(self.hint)

    def _spin(self, attr: str, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(1, LIMIT)
        spin.setKeyboardTracking(False)  # one edit per finished value
        spin.setToolTip(tip)
        spin.valueChanged.connect(lambda v: self._set(attr, int(v)))
        return spin

    # ------------------------------------------------------------ following the document
    def refresh(self) -> None:
        doc = self.doc()
        plan, names = doc.training.fine_tune, fine_tune_layers(doc)
        widgets = (self.enabled, self.layer, self.top, self.epochs, self.learning_rate)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            self.enabled.setChecked(plan is not None)
            self.layer.clear()
            # A plan naming a layer since renamed or removed shows that name until changed.
            self.layer.addItems([*names, *([plan.layer] if plan and plan.layer not in names
                                           else [])])
            shown = plan or FineTune(names[0] if names else "")
            self.layer.setCurrentText(shown.layer)
            known = block_layer_count(doc, shown.layer) if shown.layer in names else None
            self.top.setMaximum(known or LIMIT)  # a block's layers are known before a build
            self.top.setValue(shown.top)
            self.epochs.setValue(shown.epochs)
            if self.learning_rate.text() != repr(shown.learning_rate):
                self.learning_rate.setText(repr(shown.learning_rate))
        finally:
            for widget in widgets:
                widget.blockSignals(False)
        for widget in widgets[1:]:
            widget.setEnabled(plan is not None)
        self.hint.setText(self._hint(plan, names))

    @staticmethod
    def _hint(plan: FineTune | None, names: list[str]) -> str:
        if not names and plan is None:
            return "Group layers into a block or add a keras.applications layer to fine-tune it."
        if plan is None:
            return "One phase: every layer trains as set (frozen layers stay frozen)."
        return (f"Phase 1: the epochs above with '{plan.layer}' frozen. Phase 2: its top "
                f"{plan.top} layer(s) unfrozen, {plan.epochs} more epoch(s) at "
                f"{plan.learning_rate:g}.")

    # ------------------------------------------------------------ commits
    def _on_enabled(self, checked: bool) -> None:
        if not checked:
            self._push(lambda s: setattr(s, "fine_tune", None), "Train in one phase")
            return
        names = fine_tune_layers(self.doc())
        if not names:
            self.show_error("Fine-tuning: expected a block call or keras.applications layer "
                            "in the model to use as the base; received none (group layers "
                            "into a block first)")
            self.refresh()
            return
        plan = FineTune(self.layer.currentText() if self.layer.currentText() in names
                        else names[0], self.top.value(), self.epochs.value())
        self._push(lambda s: setattr(s, "fine_tune", plan), "Plan fine-tuning")

    def _set(self, attr: str, value: Any) -> None:
        plan = self.doc().training.fine_tune
        if plan is None or getattr(plan, attr) == value:
            return
        changed = dataclasses.replace(plan, **{attr: value})
        self._push(lambda s: setattr(s, "fine_tune", changed),
                   f"Set fine-tuning {attr.replace('_', ' ')}")

    def _commit_rate(self) -> None:
        text = self.learning_rate.text().strip()
        try:
            rate = float(text)
        except ValueError:
            self.show_error(f"Phase 2 learning rate: expected a number such as 1e-05; "
                            f"received {text!r}")
            return
        self._set("learning_rate", rate)

    def _push(self, change: Callable[[TrainingSettings], None], text: str) -> None:
        self.push(change, text)
        self.refresh()
