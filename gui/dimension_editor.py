"""Marking a parameter as a search dimension: the editor dialog and the small "search" button
the inspector (layer parameters) and the tuning panel (training settings) put beside a value
(here, below both, so neither reaches into the other).

The dialog edits one :class:`Dimension` (an int range with step or log scale, a float range
with log scale, or a list of choices), checks it with ``dimension_error`` and pushes
``mark_dimension`` (or ``unmark_dimension``) as one undoable edit. A refusal keeps the
dialog open with the reason shown in it.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.document.document import MAIN
from layerforge.core.document.search_space import (
    REPEATS,
    SETTINGS,
    Dimension,
    current_value,
    parameter_name,
)
from layerforge.core.document.space_checks import dimension_error
from layerforge.core.editing.space_edits import mark_dimension, unmark_dimension
from layerforge.core.schema.errors import LayerForgeError

from .session import EditorSession
from .theme import ERROR_COLOR

KIND_LABELS = {"int": "Integer range", "float": "Float range", "choice": "List of choices"}
SEARCH_MARK = "⚙"


def parse_choices(text: str) -> tuple[Any, ...]:
    """'relu, tanh' -> ('relu', 'tanh'); numbers, true/false and null parse as JSON."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    values = []
    for part in parts:
        try:
            values.append(json.loads(part))
        except ValueError:
            values.append(part.strip("'\""))
    return tuple(values)


def parse_number(text: str, what: str, required: bool = True) -> float | None:
    stripped = text.strip()
    if not stripped and not required:
        return None
    try:
        value = float(stripped)
    except ValueError:
        raise ValueError(f"{what} expected a number such as 8 or 1e-3; received "
                         f"{text!r}") from None
    return int(value) if value.is_integer() and "." not in stripped and "e" not in \
        stripped.lower() else value


