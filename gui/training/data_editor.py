"""Where each named input and output gets its data: the binding editor.

A table lists the model's inputs and outputs with their source; the form below
edits the selected one: the kind (synthetic, npz, npy, csv with a preview,
image_dir, text_dir, sklearn, keras_dataset) and its parameters. A binding is
pushed (one undoable ``SetTrainingSettings``) as soon as it is complete; until
then (say, an .npz chosen but no key yet) the form says what is missing.
Training data and separate validation data are edited the same way.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.editing.settings_commands import SetTrainingSettings
from layerforge.core.schema.data_sources import DATA_SOURCES, DataKind, Field
from layerforge.core.schema.settings import DataSource
from layerforge.core.training.data import preview

from ..session import EditorSession
from ..theme import ERROR_COLOR
from .settings_editor import checked_training, while_alive

PREVIEW_ROWS = 5
TRAINING, VALIDATION = "data", "validation_data"


def choose_path(parent: QWidget | None, kind: str, current: str) -> str | None:
    """A file or folder for a data source (module level so tests can answer it)."""
    file_types = DATA_SOURCES[kind].file_types
    if file_types:
        path, _ = QFileDialog.getOpenFileName(parent, "Choose the data file", current,
                                              file_types + ";;All files (*)")
    else:
        path = QFileDialog.getExistingDirectory(parent, "Choose the folder of class folders",
                                                current)
    return path or None


def default_params(kind: str, role: str) -> dict[str, Any]:
    """Parameters a freshly chosen kind starts with (complete where a default exists)."""
    return DATA_SOURCES[kind].defaults("x" if role == "input" else "y")


def missing_params(src: DataSource) -> list[str]:
    """Required parameters still empty (an empty path or key counts as missing)."""
    return [key for key in DATA_SOURCES[src.kind].required
            if src.params.get(key) in (None, "", [])]


def source_summary(src: DataSource | None) -> str:
    if src is None:
        return "synthetic (default)"
    text = DATA_SOURCES[src.kind].summary(src.params)
    return f"{src.kind}: {text}" if text else src.kind


def parse_columns(text: str) -> list[str | int]:
    """'a, b, 3' -> ['a', 'b', 3]: names, or indices for bare numbers."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return [int(p) if p.isdigit() else p for p in parts]


