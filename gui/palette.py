"""The layer palette: every catalog layer by category, a search box, drag onto the canvas."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.catalog.catalog import Catalog
from layerforge.core.catalog.custom import CUSTOM_CATEGORY, ProjectCatalog
from layerforge.core.document.document import Document

from .canvas.clipboard import INPUT_KEY, LAYER_MIME, OUTPUT_KEY, layer_mime
from .session import EditorSession

EXPANDED = ("Core", "Convolution", "Merging", CUSTOM_CATEGORY)
CLASS_ROLE = Qt.ItemDataRole.UserRole
IO_CATEGORY = "Inputs & outputs"
IO_ENTRIES = (
    (INPUT_KEY, "Input", "A model input: keras.Input(shape=..., dtype=...). Double-click, "
     "Enter or drag it onto the canvas; set its shape in the inspector."),
    (OUTPUT_KEY, "Output", "A model output, with its loss and metrics. Added with a node "
     "selected, it is connected to that node."),
)


class LayerTree(QTreeWidget):
    """Categories with their layers; a layer item starts a drag with :func:`layer_mime`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setUniformRowHeights(True)

    def mimeTypes(self) -> list[str]:
        return [LAYER_MIME]

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:
        names = [item.data(0, CLASS_ROLE) for item in items if item.data(0, CLASS_ROLE)]
        return layer_mime(names[0] if names else "")

    def startDrag(self, actions: Qt.DropAction) -> None:
        item = self.currentItem()
        name = item.data(0, CLASS_ROLE) if item is not None else None
        if not name:
            return
        drag = QDrag(self)
        drag.setMimeData(layer_mime(name))
        drag.exec(Qt.DropAction.CopyAction)


class Palette(QWidget):
    """Search box over Input, Output and a tree of layers; ``layer_activated(key)`` on
    double-click/Enter."""

    layer_activated = Signal(str)  # a catalog class name, INPUT_KEY or OUTPUT_KEY

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search layers, Input, Output…",
                                clearButtonEnabled=True)
        self.search.setToolTip("Filter by name, category or description; Enter inserts "
                               "the first match")
        self.tree = LayerTree(self)
        self.status = QLabel("Loading the layer catalog…")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.status)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self.apply_filter)
        self.search.returnPressed.connect(self._activate_first_match)
        self.tree.itemActivated.connect(self._on_activated)
        self._add_io_category()
        self._base: Catalog | None = None
        self._session: EditorSession | None = None
        self._watched: Document | None = None

    # ------------------------------------------------------------ the project's layers
    def follow(self, session: EditorSession) -> None:
        """Show the layers of the session's project: Keras', and its custom modules' under
        "Custom" (refreshed when a module is added or the project is replaced)."""
        self._session = session
        session.document_replaced.connect(self._on_document_replaced)
        self._watch(session.doc)

    def _on_document_replaced(self) -> None:
        if self._session is not None:
            self._watch(self._session.doc)
        self._refresh()

    def _watch(self, doc: Document) -> None:
        if self._watched is not None:
            self._watched.settings_changed.disconnect(self._on_settings_changed)
        self._watched = doc
        doc.settings_changed.connect(self._on_settings_changed)

    def _on_settings_changed(self, part: Any) -> None:
        if part == "custom_modules":
            self._refresh()

    def _refresh(self) -> None:
        if self._base is not None:  # nothing to show before the catalog has loaded
            self.set_catalog(self._base)

    def _add_io_category(self) -> None:
        """Inputs and outputs come first, and before the catalog has loaded."""
        parent = QTreeWidgetItem(self.tree, [IO_CATEGORY])
        parent.setFlags(Qt.ItemFlag.ItemIsEnabled)
        for key, label, tip in IO_ENTRIES:
            item = QTreeWidgetItem(parent, [label])
            item.setData(0, CLASS_ROLE, key)
            item.setToolTip(0, f"<b>{label}</b><br>{tip}")
        parent.setExpanded(True)

    def set_catalog(self, catalog: Catalog) -> None:
        """Show ``catalog`` (Keras' layers) with the followed project's own layers."""
        self._base = catalog
        if self._session is not None:
            catalog = ProjectCatalog(catalog, self._session.doc.custom_modules)
        self.tree.clear()
        self._add_io_category()
        for category, entries in sorted(catalog.categories().items()):
            parent = QTreeWidgetItem(self.tree, [category])
            parent.setFlags(Qt.ItemFlag.ItemIsEnabled)
            parent.setExpanded(category in EXPANDED)
            for entry in entries:
                label = entry.class_name.removeprefix("applications.")
                item = QTreeWidgetItem(parent, [label])
                item.setData(0, CLASS_ROLE, entry.class_name)
                item.setToolTip(0, f"<b>{entry.class_name}</b><br>{entry.doc}")
        self.status.setText(f"{len(catalog)} layers from Keras {catalog.keras_version}")
        self.apply_filter(self.search.text())

    def entry_items(self) -> list[QTreeWidgetItem]:
        """Every item a user can insert: Input, Output, then the catalog's layers."""
        return [self.tree.topLevelItem(i).child(j) for i in range(self.tree.topLevelItemCount())
                for j in range(self.tree.topLevelItem(i).childCount())]

    def layer_items(self) -> list[QTreeWidgetItem]:
        """The catalog's layers (empty until the catalog is loaded)."""
        return [i for i in self.entry_items() if i.data(0, CLASS_ROLE) not in (INPUT_KEY,
                                                                              OUTPUT_KEY)]

    def visible_layers(self) -> list[str]:
        """Keys of the items the search shows, in order (Input and Output first)."""
        return [item.data(0, CLASS_ROLE) for item in self.entry_items() if not item.isHidden()]

    def apply_filter(self, text: str) -> None:
        """Show the items whose name or category holds ``text``; only when none does, the
        items whose description mentions it ("input" finds Input, not every layer whose
        docs say "input")."""
        needle = text.strip().lower()
        categories = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]

        def by_name(category: QTreeWidgetItem, item: QTreeWidgetItem) -> bool:
            return needle in category.text(0).lower() or needle in item.text(0).lower()

        def by_text(_category: QTreeWidgetItem, item: QTreeWidgetItem) -> bool:
            return needle in item.toolTip(0).lower()

        named = any(by_name(c, c.child(j)) for c in categories for j in range(c.childCount()))
        matches = by_name if named or not needle else by_text
        for category in categories:
            shown = 0
            for j in range(category.childCount()):
                item = category.child(j)
                match = not needle or matches(category, item)
                item.setHidden(not match)
                shown += match
            category.setHidden(shown == 0)
            category.setExpanded(bool(needle) or category.isExpanded())

    def item_for(self, class_name: str) -> QTreeWidgetItem | None:
        return next((i for i in self.entry_items() if i.data(0, CLASS_ROLE) == class_name), None)

    def _on_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        name = item.data(0, CLASS_ROLE)
        if name:
            self.layer_activated.emit(name)

    def _activate_first_match(self) -> None:
        # An exact name, then a name's start: "Dense" never picks DenseNet121, "outp" picks
        # Output although the category "Inputs & outputs" shows Input first.
        visible = [i for i in self.entry_items() if not i.isHidden()]
        needle = self.search.text().strip().lower()
        exact = [i for i in visible if i.text(0).lower() == needle]
        prefix = [i for i in visible if i.text(0).lower().startswith(needle)]
        best = exact or prefix or visible
        if best:
            self.layer_activated.emit(best[0].data(0, CLASS_ROLE))
