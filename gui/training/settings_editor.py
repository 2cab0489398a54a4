"""The training settings of the project as undoable editors.

Optimizer and learning rate (``doc.compile``), the fit arguments and the callbacks
with their parameters (``doc.training``). Every accepted change is one
``session.push`` of a ``SetCompileSettings`` / ``SetTrainingSettings``; a value
that does not fit shows why, in the panel, and pushes nothing. The editors follow
the document (undo, redo, open) without moving the focus.
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.catalog.catalog import cache_path
from layerforge.core.catalog.registries import offered_names
from layerforge.core.editing.settings_commands import SetCompileSettings, SetTrainingSettings
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.settings import (
    CALLBACK_KINDS,
    FEEDS,
    RUN_FOLDER_PARAMS,
    CallbackSpec,
    CompileSettings,
    TrainingSettings,
    callback_param_error,
    callback_parameters,
    settings_from_records,
    settings_to_records,
)

from ..session import EditorSession
from ..theme import ERROR_COLOR
from .fine_tune_editor import FineTuneGroup

LIMIT = 10**7


def while_alive(slot: Callable[..., Any]) -> Callable[..., Any]:
    """A slot of the session's signals that does nothing once its widgets are deleted
    (the window is being torn down while the session still emits)."""

    @functools.wraps(slot)
    def guarded(self: Any, *args: Any) -> Any:
        try:
            return slot(self, *args)
        except RuntimeError as exc:
            if "already deleted" in str(exc):
                return None
            raise

    return guarded


def parse_value(text: str) -> Any:
    """A callback parameter typed in a cell: JSON (3, 0.5, true, null, "x", [1, 2]),
    Python's True/False/None, else the text itself (e.g. val_accuracy)."""
    stripped = text.strip()
    python_words = {"True": True, "False": False, "None": None}
    if stripped in python_words:
        return python_words[stripped]
    try:
        return json.loads(stripped)
    except ValueError:
        return stripped


def show_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def checked_training(settings: TrainingSettings) -> str | None:
    """Why the settings could not be saved in a project, or None."""
    try:
        settings_from_records(settings_to_records(settings), "training settings")
    except LayerForgeError as exc:
        return str(exc).removeprefix("training settings: ")
    return None


