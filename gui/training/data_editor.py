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
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.editing.settings_commands import SetTrainingSettings
from layerforge.core.schema.data_sources import DATA_SOURCES
from layerforge.core.schema.settings import DataSource

from ..session import EditorSession
from ..theme import ERROR_COLOR
from .settings_editor import checked_training, while_alive
from .source_form import SourceForm

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


class DataEditor(QWidget):
    """Bindings of the main graph's inputs and outputs to data sources."""

    def __init__(self, session: EditorSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.which = TRAINING
        self.selected: str | None = None
        self.draft: DataSource | None = None
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
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preview_table = QTableWidget(0, 0)
        self.preview_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.preview_table.setMaximumHeight(150)
        self.preview_table.setToolTip("Click a column header to add that column")
        self.preview_table.horizontalHeader().sectionClicked.connect(self._add_preview_column)
        self.preview_table.hide()
        self.form = SourceForm(self.form_host, self.preview_table, self.status, self.set_param,
                               lambda kind, current: choose_path(self, kind, current))
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
    @property
    def fields(self) -> dict[str, QWidget]:
        return self.form.fields

    @property
    def browse_button(self) -> QPushButton | None:
        return self.form.browse_button

    def _show_editor(self) -> None:
        has = self.selected is not None
        for widget in (self.kind_combo, self.clear_button, self.form_host):
            widget.setEnabled(has)
        if not has:
            self.editor_title.setText("The model has no inputs or outputs yet.")
            self.form.clear()
            return
        src = self.current_source()
        role = self.role_of(self.selected or "")
        self.editor_title.setText(f"<b>{role} '{self.selected}'</b>")
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(src.kind))
        self.clear_button.setEnabled(self.selected in self.bindings() or self.draft is not None)
        self.form.build(src, role)
        self._show_status(src)

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
