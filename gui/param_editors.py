"""Typed editors for one constructor argument, chosen by the catalog's ParamSpec kind.

Each editor shows a value, reads back what the user entered (``read`` raises
ValueError with what was expected and what was received when the text does
not parse), and calls ``on_commit`` once per finished edit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

from layerforge.core.catalog.params import ParamSpec

NAMED_KINDS = ("activation", "initializer", "regularizer", "constraint")
INT_LIMIT = 2**31 - 1


def format_value(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


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


EDITORS: dict[str, type] = {"int": IntEditor, "bool": BoolEditor, "choice": ChoiceEditor,
                            **dict.fromkeys(NAMED_KINDS, ChoiceEditor)}


def make_editor(spec: ParamSpec, on_commit: Callable[[], None]) -> QWidget:
    editor_class = EDITORS.get(spec.kind, TextEditor)
    editor = editor_class(spec, on_commit)
    editor.setToolTip(f"{spec.name} ({spec.kind}); default {format_value(spec.default)}")
    return editor
