"""Typed editors for one constructor argument, chosen by the catalog's ParamSpec kind.

Each editor shows a value, reads back what the user entered (``read`` raises
ValueError with what was expected and what was received when the text does
not parse), and calls ``on_commit`` once per finished edit. A nested layer (a wrapper's
layer, an RNN's cell: ``catalog/nested.py``) gets a class box and, under it, the editors
of the chosen class's own parameters; a list of layers gets one such group per layer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.catalog.nested import NESTED_KINDS, entry_of, new_nested_layer
from layerforge.core.catalog.params import ParamSpec

NAMED_KINDS = ("activation", "initializer", "regularizer", "constraint")
INT_LIMIT = 2**31 - 1


def format_value(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dict) and isinstance(value.get("class_name"), str) \
            and "config" not in value:
        return nested_text(value)
    if isinstance(value, dict):  # a Keras object's config: JSON, which reads back exactly
        return json.dumps(value)
    return str(value)


def nested_text(value: dict[str, Any]) -> str:
    """A nested layer as it is written in Python: GRU(32, return_sequences=True); a Keras
    object's config the same way: Constant(value=-10.0)."""
    params = value.get("params") or value.get("config") or {}
    entry = entry_of(value["class_name"])
    required = [p.name for p in entry.params if p.required] if entry is not None else []
    args = [format_value(params[n]) for n in required if n in params]
    args += [f"{k}={format_value(v)}" for k, v in params.items() if k not in required]
    return f"{value['class_name']}({', '.join(args)})"


def parse_int_list(text: str, spec: ParamSpec) -> Any:
    """'3' -> 3 (int_or_tuple) or [3]; '3, 3' / '(3, 3)' / '[3,3]' -> [3, 3]; 'None' allowed."""
    stripped = text.strip().strip("()[]").strip()
    if not stripped:
        raise ValueError(f"'{spec.name}' expected integers separated by commas; received nothing")
    parts = [p.strip() for p in stripped.split(",") if p.strip()]
    values: list[int | None] = []
    for part in parts:
        if part.lower() == "none":
            values.append(None)
            continue
        try:
            values.append(int(part))
        except ValueError:
            raise ValueError(f"'{spec.name}' expected integers separated by commas; "
                             f"received {text!r}") from None
    if spec.kind == "int_or_tuple" and len(values) == 1 and "," not in text:
        return values[0]
    return values


def parse_float(text: str, spec: ParamSpec) -> float | None:
    stripped = text.strip()
    if stripped.lower() in ("", "none") and not spec.required:
        return None
    try:
        return float(stripped)
    except ValueError:
        raise ValueError(f"'{spec.name}' expected a number such as 0.5 or 1e-3; "
                         f"received {text!r}") from None


def parse_free(text: str, spec: ParamSpec) -> Any:
    """JSON when it parses (numbers, lists, null, objects), else the text itself."""
    stripped = text.strip()
    if stripped.lower() == "none" or not stripped:
        return None
    try:
        return json.loads(stripped)
    except ValueError:
        return stripped


def parse_named(text: str, spec: ParamSpec) -> Any:
    stripped = text.strip()
    if stripped.lower() in ("", "none"):
        return None
    if stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except ValueError:
            raise ValueError(f"'{spec.name}' expected a name or a JSON config; "
                             f"received {text!r}") from None
    return stripped


