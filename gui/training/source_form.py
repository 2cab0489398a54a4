"""The form of one data source's parameters, built from its kind's fields.

Each :class:`~layerforge.core.schema.data_sources.Field` of the kind becomes a row
(a path with Browse, a choice, a count, CSV columns with a preview, an archive key);
a changed value goes to ``set_param``. The binding editor owns the form.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtWidgets

from layerforge.core.schema.data_sources import DATA_SOURCES, DataKind, Field
from layerforge.core.schema.settings import DataSource
from layerforge.core.training.data import preview

PREVIEW_ROWS = 5


def parse_columns(text: str) -> list[str | int]:
    """'a, b, 3' -> ['a', 'b', 3]: names, or indices for bare numbers."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return [int(p) if p.isdigit() else p for p in parts]


class SourceForm:
    """Rows of a data source's parameters in ``host``; the CSV preview fills ``preview``."""

    def __init__(self, host: QtWidgets.QWidget, preview: QtWidgets.QTableWidget,
                 status: QtWidgets.QLabel,
                 set_param: Callable[[str, Any], object],
                 choose_path: Callable[[str, str], str | None]) -> None:
        self.form = QtWidgets.QFormLayout(host)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.preview, self.status = preview, status
        self.set_param, self.choose_path = set_param, choose_path
        self.fields: dict[str, QtWidgets.QWidget] = {}
        self.browse_button: QtWidgets.QPushButton | None = None

    def clear(self) -> None:
        """Empty the form; widgets are deleted later, as one of them may be the sender of
        the signal that is being handled."""
        while self.form.rowCount():
            taken = self.form.takeRow(0)
            for item in (taken.labelItem, taken.fieldItem):
                _delete_later(item)
        self.fields = {}
        self.preview.hide()

    def build(self, src: DataSource, role: str) -> None:
        """One row per field of the kind (data_sources.DATA_SOURCES) that applies to role."""
        self.clear()
        kind = DATA_SOURCES[src.kind]
        for spec in kind.fields:
            if not spec.role or spec.role == role:
                self._field(kind, spec, src.params)

    def _field(self, kind: DataKind, spec: Field, p: dict[str, Any]) -> None:
        value = p.get(spec.key)
        if spec.widget == "spin":
            self._spin(spec.key, value or 0, spec.hint, spec.tip)
        elif spec.widget == "path":
            self._path_field(kind, str(value or ""), spec.hint)
        elif spec.widget == "choice":
            self._choice(spec.key, list(spec.choices), str(value or spec.choices[0]))
        elif spec.widget == "archive_key":
            self._choice(spec.key, self._npz_keys(str(p.get("path", ""))), str(value or ""),
                         editable=True)
        elif spec.widget == "columns":
            edit = self._line(spec.key, ", ".join(map(str, value or [])),
                              "names or indices, e.g. age, income or 0, 1")
            edit.setToolTip("The CSV columns this input or output reads, in order")
            self.show_preview(str(p.get("path", "")))

    def _spin(self, key: str, value: int, special: str, tip: str = "") -> None:
        spin = QtWidgets.QSpinBox()
        spin.setRange(0, 10**8)
        spin.setSpecialValueText(special)
        spin.setKeyboardTracking(False)
        spin.setValue(int(value or 0))
        spin.setToolTip(tip)
        spin.valueChanged.connect(lambda v: self.set_param(key, int(v) or None))
        self._add_field(key, spin)

    def _line(self, key: str, text: str, placeholder: str) -> QtWidgets.QLineEdit:
        edit = QtWidgets.QLineEdit(text)
        edit.setPlaceholderText(placeholder)
        edit.editingFinished.connect(lambda: self._commit_line(key, edit.text()))
        self._add_field(key, edit)
        return edit

    def _commit_line(self, key: str, text: str) -> None:
        self.set_param(key, parse_columns(text) if key == "columns" else text.strip())

    def _path_field(self, kind: DataKind, path: str, hint: str) -> None:
        edit = QtWidgets.QLineEdit(path)
        edit.setPlaceholderText(hint)
        edit.editingFinished.connect(lambda: self.set_param("path", edit.text().strip()))
        browse = QtWidgets.QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(kind.name, edit))
        self.browse_button = browse
        row = QtWidgets.QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        self.fields["path"] = edit
        self.form.addRow("path", row)

    def _browse(self, kind: str, edit: QtWidgets.QLineEdit) -> None:
        chosen = self.choose_path(kind, edit.text())
        if chosen:
            edit.setText(chosen)
            self.set_param("path", chosen)

    def _choice(self, key: str, choices: list[str], current: str, editable: bool = False) -> None:
        combo = QtWidgets.QComboBox()
        combo.setEditable(editable)
        combo.addItems(choices)
        if editable:
            combo.setInsertPolicy(QtWidgets.QComboBox.InsertPolicy.NoInsert)
            combo.lineEdit().editingFinished.connect(
                lambda: self.set_param(key, combo.currentText().strip()))
        combo.setCurrentText(current)
        combo.activated.connect(lambda _i: self.set_param(key, combo.currentText()))
        self._add_field(key, combo)

    def _add_field(self, key: str, widget: QtWidgets.QWidget) -> None:
        self.fields[key] = widget
        self.form.addRow(key, widget)

    @staticmethod
    def _npz_keys(path: str) -> list[str]:
        if not path or not Path(path).is_file():
            return []
        try:
            with np.load(path, allow_pickle=False) as archive:
                return list(archive.files)
        except (OSError, ValueError):
            return []

    def show_preview(self, path: str) -> None:
        """The CSV's header and first rows, so columns can be picked by name."""
        table = self.preview
        if not path or not Path(path).is_file():
            table.hide()
            return
        try:
            header, rows = preview(path, PREVIEW_ROWS)
        except (OSError, UnicodeDecodeError) as exc:
            self.status.setText(f"Cannot read {path}: {exc}")
            table.hide()
            return
        table.setColumnCount(len(header))
        table.setRowCount(len(rows))
        table.setHorizontalHeaderLabels(header)
        for r, row in enumerate(rows):
            for c, value in enumerate(row[:len(header)]):
                table.setItem(r, c, QtWidgets.QTableWidgetItem(value))
        table.show()


def _delete_later(item: Any) -> None:
    if item is None:
        return
    widget = item.widget()
    if widget is not None:
        widget.hide()
        widget.deleteLater()
        return
    layout = item.layout()
    if layout is not None:
        while layout.count():
            _delete_later(layout.takeAt(0))
        layout.deleteLater()
