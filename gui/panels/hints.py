"""The session's hints (core/analysis/advice.py), recomputed after each live pass: the ones
shown and the ones the project silenced."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from layerforge.core.analysis.advice import hints
from layerforge.core.editing.advice_fixes import silenced
from layerforge.core.schema.diagnostics import Diagnostic
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.training.first_epoch import latest_first_epoch_losses

from ..run_folders import runs_folder_for
from ..session import EditorSession

# How often a multi-output project looks for a run's first epoch (a run going on, or one
# finished, in the runs folder beside it): the loss-weights hint needs one.
RUNS_POLL_MS = 2000


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
        self._poll = QTimer(self)
        self._poll.setInterval(RUNS_POLL_MS)
        self._poll.timeout.connect(self._on_poll)
        self._poll.start()

    def _on_poll(self) -> None:
        if self._multi_output():
            self.refresh()

    def _multi_output(self) -> list[str]:
        outputs = [o.name for o in self.session.doc.graph.outputs() if o.loss]
        return outputs if len(outputs) > 1 else []

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
        """The latest run's, for a multi-output project (in the Training dock's runs folder)."""
        outputs = self._multi_output()
        if not outputs:
            return {}
        folder = runs_folder_for(self.session.path, self.session.display_name())
        return latest_first_epoch_losses(folder, outputs)