class IntEditor(QSpinBox):
    def __init__(self, spec: ParamSpec, on_commit: Callable[[], None]) -> None:
        super().__init__()
        self.spec = spec
        self.setRange(-INT_LIMIT, INT_LIMIT)
        self.setKeyboardTracking(False)  # one commit per finished edit, not per keystroke
        self.valueChanged.connect(lambda _v: on_commit())

    def read(self) -> Any:
        return self.value()

    def show_value(self, value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            self.setValue(value)


class BoolEditor(QCheckBox):
    def __init__(self, spec: ParamSpec, on_commit: Callable[[], None]) -> None:
        super().__init__()
        self.spec = spec
        self.toggled.connect(lambda _v: on_commit())

    def read(self) -> Any:
        return self.isChecked()

    def show_value(self, value: Any) -> None:
        self.setChecked(bool(value))


class ChoiceEditor(QComboBox):
    """A fixed list for 'choice'; editable (names or a JSON config) for activations etc."""

    def __init__(self, spec: ParamSpec, on_commit: Callable[[], None]) -> None:
        super().__init__()
        self.spec = spec
        for choice in spec.choices:
            self.addItem(format_value(choice), choice)
        editable = spec.kind in NAMED_KINDS
        self.setEditable(editable)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)  # typed text is a value, not an item
        if editable:
            self.lineEdit().editingFinished.connect(on_commit)
        self.activated.connect(lambda _i: on_commit())

    def read(self) -> Any:
        if self.isEditable():
            text = self.currentText()
            for i in range(self.count()):
                if self.itemText(i) == text:
                    return self.itemData(i)
            return parse_named(text, self.spec)
        return self.currentData()

    def show_value(self, value: Any) -> None:
        index = next((i for i in range(self.count()) if self.itemData(i) == value), -1)
        if index >= 0:
            self.setCurrentIndex(index)
        elif self.isEditable():
            self.setEditText(format_value(value))


class TextEditor(QLineEdit):
    """Line edit for floats, int tuples, strings and free (JSON) values."""

    PARSERS: dict[str, Callable[[str, ParamSpec], Any]] = {
        "float": parse_float, "tuple": parse_int_list, "int_or_tuple": parse_int_list,
        "str": lambda text, spec: text, "any": parse_free,
    }
    HINTS = {"float": "a number, e.g. 0.5 or 1e-3", "tuple": "integers, e.g. 3, 3",
             "int_or_tuple": "an integer or integers, e.g. 3 or 3, 3",
             "any": "a JSON value (number, list, null) or text"}

    def __init__(self, spec: ParamSpec, on_commit: Callable[[], None]) -> None:
        super().__init__()
        self.spec = spec
        self.parser = self.PARSERS.get(spec.kind, parse_free)
        self.setPlaceholderText(self.HINTS.get(spec.kind, ""))
        self.editingFinished.connect(on_commit)

    def read(self) -> Any:
        return self.parser(self.text(), self.spec)

    def show_value(self, value: Any) -> None:
        text = value if self.spec.kind == "str" and isinstance(value, str) else \
            format_value(value)
        if self.text() != text:
            self.setText(text)
            self.setCursorPosition(0)


NO_LAYER = "None"