class DataEditor(QWidget):
    """Bindings of the main graph's inputs and outputs to data sources."""

    def __init__(self, session: EditorSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.which = TRAINING
        self.selected: str | None = None
        self.draft: DataSource | None = None
        self.fields: dict[str, QWidget] = {}
        self._build()
        session.undo_stack.indexChanged.connect(self._on_index_changed)
        session.document_replaced.connect(self._on_document_replaced)
        self.refresh()

    # ------------------------------------------------------------ layout
    def _build(self) -> None:
        self.which_combo = QComboBox()
        self.which_combo.addItem("Training data", TRAINING)
        self.which_combo.addItem("Separate validation data", VALIDATION)
        self.which_combo.activated.connect(self._on_which)
        self.which_note = QLabel()
        self.which_note.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.which_combo)
        top.addWidget(self.which_note, 1)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Name", "Role", "Source"])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        self.kind_combo = QComboBox()
        for kind in DATA_SOURCES.values():
            self.kind_combo.addItem(kind.title, kind.name)
        self.kind_combo.activated.connect(self._on_kind_chosen)
        self.clear_button = QPushButton("Use synthetic")
        self.clear_button.setToolTip("Remove the binding: random data shaped from the graph")
        self.clear_button.clicked.connect(self.clear_binding)
        kind_row = QHBoxLayout()
        kind_row.addWidget(self.kind_combo, 1)
        kind_row.addWidget(self.clear_button)
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview_table = QTableWidget(0, 0)
        self.preview_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview_table.setMaximumHeight(150)
        self.preview_table.setToolTip("Click a column header to add that column")
        self.preview_table.horizontalHeader().sectionClicked.connect(self._add_preview_column)
        self.preview_table.hide()
        editor = QVBoxLayout()
        self.editor_title = QLabel()
        editor.addWidget(self.editor_title)
        editor.addLayout(kind_row)
        editor.addWidget(self.form_host)
        editor.addWidget(self.status)
        editor.addWidget(self.preview_table)
        editor.addStretch(1)
        left = QVBoxLayout()
        left.addLayout(top)
        left.addWidget(self.table, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(left, 1)
        layout.addLayout(editor, 1)

    # ------------------------------------------------------------ the document
    def bindings(self) -> dict[str, DataSource]:
        return getattr(self.session.doc.training, self.which)

    def names(self) -> list[tuple[str, str]]:
        """(name, role) of the main graph's inputs and outputs, in graph order."""
        graph = self.session.doc.graph
        return [(n.name, "input") for n in graph.inputs()] + \
            [(n.name, "output") for n in graph.outputs()]

    @while_alive
    def _on_index_changed(self, _index: int) -> None:
        self.refresh()

    @while_alive
    def _on_document_replaced(self) -> None:
        self.selected, self.draft = None, None
        self.refresh()

    def refresh(self) -> None:
        names = self.names()
        if self.selected not in {n for n, _ in names}:
            self.selected = names[0][0] if names else None
            self.draft = None
        split = self.session.doc.training.validation_split
        self.which_note.setText(
            "Validation uses these bindings (unbound ones are synthetic)."
            if self.which == VALIDATION else
            "Without separate validation data, the last "
            f"{split:.0%} of these samples are held out for validation.")
        self.table.blockSignals(True)
        self.table.setRowCount(len(names))
        for row, (name, role) in enumerate(names):
            for column, text in enumerate((name, role, source_summary(self.bindings().get(name)))):
                self.table.setItem(row, column, QTableWidgetItem(text))
            if name == self.selected:
                self.table.selectRow(row)
        self.table.blockSignals(False)
        self._show_editor()

    def role_of(self, name: str) -> str:
        return dict(self.names()).get(name, "input")

    def current_source(self) -> DataSource:
        """The draft being completed, else the saved binding, else synthetic."""
        if self.draft is not None:
            return self.draft
        saved = self.bindings().get(self.selected or "")
        return copy.deepcopy(saved) if saved is not None else DataSource()

    # ------------------------------------------------------------ the form
    def _show_editor(self) -> None:
        has = self.selected is not None
        for widget in (self.kind_combo, self.clear_button, self.form_host):
            widget.setEnabled(has)
        if not has:
            self.editor_title.setText("The model has no inputs or outputs yet.")
            self._clear_form()
            return
        src = self.current_source()
        role = self.role_of(self.selected or "")
        self.editor_title.setText(f"<b>{role} '{self.selected}'</b>")
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(src.kind))
        self.clear_button.setEnabled(self.selected in self.bindings() or self.draft is not None)
        self._build_form(src, role)
        self._show_status(src)

    def _clear_form(self) -> None:
        """Empty the form; widgets are deleted later, as one of them may be the sender of
        the signal that is being handled."""
        while self.form.rowCount():
            taken = self.form.takeRow(0)
            for item in (taken.labelItem, taken.fieldItem):
                _delete_later(item)
        self.fields = {}
        self.preview_table.hide()

    def _build_form(self, src: DataSource, role: str) -> None:
        """One row per field of the kind (data_sources.DATA_SOURCES) that applies to role."""
        self._clear_form()
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
            self._show_preview(str(p.get("path", "")))

    def _spin(self, key: str, value: int, special: str, tip: str = "") -> None:
        spin = QSpinBox()
        spin.setRange(0, 10**8)
        spin.setSpecialValueText(special)
        spin.setKeyboardTracking(False)
        spin.setValue(int(value or 0))
        spin.setToolTip(tip)
        spin.valueChanged.connect(lambda v: self.set_param(key, int(v) or None))
        self._add_field(key, spin)

    def _line(self, key: str, text: str, placeholder: str) -> QLineEdit:
        edit = QLineEdit(text)
        edit.setPlaceholderText(placeholder)
        edit.editingFinished.connect(lambda: self._commit_line(key, edit.text()))
        self._add_field(key, edit)
        return edit

    def _commit_line(self, key: str, text: str) -> None:
        self.set_param(key, parse_columns(text) if key == "columns" else text.strip())

    def _path_field(self, kind: DataKind, path: str, hint: str) -> None:
        edit = QLineEdit(path)
        edit.setPlaceholderText(hint)
        edit.editingFinished.connect(lambda: self.set_param("path", edit.text().strip()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._browse(kind.name, edit))
        self.browse_button = browse
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)
        self.fields["path"] = edit
        self.form.addRow("path", row)

    def _browse(self, kind: str, edit: QLineEdit) -> None:
        chosen = choose_path(self, kind, edit.text())
        if chosen:
            edit.setText(chosen)
            self.set_param("path", chosen)

    def _choice(self, key: str, choices: list[str], current: str, editable: bool = False) -> None:
        combo = QComboBox()
        combo.setEditable(editable)
        combo.addItems(choices)
        if editable:
            combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
            combo.lineEdit().editingFinished.connect(
                lambda: self.set_param(key, combo.currentText().strip()))
        combo.setCurrentText(current)
        combo.activated.connect(lambda _i: self.set_param(key, combo.currentText()))
        self._add_field(key, combo)

    def _add_field(self, key: str, widget: QWidget) -> None:
        self.fields[key] = widget
        self.form.addRow(key, widget)

    @staticmethod
    def _npz_keys(path: str) -> list[str]:
        if not path or not Path(path).is_file():
            return []
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as archive:
                return list(archive.files)
        except (OSError, ValueError):
            return []

    def _show_preview(self, path: str) -> None:
        """The CSV's header and first rows, so columns can be picked by name."""
        table = self.preview_table
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
                table.setItem(r, c, QTableWidgetItem(value))
        table.show()

    def _add_preview_column(self, index: int) -> None:
        header = self.preview_table.horizontalHeaderItem(index)
        columns = list(self.current_source().params.get("columns", []))
        if header is not None and header.text() not in columns:
            self.set_param("columns", [*columns, header.text()])

    def _show_status(self, src: DataSource) -> None:
        missing = missing_params(src)
        if missing:
            self.status.setStyleSheet(f"color: {ERROR_COLOR};")
            self.status.setText(f"Not applied yet: set {', '.join(missing)}.")
        elif self.draft is None:
            self.status.setStyleSheet("")
            self.status.setText("Shapes and dtypes are checked against the graph when "
                                "training starts.")

    # ------------------------------------------------------------ edits
    def _on_which(self, _index: int) -> None:
        self.which = self.which_combo.currentData()
        self.draft = None
        self.refresh()

    def _on_row_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.select(self.table.item(rows[0].row(), 0).text())

    def select(self, name: str) -> None:
        if name != self.selected:
            self.selected, self.draft = name, None
            self.refresh()  # selects its row and shows its form

    def choose_kind(self, kind: str) -> bool:
        if self.selected is None:
            return False
        current = self.current_source()
        if kind == current.kind:
            return True
        return self.apply(DataSource(kind, default_params(kind, self.role_of(self.selected))))

    def _on_kind_chosen(self, _index: int) -> None:
        self.choose_kind(self.kind_combo.currentData())

    def set_param(self, key: str, value: Any) -> bool:
        src = self.current_source()
        params = dict(src.params)
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
        if params == src.params:
            return True
        return self.apply(DataSource(src.kind, params))

    def apply(self, src: DataSource) -> bool:
        """Push the binding when it is complete; keep it as a draft otherwise."""
        name = self.selected
        if name is None:
            return False
        if missing_params(src):
            self.draft = src
            self._show_editor()
            return False
        new = copy.deepcopy(self.session.doc.training)
        getattr(new, self.which)[name] = src
        return self._push(new, f"Bind {name} to {src.kind}")

    def clear_binding(self) -> bool:
        name = self.selected
        self.draft = None
        if name is None or name not in self.bindings():
            self.refresh()
            return False
        new = copy.deepcopy(self.session.doc.training)
        del getattr(new, self.which)[name]
        return self._push(new, f"Unbind {name}")

    def _push(self, new: Any, text: str) -> bool:
        problem = checked_training(new)
        if problem is None and self.session.push(SetTrainingSettings(new, text=text)):
            self.draft = None
            self.refresh()
            return True
        self.status.setStyleSheet(f"color: {ERROR_COLOR};")
        self.status.setText(problem or "the binding was refused")
        return False


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