class SettingsEditor(QWidget):
    """Optimizer, fit arguments and callbacks of the session's document."""

    def __init__(self, session: EditorSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.callback_row = -1
        self._table_kind: str | None = None
        self._build()
        session.undo_stack.indexChanged.connect(self._on_index_changed)
        session.document_replaced.connect(self._on_index_changed)
        session.keras_ready_changed.connect(self._on_keras_ready)
        self.refresh()

    # ------------------------------------------------------------ layout
    def _build(self) -> None:
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.hide()
        columns = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(self._build_fit_group())
        self.fine_tune = FineTuneGroup(lambda: self.session.doc, self.push_training,
                                       self.show_error)
        left.addWidget(self.fine_tune)
        left.addStretch(1)
        columns.addLayout(left, 2)
        columns.addWidget(self._build_callbacks_group(), 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.error_label)
        layout.addLayout(columns, 1)

    def _build_fit_group(self) -> QGroupBox:
        group = QGroupBox("Optimizer and fit")
        form = QFormLayout(group)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.optimizer = QComboBox()
        self.optimizer.setEditable(True)
        self.optimizer.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self._fill_optimizers()
        self.optimizer.setToolTip("An optimizer name as keras.optimizers.get resolves it")
        self.optimizer.activated.connect(lambda _i: self.commit_compile())
        self.optimizer.lineEdit().editingFinished.connect(self.commit_compile)
        self.learning_rate = QLineEdit()
        self.learning_rate.setPlaceholderText("optimizer default")
        self.learning_rate.editingFinished.connect(self.commit_compile)
        self.batch_size = self._spin(1, LIMIT, "batch_size")
        self.epochs = self._spin(1, LIMIT, "epochs")
        self.validation_split = QDoubleSpinBox()
        self.validation_split.setRange(0.0, 0.95)
        self.validation_split.setSingleStep(0.05)
        self.validation_split.setDecimals(2)
        self.validation_split.setKeyboardTracking(False)
        self.validation_split.setToolTip("Fraction of the training data held out (its last "
                                         "samples, after the shuffle below) when no separate "
                                         "validation data is bound")
        self.validation_split.valueChanged.connect(
            lambda v: self.commit_training("validation_split", round(float(v), 4)))
        self.shuffle = QCheckBox("shuffle every epoch")
        self.shuffle.toggled.connect(lambda v: self.commit_training("shuffle", bool(v)))
        self.shuffle_split = QCheckBox("shuffle before the validation split")
        self.shuffle_split.setToolTip("A seeded shuffle (the seed below, else one drawn and "
                                      "kept in the run's settings), so data sorted by class "
                                      "does not leave one class for validation")
        self.shuffle_split.toggled.connect(
            lambda v: self.commit_training("shuffle_split", bool(v)))
        self.allow_nan = QCheckBox("train on data holding NaN or Inf")
        self.allow_nan.setToolTip("Without it, a run refuses such data before the first batch, "
                                  "naming the input or output and the counts")
        self.allow_nan.toggled.connect(lambda v: self.commit_training("allow_nan", bool(v)))
        self.health = QCheckBox("report each layer's health every epoch")
        self.health.setToolTip("Weight and gradient norms, update/weight ratio, dead ReLU units "
                               "and NaN/Inf per layer on a fixed sample batch: View → Colour "
                               "Nodes By shows them on the canvas, the Runs dock replays them")
        self.health.toggled.connect(lambda v: self.commit_training("health", bool(v)))
        self.seed = QLineEdit()
        self.seed.setPlaceholderText("random")
        self.seed.editingFinished.connect(self.commit_seed)
        self.mixed_precision = QCheckBox("mixed_float16 (GPU only)")
        self.mixed_precision.toggled.connect(
            lambda v: self.commit_training("mixed_precision", bool(v)))
        self.feed = QComboBox()
        self.feed.addItems(FEEDS)
        self.feed.setToolTip("dict: arrays by input/output name; list: in graph order")
        self.feed.activated.connect(lambda _i: self.commit_training("feed",
                                                                    self.feed.currentText()))
        for label, widget in (("Optimizer", self.optimizer), ("Learning rate", self.learning_rate),
                              ("Batch size", self.batch_size), ("Epochs", self.epochs),
                              ("Validation split", self.validation_split),
                              ("Shuffle", self.shuffle), ("Split", self.shuffle_split),
                              ("Seed", self.seed), ("NaN data", self.allow_nan),
                              ("Mixed precision", self.mixed_precision),
                              ("Health", self.health), ("Feed arrays as", self.feed)):
            form.addRow(label, widget)
        return group

    def _spin(self, low: int, high: int, attr: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setKeyboardTracking(False)  # one edit per finished value, not per keystroke
        spin.valueChanged.connect(lambda v: self.commit_training(attr, int(v)))
        return spin

    def _build_callbacks_group(self) -> QGroupBox:
        group = QGroupBox("Callbacks")
        self.callback_list = QListWidget()
        self.callback_list.currentRowChanged.connect(self._on_callback_selected)
        self.callback_kind = QComboBox()
        self.callback_kind.addItems(CALLBACK_KINDS)
        self.add_callback_button = QPushButton("Add")
        self.add_callback_button.clicked.connect(
            lambda: self.add_callback(self.callback_kind.currentText()))
        self.remove_callback_button = QPushButton("Remove")
        self.remove_callback_button.clicked.connect(self.remove_callback)
        buttons = QHBoxLayout()
        buttons.addWidget(self.callback_kind, 1)
        buttons.addWidget(self.add_callback_button)
        buttons.addWidget(self.remove_callback_button)
        self.param_table = QTableWidget(0, 3)
        self.param_table.setHorizontalHeaderLabels(["Parameter", "Value", "Default"])
        self.param_table.verticalHeader().hide()
        header = self.param_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.param_table.itemChanged.connect(self._on_param_edited)
        self.param_hint = QLabel("Select a callback to edit its parameters; an empty value "
                                 "uses the default.")
        self.param_hint.setWordWrap(True)
        left = QVBoxLayout()
        left.addWidget(self.callback_list, 1)
        left.addLayout(buttons)
        right = QVBoxLayout()
        right.addWidget(self.param_hint)
        right.addWidget(self.param_table, 1)
        row = QHBoxLayout(group)
        row.addLayout(left, 2)
        row.addLayout(right, 3)
        return group

    # ------------------------------------------------------------ following the document
    @while_alive
    def _on_index_changed(self, _index: int = 0) -> None:
        self.refresh()

    @while_alive
    def _on_keras_ready(self, _ready: bool) -> None:
        self._fill_optimizers()
        self._fill_param_table()

    def _fill_optimizers(self) -> None:
        """Every name keras.optimizers.get resolves, from the catalog once it can be read
        without importing TensorFlow (cached, or Keras loaded in the background)."""
        if self.optimizer.count() or not (self._keras_loaded() or cache_path().exists()):
            return
        text = self.optimizer.currentText()
        self.optimizer.blockSignals(True)
        self.optimizer.addItems(offered_names(
            self.session.doc.catalog.registries.get("optimizer", {})))
        self.optimizer.setEditText(text)
        self.optimizer.blockSignals(False)

    def refresh(self) -> None:
        doc = self.session.doc
        s, c = doc.training, doc.compile
        widgets = (self.optimizer, self.learning_rate, self.batch_size, self.epochs,
                   self.validation_split, self.shuffle, self.seed, self.mixed_precision,
                   self.feed, self.shuffle_split, self.allow_nan, self.health)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            self.optimizer.setEditText(c.optimizer)
            _set_text(self.learning_rate, "" if c.learning_rate is None else repr(c.learning_rate))
            self.batch_size.setValue(s.batch_size)
            self.epochs.setValue(s.epochs)
            self.validation_split.setValue(s.validation_split)
            self.shuffle.setChecked(s.shuffle)
            self.shuffle_split.setChecked(s.shuffle_split)
            self.allow_nan.setChecked(s.allow_nan)
            _set_text(self.seed, "" if s.seed is None else str(s.seed))
            self.mixed_precision.setChecked(s.mixed_precision)
            self.health.setChecked(s.health)
            self.feed.setCurrentText(s.feed)
        finally:
            for widget in widgets:
                widget.blockSignals(False)
        self._refresh_callbacks()
        self.fine_tune.refresh()

    def _refresh_callbacks(self) -> None:
        callbacks = self.session.doc.training.callbacks
        row = min(self.callback_row, len(callbacks) - 1)
        self.callback_list.blockSignals(True)
        self.callback_list.clear()
        for spec in callbacks:
            self.callback_list.addItem(callback_text(spec))
        self.callback_list.setCurrentRow(row)
        self.callback_list.blockSignals(False)
        self.callback_row = row
        self.remove_callback_button.setEnabled(row >= 0)
        self._fill_param_table()

    def _fill_param_table(self) -> None:
        """One row per constructor parameter of the selected callback; rows of the same
        callback are updated in place (the edited cell may be the one being handled)."""
        table = self.param_table
        table.blockSignals(True)
        try:
            callbacks = self.session.doc.training.callbacks
            if not (0 <= self.callback_row < len(callbacks) and self._keras_loaded()):
                table.setRowCount(0)
                self._table_kind = None
                return
            spec = callbacks[self.callback_row]
            owned = RUN_FOLDER_PARAMS.get(spec.kind)
            known = {n: d for n, d in callback_parameters(spec.kind).items() if n != owned}
            if self._table_kind != spec.kind:
                table.setRowCount(0)
                for name, default in known.items():
                    self._add_param_row(name, default)
                self._table_kind = spec.kind
            for row, name in enumerate(known):
                text = show_value(spec.params[name]) if name in spec.params else ""
                item = table.item(row, 1)
                if item.text() != text:
                    item.setText(text)
        finally:
            table.blockSignals(False)

    def _keras_loaded(self) -> bool:
        """Parameters are read from Keras' callbacks: not before Keras has loaded in the
        background (importing it here would freeze the window for seconds)."""
        return self.session.keras_ready or "keras" in sys.modules

    def _add_param_row(self, name: str, default: Any) -> None:
        table = self.param_table
        row = table.rowCount()
        table.insertRow(row)
        fixed = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
        name_item = QTableWidgetItem(name)
        name_item.setFlags(fixed)
        shown_default = "required" if default is inspect.Parameter.empty else show_value(default)
        default_item = QTableWidgetItem(shown_default)
        default_item.setFlags(fixed)
        for column, item in enumerate((name_item, QTableWidgetItem(""), default_item)):
            table.setItem(row, column, item)

    # ------------------------------------------------------------ commits
    def show_error(self, text: str | None) -> None:
        self.error_label.setText(text or "")
        self.error_label.setVisible(bool(text))

    def push_training(self, change: Callable[[TrainingSettings], None], text: str) -> bool:
        """Apply ``change`` to a copy of the settings and push it as one undoable edit."""
        current = self.session.doc.training
        new = copy.deepcopy(current)
        change(new)
        if new == current:
            return True
        problem = checked_training(new)
        if problem is None:
            refusal: list[str] = []
            self.session.edit_refused.connect(refusal.append)
            try:
                pushed = self.session.push(SetTrainingSettings(new, text=text))
            finally:
                self.session.edit_refused.disconnect(refusal.append)
            if pushed:
                self.show_error(None)
                return True
            problem = refusal[0] if refusal else "the change was refused"
        self.show_error(problem)
        self.refresh()
        return False

    def commit_training(self, attr: str, value: Any) -> bool:
        return self.push_training(lambda s: setattr(s, attr, value),
                                  f"Set {attr.replace('_', ' ')}")

    def commit_seed(self) -> None:
        text = self.seed.text().strip()
        if text and not text.lstrip("-").isdigit():
            self.show_error(f"Seed: expected a whole number (or nothing for a random seed); "
                            f"received {text!r}")
            return
        self.commit_training("seed", int(text) if text else None)

    def commit_compile(self) -> bool:
        optimizer = self.optimizer.currentText().strip()
        rate_text = self.learning_rate.text().strip()
        try:
            rate = float(rate_text) if rate_text else None
        except ValueError:
            self.show_error(f"Learning rate: expected a number such as 0.001 (or nothing for "
                            f"the optimizer's default); received {rate_text!r}")
            return False
        new = CompileSettings(optimizer, rate)
        if new == self.session.doc.compile:
            return True
        refusal: list[str] = []
        self.session.edit_refused.connect(refusal.append)
        try:
            pushed = self.session.push(SetCompileSettings(new))
        finally:
            self.session.edit_refused.disconnect(refusal.append)
        self.show_error(None if pushed else f"Optimizer: {refusal[0] if refusal else 'refused'}")
        if not pushed:
            self.refresh()
        return pushed

    def add_callback(self, kind: str) -> bool:
        if self.session.doc.training.callback(kind) is not None:
            self.show_error(f"{kind} is already in the list; edit its parameters instead")
            return False
        self.callback_row = len(self.session.doc.training.callbacks)
        return self.push_training(lambda s: s.callbacks.append(CallbackSpec(kind)),
                                  f"Add callback {kind}")

    def remove_callback(self) -> bool:
        row = self.callback_list.currentRow()
        callbacks = self.session.doc.training.callbacks
        if not 0 <= row < len(callbacks):
            return False
        kind = callbacks[row].kind
        return self.push_training(lambda s: s.callbacks.pop(row), f"Remove callback {kind}")

    def set_callback_param(self, row: int, name: str, value: Any) -> bool:
        """Set (or, for ``None`` text, clear) one parameter of the callback at ``row``."""
        spec = self.session.doc.training.callbacks[row]
        params = dict(spec.params)
        if value is _UNSET:
            params.pop(name, None)
        else:
            params[name] = value
        problem = callback_param_error(CallbackSpec(spec.kind, params))
        if problem:
            self.show_error(f"{spec.kind}: {problem}")
            self._fill_param_table()
            return False

        def change(s: TrainingSettings) -> None:
            s.callbacks[row] = CallbackSpec(spec.kind, params)

        return self.push_training(change, f"Set {spec.kind} {name}")

    def _on_callback_selected(self, row: int) -> None:
        self.callback_row = row
        self.remove_callback_button.setEnabled(row >= 0)
        self._fill_param_table()

    def _on_param_edited(self, item: QTableWidgetItem) -> None:
        if item.column() != 1 or self.callback_row < 0:
            return
        name = self.param_table.item(item.row(), 0).text()
        text = item.text()
        value = parse_value(text) if text.strip() else _UNSET
        self.set_callback_param(self.callback_row, name, value)


_UNSET = object()


def callback_text(spec: CallbackSpec) -> str:
    if not spec.params:
        return spec.kind
    shown = ", ".join(f"{k}={show_value(v)}" for k, v in spec.params.items())
    return f"{spec.kind} ({shown})"


def _set_text(edit: QLineEdit, text: str) -> None:
    if edit.text() != text:
        edit.setText(text)
