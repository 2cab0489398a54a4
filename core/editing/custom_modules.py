"""Adding a custom layer module to a project, as one undoable edit (its classes join the
palette under "Custom"; reading the module is ``catalog.custom.read_module``'s job)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..catalog.custom import CustomModule
from ..document.document import Document
from ..schema.errors import EditError
from .commands import Command


@dataclass
class AddCustomModule(Command):
    """Add ``module`` to the document, or refresh it when the project has that file already."""

    module: CustomModule
    text: str = "Add custom layer module"
    _old: tuple[CustomModule, ...] | None = field(default=None, repr=False)

    def redo(self, doc: Document) -> None:
        before = {e.class_name for m in doc.custom_modules if m.path == self.module.path
                  for e in m.entries}
        kept = {e.class_name for e in self.module.entries}
        used = [layer.name for _, graph in doc.graphs() for layer in graph.layers.values()
                if layer.class_name in before - kept]
        if used:
            raise EditError(f"{self.module.path}: expected the module to still define the "
                            f"classes the project uses; layer(s) {', '.join(used)} use a class "
                            "it no longer defines")
        self._old = doc.custom_modules
        others = tuple(m for m in doc.custom_modules if m.path != self.module.path)
        doc.set_custom_modules((*others, self.module))

    def undo(self, doc: Document) -> None:
        assert self._old is not None, "undo before redo"
        doc.set_custom_modules(self._old)
