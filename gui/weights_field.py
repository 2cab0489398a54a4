"""The inspector's weights file of a keras.applications node: its text field with a
"Choose…" button that picks the file (``core/catalog/pretrained.py`` loads it)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget

from layerforge.core.catalog.pretrained import cache_folders

WEIGHTS_FILE = "weights_file"
WEIGHTS_FILTER = "Keras weights (*.h5 *.hdf5 *.keras);;All files (*)"


def weights_file_field(field: QWidget, editor: QLineEdit,
                       commit: Callable[[], None]) -> QWidget:
    """``field`` (the editor's row) with a "Choose…" button: the chosen file's path goes into
    ``editor`` and is committed as an edit typed there would be."""
    button = QPushButton("Choose…")
    button.setObjectName("choose_weights_file")
    button.setToolTip("Load this architecture's weights from a file (.h5, as keras.applications "
                      "saves them, or .weights.h5); ImageNet weights are read from "
                      f"{cache_folders()[0]} when weights is 'imagenet'")

    def choose() -> None:
        start = editor.text() or str(cache_folders()[0])
        path, _ = QFileDialog.getOpenFileName(button, "Weights file", start, WEIGHTS_FILTER)
        if path:
            editor.setText(path)
            commit()

    button.clicked.connect(choose)
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(field, 1)
    layout.addWidget(button)
    return row
