"""Undoable edits of a document, in pure Python: the base of every command.

Each command knows how to ``redo`` and ``undo`` itself on a :class:`Document`,
restoring the exact prior state (including the order of nodes and edges).
Bigger edits are :class:`Macro` s of small ones. The GUI wraps these in a thin
QUndoCommand adapter; the CLI and tests use :class:`UndoStack`.

The commands themselves: ``graph_commands`` (nodes, edges, parameters, shared layers,
blocks), ``renames`` (names and node fields, which keep outputs named after their
tensors), ``settings_commands`` (compile and training settings) and ``space_edits``
(search dimensions).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from psygnal import Signal

from ..document.document import Document
from ..schema.errors import EditError


class Command(ABC):
    text: str = "edit"

    @abstractmethod
    def redo(self, doc: Document) -> None: ...

    @abstractmethod
    def undo(self, doc: Document) -> None: ...


@dataclass
class Macro(Command):
    """Children run in order; undo runs them backwards. A failing child rolls back the rest."""

    text: str
    children: list[Command] = field(default_factory=list)

    def redo(self, doc: Document) -> None:
        done: list[Command] = []
        try:
            for child in self.children:
                child.redo(doc)
                done.append(child)
        except Exception:
            for child in reversed(done):
                child.undo(doc)
            raise

    def undo(self, doc: Document) -> None:
        for child in reversed(self.children):
            child.undo(doc)


# ------------------------------------------------------------ undo stack
class UndoStack:
    """A pure-Python undo stack (the GUI uses QUndoStack with the same commands)."""

    changed = Signal()

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self._commands: list[Command] = []
        self._index = 0
        self._clean = 0

    def push(self, command: Command) -> Command:
        command.redo(self.doc)
        del self._commands[self._index:]
        self._commands.append(command)
        self._index += 1
        if self._clean > self._index:
            self._clean = -1
        self.changed.emit()
        return command

    def undo(self) -> None:
        if not self.can_undo:
            raise EditError("nothing to undo")
        self._index -= 1
        self._commands[self._index].undo(self.doc)
        self.changed.emit()

    def redo(self) -> None:
        if not self.can_redo:
            raise EditError("nothing to redo")
        self._commands[self._index].redo(self.doc)
        self._index += 1
        self.changed.emit()

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._commands)

    @property
    def index(self) -> int:
        return self._index

    def set_clean(self) -> None:
        self._clean = self._index

    @property
    def is_clean(self) -> bool:
        return self._clean == self._index

    def texts(self) -> list[str]:
        return [c.text for c in self._commands]
