"""The inspector: the selected node's name and parameters as typed, undoable editors.

Every accepted change is one ``session.push``; a value the catalog rejects shows
the reason and pushes nothing. The editors follow the document (undo, redo,
edits elsewhere) in place, so focus and cursor stay where the user left them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.catalog.catalog import cache_path
from layerforge.core.catalog.nested import NESTED_KINDS
from layerforge.core.catalog.registries import offered_names, registry_error
from layerforge.core.document.document import MAIN
from layerforge.core.editing.commands import Command
from layerforge.core.editing.freeze import is_frozen, set_trainable
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.editing.renames import EditNode, RenameLayer
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.records import (
    DTYPES,
    CallNode,
    InputNode,
    Node,
    OutputNode,
    format_shape,
)

from .dimension_editor import SearchButton
from .param_editors import format_value, make_editor
from .session import EditorSession
from .theme import ERROR_COLOR
from .vocabulary import VocabularyRow, is_vocabulary_layer
from .weights_field import WEIGHTS_FILE, weights_file_field

# The call's training= as the inspector offers it (None: not passed, Keras follows the phase).
TRAINING_CHOICES: dict[str, bool | None] = {"default": None, "True": True, "False": False}


def parse_shape(text: str) -> list[int | None]:
    """An Input's shape as keras.Input(shape=...) takes it, without the batch axis:
    'None' -> [None], '128' -> [128], '(None, 128)' -> [None, 128], '32,32,3' -> [32, 32, 3],
    '(None,)' -> [None], '()' -> [] (one number per sample)."""
    stripped = text.strip()
    inner = stripped[1:-1] if stripped[:1] + stripped[-1:] in ("()", "[]") else stripped
    parts = [p.strip() for p in inner.split(",")]
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # "(None,)": Python's one-element tuple
    if parts == [""] and inner != stripped:
        return []
    try:
        dims = [None if p.lower() == "none" else int(p) for p in parts]
    except ValueError:
        dims = [0]
    if not stripped or any(d is not None and d <= 0 for d in dims):
        received = repr(text) if stripped else "nothing"
        raise ValueError(
            "Input shape expected positive whole numbers or None separated by commas, "
            f"without the batch axis, e.g. 32, 32, 3 or None, 128 or None; received {received}")
    return dims


def parse_metrics(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


class Inspector(QWidget):
    """Edits one node of the shown graph; ``open_block_requested(block_id)`` for block calls."""

    open_block_requested = Signal(str)

    def __init__(self, session: EditorSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.graph_key = MAIN
        self.node_id: str | None = None
        self._built_for: object = "never built"
        self._refusal: str | None = None
        self.editors: dict[str, QWidget] = {}
        self.search_buttons: dict[str, SearchButton] = {}  # "⚙": mark as a search dimension
        self.trainable_box: QCheckBox | None = None  # the call node's "Trainable" (unfrozen)
        self._build_frame()
        # Bound methods, not lambdas: Qt drops these connections when the inspector is deleted.
        session.undo_stack.indexChanged.connect(self._on_index_changed)
        session.document_replaced.connect(self._on_document_replaced)
        session.edit_refused.connect(self._on_refused)
        session.analysis_changed.connect(self._on_analysis)
        self.set_target(MAIN, None)

    # ------------------------------------------------------------ frame
    def _on_index_changed(self, _index: int) -> None:
        self.refresh()

    def _on_document_replaced(self) -> None:
        self.set_target(MAIN, None)

    def _on_analysis(self, _changed: object) -> None:
        self._update_info(count_params=True)

    def _build_frame(self) -> None:
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.info = QLabel()
        self.doc_label = QLabel(wordWrap=True)
        self.doc_label.setStyleSheet("color: palette(placeholder-text);")
        self.message = QLabel(wordWrap=True)
        self.message.setStyleSheet(f"color: {ERROR_COLOR}; font-weight: bold;")
        self.message.hide()
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        scroll = QScrollArea(widgetResizable=True, frameShape=QScrollArea.Shape.NoFrame)
        scroll.setWidget(self.form_host)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        for widget in (self.title, self.info, self.doc_label, self.message):
            layout.addWidget(widget)
        layout.addWidget(scroll, 1)

    # ------------------------------------------------------------ target
    @property
    def graph(self) -> Any:
        return self.session.doc.graph_of(self.graph_key)

    def node(self) -> Node | None:
        if self.node_id is None:
            return None
        try:
            return self.graph.nodes.get(self.node_id)
        except LayerForgeError:
            return None  # the block shown was removed

    def set_target(self, graph_key: str, node_id: str | None) -> None:
        self.graph_key = graph_key
        self.node_id = node_id
        self.clear_message()
        # The count needs the shape engine in step with the document: now when no analysis
        # waits (one layer built at most), else that analysis's analysis_changed fills it in.
        # Not a new analysis: a selection is no edit (the Summary, hints and the pending Keras
        # check would all start over for nothing).
        self.refresh(count_params=self.session.analysis_settled())

    def _signature(self, node: Node | None) -> tuple[Any, ...] | None:
        """What decides the set of editors: rebuild only when this changes."""
        if node is None:
            return None
        layer_class = self.graph.layer(node.layer_id).class_name \
            if isinstance(node, CallNode) else None
        return (self.graph_key, node.id, node.kind, layer_class,
                node.layer_id if isinstance(node, CallNode) else None)

    def refresh(self, count_params: bool = False) -> None:
        """The editors and the info line for the target; ``count_params`` only when the shape
        engine is in step with the document (see ``_update_info``)."""
        node = self.node()
        signature = self._signature(node)
        if signature != self._built_for:
            self._rebuild(node)
            self._built_for = signature
        self._show_values(node)
        self._update_info(count_params=count_params)

    def _rebuild(self, node: Node | None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        self.search_buttons.clear()
        self.trainable_box = None
        self.doc_label.clear()
        self.doc_label.hide()
        if node is None:
            self.title.setText("<i>Select a node to edit it</i>")
            return
        builder = {"input": self._build_input, "output": self._build_output,
                   "call": self._build_call}[node.kind]
        builder(node)

    # ------------------------------------------------------------ builders
    def _add_line(self, key: str, label: str, commit: Callable[[], None],
                  tooltip: str) -> QLineEdit:
        edit = QLineEdit()
        edit.setToolTip(tooltip)
        edit.editingFinished.connect(commit)
        self.form.addRow(label, edit)
        self.editors[key] = edit
        return edit

    def _build_call(self, node: CallNode) -> None:
        layer = self.graph.layer(node.layer_id)
        self.title.setText(f"<b>{layer.class_name}</b>")
        self._add_line("name", "name", self._commit_layer_name,
                       "The layer's name in Keras (unique in the model)")
        self._add_trainable_box(layer.block_id is not None)
        if layer.block_id is not None:
            button = QPushButton("Open block")
            button.setToolTip("Edit the block's own graph (Ctrl+Enter on the canvas)")
            button.clicked.connect(lambda: self.open_block_requested.emit(layer.block_id))
            self.form.addRow("", button)
            self.form.addRow("repeats", self._with_search_button("repeats", QLabel(
                "number of calls in a chain")))
            return
        entry = self.session.doc.catalog.get(layer.class_name)
        self.doc_label.setText(entry.doc)
        self.doc_label.setVisible(bool(entry.doc))
        if entry.ports.training:  # the call takes training=: a setting of this call
            self._add_training_box()
        if is_vocabulary_layer(layer.class_name) and self.graph_key == MAIN:
            self.form.addRow("", VocabularyRow(self.session, layer.id))
        for spec in entry.params:
            editor = make_editor(spec, lambda name=spec.name: self._commit_param(name))
            label = QLabel(f"<b>{spec.name}</b>" if spec.required else spec.name)
            label.setToolTip(editor.toolTip())
            # A nested layer is chosen, not searched: no search button beside it.
            field = editor if spec.kind in NESTED_KINDS else \
                self._with_search_button(spec.name, editor)
            if spec.name == WEIGHTS_FILE:  # an application's weights: a file dialog too
                field = weights_file_field(field, editor, lambda n=spec.name: self._commit_param(n))
            self.form.addRow(label, field)
            self.editors[spec.name] = editor

    def _add_trainable_box(self, is_block: bool) -> None:
        box = QCheckBox("Trainable")
        box.setToolTip("Unticked: the layer is frozen (trainable=False), training leaves its "
                       "weights as they are" + (" (every layer of the block)" if is_block else ""))
        box.clicked.connect(self._commit_trainable)
        self.form.addRow("", box)
        self.trainable_box = box

    def _add_training_box(self) -> None:
        box = QComboBox()
        box.addItems(list(TRAINING_CHOICES))
        box.setToolTip("training= in this call: default follows fit/predict; True always "
                       "behaves as in training (e.g. dropout on at inference), False never does")
        box.activated.connect(lambda _index: self._commit_training())
        self.form.addRow("call training", box)
        self.editors["training"] = box

    def _with_search_button(self, param: str, editor: QWidget) -> QWidget:
        """The editor with a small "⚙" beside it that marks the parameter as searched."""
        button = SearchButton(self.session, param)
        node = self.node()
        button.set_target(node.layer_id if isinstance(node, CallNode) else None, self.graph_key)
        self.search_buttons[param] = button
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(editor, 1)
        layout.addWidget(button)
        return row

    def _build_input(self, node: InputNode) -> None:
        self.title.setText("<b>Input</b>")
        self._add_line("name", "name", lambda: self._commit_node("name", self._text("name")),
                       "The input's name (keras.Input(name=...))")
        self._add_line("shape", "shape", self._commit_shape,
                       "Shape without the batch axis, as keras.Input(shape=...): e.g. "
                       "32, 32, 3 or (None, 128) or 128; None is an axis of any length")
        dtype = QComboBox()
        dtype.setToolTip("The input tensor's dtype: int32/int64 for token ids (Embedding), "
                         "float32 for most data")
        dtype.addItems(DTYPES)
        dtype.activated.connect(lambda _i: self._commit_node("dtype", dtype.currentText()))
        self.form.addRow("dtype", dtype)
        self.editors["dtype"] = dtype

    def _build_output(self, node: OutputNode) -> None:
        self.title.setText("<b>Output</b>")
        self._add_line("name", "name", lambda: self._commit_node("name", self._text("name")),
                       "The output's name (used by losses and metrics)")
        loss = QComboBox(editable=True)
        # "None", then every name keras.losses.get resolves, read from the installed Keras.
        loss.addItems(["None", *offered_names(self._registry("loss"))])
        loss.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        loss.setToolTip("The loss of this output when the model is compiled")
        loss.lineEdit().editingFinished.connect(self._commit_loss)
        loss.activated.connect(lambda _i: self._commit_loss())
        self.form.addRow("loss", loss)
        self.editors["loss"] = loss
        self._add_line("loss_weight", "loss weight", self._commit_loss_weight,
                       "The weight of this output's loss in the total loss")
        self._add_line("metrics", "metrics",
                       self._commit_metrics,
                       "Metric names separated by commas, e.g. accuracy, mae, auc; the names "
                       "keras.metrics resolves: "
                       + (", ".join(offered_names(self._registry("metric"))) or "…"))

    # ------------------------------------------------------------ values
    def _text(self, key: str) -> str:
        return self.editors[key].text()

    def _show_values(self, node: Node | None) -> None:
        if node is None:
            return
        for button in self.search_buttons.values():
            button.refresh()
        if isinstance(node, CallNode):
            layer = self.graph.layer(node.layer_id)
            values: dict[str, Any] = {"name": layer.name}
            if "training" in self.editors:
                training = node.call_kwargs.get("training")
                values["training"] = next(t for t, v in TRAINING_CHOICES.items() if v is training)
            if self.trainable_box is not None:
                self.trainable_box.setChecked(
                    not is_frozen(self.session.doc, layer))
            if layer.block_id is None:
                entry = self.session.doc.catalog.get(layer.class_name)
                values.update({s.name: layer.params.get(s.name, s.default) for s in entry.params})
        elif isinstance(node, InputNode):
            # The text the node shows, which the shape field reads back.
            values = {"name": node.name, "shape": format_shape(node.shape), "dtype": node.dtype}
        else:
            values = {"name": node.name, "loss": format_value(node.loss),
                      "loss_weight": format_value(node.loss_weight),
                      "metrics": ", ".join(node.metrics)}
        for key, value in values.items():
            self._show(self.editors[key], value)

    @staticmethod
    def _show(editor: QWidget, value: Any) -> None:
        editor.blockSignals(True)
        try:
            if hasattr(editor, "show_value"):
                editor.show_value(value)
            elif isinstance(editor, QComboBox):
                editor.setCurrentText(str(value))
            elif editor.text() != str(value):
                editor.setText(str(value))
                editor.setCursorPosition(0)
        finally:
            editor.blockSignals(False)

    def _update_info(self, count_params: bool) -> None:
        """Shape and parameters of the node. Counting refreshes the shape engine, which
        would swallow the changes the session's next analysis must report to the canvas:
        count only right after an analysis."""
        node = self.node()
        if node is None or not self.session.keras_ready:
            self.info.setText("")
            return
        engine = self.session.engine(self.graph_key)
        result = engine.results.get(node.id)
        shapes = ", ".join(format_shape(s) for s in (result.outputs or ())) if result else ""
        text = f"Output: {shapes or '?'}"
        if isinstance(node, CallNode) and count_params:
            params = engine.layer_params(node.layer_id)
            text += f"   Params: {params:,}" if params is not None else "   Params: ?"
        elif isinstance(node, CallNode):
            text += "   Params: …"
        self.info.setText(text)

    # ------------------------------------------------------------ commits
    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.show()

    def clear_message(self) -> None:
        self.message.clear()
        self.message.hide()

    def _on_refused(self, message: str) -> None:
        self._refusal = message

    def _push(self, command: Command) -> bool:
        self._refusal = None
        if self.session.push(command):
            self.clear_message()
            return True
        self.show_message(self._refusal or "the edit was refused")
        self._show_values(self.node())
        return False

    def _reject(self, message: str) -> None:
        self.show_message(message)
        self._show_values(self.node())

    def _commit_param(self, name: str) -> None:
        node = self.node()
        if not isinstance(node, CallNode):
            return
        layer = self.graph.layer(node.layer_id)
        spec = self.session.doc.catalog.get(layer.class_name).param(name)
        try:
            value = self.editors[name].read()
        except ValueError as exc:
            self._reject(str(exc))
            return
        problem = spec.value_error(value)
        if problem is not None:
            self._reject(f"{layer.name}: {problem}")
            return
        if value == layer.params.get(name, spec.default):
            return
        self._push(SetParam(layer.id, name, value, self.graph_key,
                            text=f"Set {layer.name}.{name} = {format_value(value)}"))

    def _commit_trainable(self, checked: bool) -> None:
        node = self.node()
        if isinstance(node, CallNode):
            self._push(set_trainable(self.session.doc, node.id, checked, self.graph_key))

    def _commit_training(self) -> None:
        node = self.node()
        if not isinstance(node, CallNode):
            return
        text = self.editors["training"].currentText()
        kwargs = {k: v for k, v in node.call_kwargs.items() if k != "training"}
        if TRAINING_CHOICES[text] is not None:
            kwargs["training"] = TRAINING_CHOICES[text]
        if kwargs != node.call_kwargs:
            name = self.graph.layer(node.layer_id).name
            self._push(EditNode(node.id, {"call_kwargs": kwargs}, self.graph_key,
                                text=f"Set {name} call training = {text}"))

    def _commit_layer_name(self) -> None:
        node = self.node()
        if not isinstance(node, CallNode):
            return
        layer = self.graph.layer(node.layer_id)
        name = self._text("name").strip()
        if name != layer.name:
            self._push(RenameLayer(layer.id, name, self.graph_key,
                                   text=f"Rename '{layer.name}' to '{name}'"))

    def _commit_node(self, field: str, value: Any) -> None:
        node = self.node()
        if node is None or getattr(node, field, None) == value:
            return
        self._push(EditNode(node.id, {field: value}, self.graph_key,
                            text=f"Set {getattr(node, 'name', 'node')}.{field}"))

    def _commit_shape(self) -> None:
        try:
            shape = parse_shape(self._text("shape"))
        except ValueError as exc:
            self._reject(str(exc))
            return
        node = self.node()
        if not isinstance(node, InputNode):
            return
        self.clear_message()
        if tuple(shape) != node.shape:
            self._commit_node("shape", shape)
        else:
            self._show_values(node)  # "None" typed over "(None,)": show it as the node does

    def _registry(self, kind: str) -> dict[str, str]:
        """The names to offer; none before the catalog can be read without importing
        TensorFlow (a commit checks against the catalog all the same)."""
        if not (self.session.keras_ready or cache_path().exists()):
            return {}
        return self.session.doc.catalog.registries.get(kind, {})

    def _commit_loss(self) -> None:
        text = self.editors["loss"].currentText().strip()
        loss = None if text.lower() in ("", "none") else text
        problem = loss and registry_error(self.session.doc.catalog.registries, "loss", loss)
        if problem:
            self._reject(f"loss: {problem}")
            return
        self._commit_node("loss", loss)

    def _commit_metrics(self) -> None:
        metrics = parse_metrics(self._text("metrics"))
        registries = self.session.doc.catalog.registries
        problem = next(filter(None, (registry_error(registries, "metric", m) for m in metrics)),
                       None)
        if problem:
            self._reject(f"metrics: {problem}")
            return
        self._commit_node("metrics", metrics)

    def _commit_loss_weight(self) -> None:
        text = self._text("loss_weight")
        try:
            weight = float(text)
        except ValueError:
            self._reject(f"loss weight expected a number such as 1.0 or 0.25; received {text!r}")
            return
        self._commit_node("loss_weight", weight)
