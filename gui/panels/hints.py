"""The session's hints (core/analysis/advice.py), recomputed after each live pass: the ones
shown and the ones the project silenced."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from layerforge.core.analysis.advice import hints
from layerforge.core.editing.advice_fixes import silenced
from layerforge.core.schema.diagnostics import Diagnostic
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.training.first_epoch import latest_first_epoch_losses
from layerforge.core.training.runs import runs_folder

from ..session import EditorSession


class SessionHints(QObject):
    """``changed()`` when :attr:`shown` or :attr:`silenced` changed."""

    changed = Signal()

    def __init__(self, session: EditorSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.shown: list[Diagnostic] = []
        self.silenced: list[Diagnostic] = []
        session.analysis_changed.connect(lambda _changed: self.refresh())
        session.document_replaced.connect(self.refresh)

    def refresh(self) -> None:
        """Hints need the live shapes: none until Keras is loaded and the layers are built."""
        found: list[Diagnostic] = []
        if self.session.keras_ready and not self.session.engine().verifying:
            try:
                found = hints(self.session.doc, self.session.engine, self._first_epoch_losses(),
                              include_silenced=True)
            except LayerForgeError:
                found = []  # a graph mid-edit (e.g. a block going away): the next pass tells
        quiet = set(silenced(self.session.doc))
        shown = [h for h in found if h.code not in quiet]
        hidden = [h for h in found if h.code in quiet]
        if (shown, hidden) != (self.shown, self.silenced):
            self.shown, self.silenced = shown, hidden
            self.changed.emit()

    def _first_epoch_losses(self) -> dict[str, float]:
        """The latest run's, for a saved multi-output project (runs live beside its file)."""
        outputs = [o.name for o in self.session.doc.graph.outputs() if o.loss]
        if self.session.path is None or len(outputs) < 2:
            return {}
        return latest_first_epoch_losses(runs_folder(self.session.path), outputs)