class NestedLayerEditor(QFrame):
    """A layer inside this one: its class (among the classes that fit) and, below, the
    editors of that class's parameters. Choosing another class starts it with its own
    starting parameters; every finished edit commits the whole nested value."""

    def __init__(self, spec: ParamSpec, on_commit: Callable[[], None]) -> None:
        super().__init__()
        self.spec = spec
        self.on_commit = on_commit
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.class_box = QComboBox()
        self.class_box.setToolTip(f"The layer {spec.name} holds")
        for choice in spec.choices:
            self.class_box.addItem(NO_LAYER if choice is None else str(choice), choice)
        self.class_box.activated.connect(lambda _i: on_commit())
        self.form = QFormLayout()
        self.form.setContentsMargins(8, 0, 0, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.class_box)
        layout.addLayout(self.form)
        self.editors: dict[str, QWidget] = {}
        self.shown: dict[str, Any] | None = None  # the value the editors show

    def chosen_class(self) -> str | None:
        return self.class_box.currentData()

    def read(self) -> Any:
        chosen = self.chosen_class()
        if chosen is None:
            return None
        if self.shown is None or chosen != self.shown.get("class_name"):
            value = new_nested_layer(chosen)
            if self.spec.name == "backward_layer":  # Keras wants it to run the other way
                value["params"]["go_backwards"] = True
            return value
        entry = entry_of(chosen)
        params: dict[str, Any] = {}
        for name, editor in self.editors.items():
            spec = entry.param(name) if entry is not None else None
            value = editor.read()  # type: ignore[attr-defined]
            if spec is None or spec.required or value != spec.default:
                params[name] = value
        value = {**self.shown, "params": params}
        return value

    def show_value(self, value: Any) -> None:
        chosen = value.get("class_name") if isinstance(value, dict) else None
        index = self.class_box.findData(chosen)
        self.class_box.setCurrentIndex(max(index, 0))
        if self.shown is None or self.shown.get("class_name") != chosen:
            self._build(chosen)
        self.shown = value if isinstance(value, dict) else None
        params = value.get("params", {}) if isinstance(value, dict) else {}
        entry = entry_of(chosen) if chosen else None
        for name, editor in self.editors.items():
            default = entry.param(name).default if entry is not None else None
            _show_quietly(editor, params.get(name, default))

    def _build(self, class_name: str | None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors = {}
        entry = entry_of(class_name) if class_name else None
        for spec in entry.params if entry is not None else ():
            editor = make_editor(spec, self.on_commit)
            label = QLabel(f"<b>{spec.name}</b>" if spec.required else spec.name)
            label.setToolTip(editor.toolTip())
            self.form.addRow(label, editor)
            self.editors[spec.name] = editor


class NestedLayersEditor(QFrame):
    """A list of layers (a Pipeline's layers, StackedRNNCells' cells): one group per layer
    with a remove button, and a button that adds one."""

    def __init__(self, spec: ParamSpec, on_commit: Callable[[], None]) -> None:
        super().__init__()
        self.spec = spec
        self.on_commit = on_commit
        self.items: list[NestedLayerEditor] = []
        self.remove_buttons: list[QPushButton] = []
        self.removed: int | None = None
        self.added = False
        self.list_layout = QVBoxLayout()
        add = QPushButton(f"Add to {spec.name}")
        add.setToolTip(f"Append a layer to {spec.name}")
        add.clicked.connect(self._add)
        self.add_button = add
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.list_layout)
        layout.addWidget(add)
        self.item_spec = ParamSpec(spec.name, "layer", None, True,
                                   tuple(c for c in spec.choices if c is not None))

    def read(self) -> Any:
        values = [item.read() for item in self.items]
        if self.removed is not None:
            del values[self.removed]
        if self.added:
            values.append(new_nested_layer(self.item_spec.choices[0]))
        return values

    def show_value(self, value: Any) -> None:
        self.removed, self.added = None, False
        values = value if isinstance(value, list) else []
        while len(self.items) > len(values):
            self.remove_buttons.pop()
            self.items.pop().parentWidget().deleteLater()  # type: ignore[union-attr]
        while len(self.items) < len(values):
            self._append_item()
        for item, item_value in zip(self.items, values, strict=True):
            item.show_value(item_value)

    def _append_item(self) -> None:
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        item = NestedLayerEditor(self.item_spec, self.on_commit)
        remove = QPushButton("✕")
        remove.setToolTip("Remove this layer")
        index = len(self.items)
        remove.clicked.connect(lambda _c=False, i=index: self._remove(i))
        row_layout.addWidget(item, 1)
        row_layout.addWidget(remove)
        self.list_layout.addWidget(row)
        self.items.append(item)
        self.remove_buttons.append(remove)

    def _remove(self, index: int) -> None:
        self.removed = index
        self.on_commit()

    def _add(self) -> None:
        self.added = True
        self.on_commit()


def _show_quietly(editor: QWidget, value: Any) -> None:
    """Show a value without the editor reporting it as the user's edit."""
    editor.blockSignals(True)
    try:
        editor.show_value(value)  # type: ignore[attr-defined]
    finally:
        editor.blockSignals(False)


EDITORS: dict[str, type] = {"int": IntEditor, "bool": BoolEditor, "choice": ChoiceEditor,
                            **dict.fromkeys(NAMED_KINDS, ChoiceEditor),
                            "layer": NestedLayerEditor, "layers": NestedLayersEditor}


def make_editor(spec: ParamSpec, on_commit: Callable[[], None]) -> QWidget:
    editor_class = EDITORS.get(spec.kind, TextEditor)
    editor = editor_class(spec, on_commit)
    default = "none" if spec.kind in NESTED_KINDS and spec.default is None else \
        format_value(spec.default)
    editor.setToolTip(f"{spec.name} ({spec.kind}); default {default}")
    return editor
