"""The inspector's "Adapt vocabulary" row for TextVectorization, StringLookup and
IntegerLookup: adapting runs on a worker thread (a copy of the document), then the
vocabulary is saved on the layer as one undoable edit.

One :class:`VocabularyAdapter` per session (a child of it) runs the jobs, so a job
finishes and its edit lands even when the inspector shows another node meanwhile.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from layerforge.core.codegen.vocabulary import is_vocabulary_layer
from layerforge.core.document.document import Document
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.training.adapt import Adapted, adapt_layer

from .background import BackgroundJob
from .session import EditorSession
from .theme import ERROR_COLOR

__all__ = ["VocabularyRow", "is_vocabulary_layer"]


class AdaptJob(BackgroundJob):
    """Adapts one layer's vocabulary on its input's data, off the UI thread."""

    thread_name = "layerforge-adapt"
    adapted = Signal(object)  # Adapted
    failed = Signal(str, str)  # layer id, message

    def __init__(self, doc: Document, layer_id: str) -> None:
        super().__init__()
        self.doc, self.layer_id = doc, layer_id

    def _run(self) -> None:
        try:
            self.adapted.emit(adapt_layer(self.doc, self.layer_id))
        except LayerForgeError as exc:
            self.failed.emit(self.layer_id, str(exc))
        except Exception as exc:  # Keras and tf.data fail in many ways; the user sees which
            self.failed.emit(self.layer_id, f"{type(exc).__name__}: {exc}")


class VocabularyAdapter(QObject):
    """Runs adapt jobs for a session and pushes their edits on the UI thread."""

    started = Signal(str)  # layer id
    finished = Signal(str, str)  # layer id, what happened (empty: the edit was refused)
    failed = Signal(str, str)  # layer id, message

    def __init__(self, session: EditorSession) -> None:
        super().__init__(session)
        self.session = session
        self.jobs: dict[str, AdaptJob] = {}

    @staticmethod
    def of(session: EditorSession) -> VocabularyAdapter:
        found = session.findChild(VocabularyAdapter)
        return found if found is not None else VocabularyAdapter(session)

    def is_running(self, layer_id: str) -> bool:
        return layer_id in self.jobs

    def adapt(self, layer_id: str) -> None:
        if layer_id in self.jobs:
            return
        job = AdaptJob(self.session.doc.copy(), layer_id)
        job.adapted.connect(self._on_adapted)
        job.failed.connect(self._on_failed)
        self.jobs[layer_id] = job
        self.started.emit(layer_id)
        job.start()

    def _on_adapted(self, adapted: Adapted) -> None:
        self.jobs.pop(adapted.layer_id, None)
        pushed = self.session.push(adapted.edit())
        self.finished.emit(adapted.layer_id, f"Adapted: {adapted.summary()}" if pushed else "")
        if pushed and adapted.problem is not None:
            self.failed.emit(adapted.layer_id, adapted.problem)  # saved, but training would fail

    def _on_failed(self, layer_id: str, message: str) -> None:
        self.jobs.pop(layer_id, None)
        self.failed.emit(layer_id, message)


class VocabularyRow(QWidget):
    """The button, a busy bar while it runs, and the saved vocabulary or the last error."""

    def __init__(self, session: EditorSession, layer_id: str,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.layer_id = session, layer_id
        self.adapter = VocabularyAdapter.of(session)
        self.button = QPushButton("Adapt vocabulary")
        self.button.setToolTip("Build the vocabulary from the training data bound to the input "
                               "that feeds this layer (Training dock, Data) and save it with "
                               "the project (undoable)")
        self.button.clicked.connect(lambda: self.adapter.adapt(self.layer_id))
        self.busy = QProgressBar(maximumHeight=8, textVisible=False)
        self.busy.setRange(0, 0)
        self.busy.hide()
        self.status = QLabel(wordWrap=True)
        self.error = QLabel(wordWrap=True)
        self.error.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error.hide()
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.button)
        top.addWidget(self.busy, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        self.adapter.started.connect(self._on_started)
        self.adapter.finished.connect(self._on_finished)
        self.adapter.failed.connect(self._on_failed)
        session.undo_stack.indexChanged.connect(self._on_index_changed)
        self._set_running(self.adapter.is_running(layer_id))
        self.show_saved()

    def show_saved(self) -> None:
        """What the project holds now: the saved vocabulary's size, or that it has none."""
        layer = self.session.doc.graph.layers.get(self.layer_id)
        vocabulary = layer.params.get("vocabulary") if layer is not None else None
        if vocabulary is None:
            self.status.setText("No saved vocabulary: a run adapts one on its training data")
        else:
            self.status.setText(f"Saved vocabulary: {len(vocabulary)} tokens")

    def _on_index_changed(self, _index: int) -> None:
        self.show_saved()

    def _set_running(self, running: bool) -> None:
        self.button.setEnabled(not running)
        self.busy.setVisible(running)

    def _on_started(self, layer_id: str) -> None:
        if layer_id == self.layer_id:
            self._set_running(True)
            self.error.hide()
            self.status.setText("Adapting on the training data…")

    def _on_finished(self, layer_id: str, text: str) -> None:
        if layer_id != self.layer_id:
            return
        self._set_running(False)
        self.show_saved()
        if text:
            self.status.setText(text)

    def _on_failed(self, layer_id: str, message: str) -> None:
        if layer_id != self.layer_id:
            return
        self._set_running(False)
        self.show_saved()
        self.error.setText(message)
        self.error.show()