def format_number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def suggested_dimension(session: EditorSession, layer_id: str | None, param: str,
                        graph_key: str = MAIN) -> Dimension:
    """A starting point for a new dimension around the parameter's current value."""
    doc = session.doc
    probe = Dimension(param, "choice", choices=(0, 1), layer_id=layer_id, graph_key=graph_key)
    try:
        value = current_value(doc, probe)
    except LayerForgeError:
        value = None
    kind = _value_kind(session, layer_id, param, graph_key, value)
    common = {"layer_id": layer_id, "graph_key": graph_key}
    if kind == "int":
        base = int(value) if isinstance(value, int | float) and value >= 1 else 1
        return Dimension(param, "int", max(1, base // 2), max(base * 2, 2), **common)
    if kind == "float":
        if param == "learning_rate":
            return Dimension(param, "float", 1e-4, 1e-2, log=True, **common)
        base = float(value) if isinstance(value, int | float) and value > 0 else 0.1
        high = min(base * 2, 0.9) if param == "rate" else base * 2
        return Dimension(param, "float", round(base / 2, 6), round(high, 6), **common)
    choices = (value,) if value is not None else ()
    return Dimension(param, "choice", choices=choices, **common)


def _value_kind(session: EditorSession, layer_id: str | None, param: str, graph_key: str,
                value: Any) -> str:
    if layer_id is None:
        return SETTINGS.get(param, "choice")
    if param == REPEATS:
        return "int"
    layer = session.doc.graph_of(graph_key).layer(layer_id)
    spec = session.doc.catalog.get(layer.class_name).param(param)
    if spec.kind == "float" or (spec.kind == "any" and isinstance(value, float)):
        return "float"
    if spec.kind in ("int", "int_or_tuple") and not isinstance(value, list | tuple):
        return "int"
    return "choice"


class DimensionDialog(QDialog):
    """Edits the search dimension of one slot; OK marks it, Remove unmarks it."""

    def __init__(self, session: EditorSession, layer_id: str | None, param: str,
                 graph_key: str = MAIN, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.layer_id, self.param, self.graph_key = \
            session, layer_id, param, graph_key
        self.setObjectName("dimensionDialog")
        existing = session.doc.search_space.find((graph_key, layer_id, param))
        self.existing = existing
        self.setWindowTitle(f"Search {self.display_name()}")
        self._build()
        self.show_dimension(existing or suggested_dimension(session, layer_id, param,
                                                            graph_key))

    def display_name(self) -> str:
        probe = Dimension(self.param, "choice", layer_id=self.layer_id, graph_key=self.graph_key)
        try:
            return parameter_name(self.session.doc, probe)
        except LayerForgeError:
            return self.param

    def _build(self) -> None:
        self.kind = QComboBox()
        for kind, label in KIND_LABELS.items():
            self.kind.addItem(label, kind)
        self.kind.currentIndexChanged.connect(self._update_rows)
        self.low, self.high, self.step = QLineEdit(), QLineEdit(), QLineEdit()
        self.step.setPlaceholderText("none")
        self.log = QCheckBox("log scale")
        self.choices = QLineEdit()
        self.choices.setPlaceholderText("e.g. relu, tanh, gelu  or  32, 64, 128")
        form = QFormLayout()
        form.addRow("kind", self.kind)
        for label, widget in (("low", self.low), ("high", self.high), ("step", self.step),
                              ("", self.log), ("choices", self.choices)):
            form.addRow(label, widget)
        self.form = form
        self.message = QLabel(wordWrap=True)
        self.message.setStyleSheet(f"color: {ERROR_COLOR}; font-weight: bold;")
        self.message.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Search this")
        self.remove_button = QPushButton("Don't search")
        self.remove_button.setToolTip("Remove this parameter from the search space")
        self.remove_button.setEnabled(self.existing is not None)
        buttons.addButton(self.remove_button, QDialogButtonBox.ButtonRole.DestructiveRole)
        buttons.accepted.connect(self.commit)
        buttons.rejected.connect(self.reject)
        self.remove_button.clicked.connect(self.remove)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Search <b>{self.display_name()}</b> over:"))
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(buttons)

    def _update_rows(self) -> None:
        is_choice = self.kind.currentData() == "choice"
        for widget in (self.low, self.high, self.step, self.log):
            self.form.setRowVisible(widget, not is_choice)
        self.form.setRowVisible(self.choices, is_choice)
        self.form.setRowVisible(self.step, self.kind.currentData() == "int")

    def show_dimension(self, dim: Dimension) -> None:
        self.kind.setCurrentIndex(max(0, self.kind.findData(dim.kind)))
        self.low.setText(format_number(dim.low))
        self.high.setText(format_number(dim.high))
        self.step.setText(format_number(dim.step))
        self.log.setChecked(dim.log)
        self.choices.setText(", ".join(json.dumps(c) if not isinstance(c, str) else c
                                       for c in dim.choices))
        self._update_rows()

    def read(self) -> Dimension:
        """The dimension as entered; ValueError says which field does not parse."""
        kind = self.kind.currentData()
        common = {"layer_id": self.layer_id, "graph_key": self.graph_key}
        if kind == "choice":
            return Dimension(self.param, kind, choices=parse_choices(self.choices.text()),
                             **common)
        step = parse_number(self.step.text(), "step", required=False) if kind == "int" else None
        return Dimension(self.param, kind, parse_number(self.low.text(), "low"),
                         parse_number(self.high.text(), "high"), step=step,
                         log=self.log.isChecked(), **common)

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def commit(self) -> None:
        try:
            dim = self.read()
        except ValueError as exc:
            self.show_message(str(exc))
            return
        problem = dimension_error(self.session.doc, dim)
        if problem:
            self.show_message(problem)
            return
        if dim == self.existing:
            self.accept()
            return
        if self._push(lambda: mark_dimension(self.session.doc, dim)):
            self.accept()

    def remove(self) -> None:
        if self._push(lambda: unmark_dimension(self.session.doc, self.layer_id, self.param,
                                               self.graph_key)):
            self.accept()

    def _push(self, make: Any) -> bool:
        refusals: list[str] = []
        self.session.edit_refused.connect(refusals.append)
        try:
            if self.session.push(make()):
                return True
        except LayerForgeError as exc:
            refusals.append(str(exc))
        finally:
            self.session.edit_refused.disconnect(refusals.append)
        self.show_message(refusals[-1] if refusals else "the edit was refused")
        return False


class SearchButton(QToolButton):
    """A small checkable "⚙" beside a value: checked while the value is searched; a click
    opens the :class:`DimensionDialog` (kept in ``dialog`` while it is open)."""

    def __init__(self, session: EditorSession, param: str, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.session, self.param = session, param
        self.layer_id: str | None = None
        self.graph_key = MAIN
        self.dialog: DimensionDialog | None = None
        self.setObjectName(f"search_{param}")
        self.setText(SEARCH_MARK)
        self.setCheckable(True)
        self.setAutoRaise(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.clicked.connect(self.open_editor)

    def set_target(self, layer_id: str | None, graph_key: str = MAIN) -> None:
        self.layer_id, self.graph_key = layer_id, graph_key
        self.refresh()

    def dimension(self) -> Dimension | None:
        return self.session.doc.search_space.find((self.graph_key, self.layer_id, self.param))

    def refresh(self) -> None:
        dim = self.dimension()
        self.setChecked(dim is not None)
        self.setToolTip(f"Searched: {dim.describe()} (click to change)" if dim else
                        f"Search {self.param}: mark it as a hyperparameter search dimension")

    def open_editor(self) -> DimensionDialog:
        self.refresh()  # a click toggles the check; the document decides it
        self.dialog = DimensionDialog(self.session, self.layer_id, self.param, self.graph_key,
                                      self.window())
        self.dialog.finished.connect(self._on_dialog_finished)
        self.dialog.open()
        return self.dialog

    def _on_dialog_finished(self, _result: int) -> None:
        self.dialog = None
        self.refresh()
