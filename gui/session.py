"""One open project in the GUI: the document, its QUndoStack and its derived state.

Everything the window shows observes a session; everything a user does becomes a
core command pushed through :meth:`EditorSession.push`. The session holds no model
logic of its own: shapes come from :class:`ShapeEngine`, diagnostics from
``validate`` and the engines, edits from ``layerforge.core.editing.edits``. The full Keras
check (``gui.keras_check``) hands its findings to :meth:`EditorSession.accept_keras_check`,
which merges them with the live ones.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from layerforge.core.analysis.check import KERAS_CODE
from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.analysis.validation import validate
from layerforge.core.document.document import MAIN, Document
from layerforge.core.document.graph import Graph
from layerforge.core.document.trust import code_in, trust_document, untrusted_code
from layerforge.core.editing.commands import Command
from layerforge.core.schema.diagnostics import Diagnostic
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.trust import guard_code

# Longest a single analysis pass builds layers on the UI thread; the rest follows in later
# turns of the event loop (a DenseNet-sized model takes a couple of seconds to build).
VERIFY_SLICE_S = 0.03


class CoreCommand(QUndoCommand):
    """A thin adapter: QUndoStack drives a core command's redo/undo on the document.

    The session runs the first ``redo`` itself before pushing, so a command that
    raises never lands on the stack; QUndoStack's own first call is skipped.
    """

    def __init__(self, session: EditorSession, command: Command) -> None:
        super().__init__(command.text)
        self.session = session
        self.command = command
        self._applied = True

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self.command.redo(self.session.doc)
        self.session.schedule_analysis()

    def undo(self) -> None:
        self.command.undo(self.session.doc)
        self.session.schedule_analysis()


class EditorSession(QObject):
    """The document being edited, plus what the views need to observe it."""

    #: Emitted after edits settle: node ids whose shapes changed, per graph key.
    analysis_changed = Signal(object)
    #: The list of diagnostics changed (all graphs).
    diagnostics_changed = Signal(list)
    #: The whole document was replaced (open, new, restore): views rebuild.
    document_replaced = Signal()
    #: Path or unsaved state changed: the window title follows it.
    title_changed = Signal()
    #: Keras finished loading in the background: shapes can be computed now.
    keras_ready_changed = Signal(bool)
    #: A push was refused: the message says what was expected and what was received.
    edit_refused = Signal(str)
    #: Whether the document's code may run changed (the user trusted it, or another opened).
    trust_changed = Signal(bool)

    def __init__(self, doc: Document | None = None, path: str | Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self._analysis_timer = QTimer(self)
        self._analysis_timer.setSingleShot(True)
        self._analysis_timer.setInterval(0)
        self._analysis_timer.timeout.connect(lambda: self.analyze(VERIFY_SLICE_S))
        self.keras_ready = False
        self.doc = doc if doc is not None else Document()
        # Code the user typed, or a template's, runs; a file's only once the user trusts it.
        self.code_trusted = True
        self.path: Path | None = Path(path) if path else None
        self.diagnostics: list[Diagnostic] = []
        self._engines: dict[str, ShapeEngine] = {}
        # Counts edits: a full-check reply for an older generation is stale.
        self.generation = 0
        # Full-check findings on no node (e.g. the graph), valid for one generation only.
        self._keras_extra: list[Diagnostic] = []
        self._keras_extra_generation = -1
        # Findings of one-off checks (an export's converter), shown until the next edit.
        self._findings: dict[str, tuple[int, list[Diagnostic]]] = {}

    def _on_clean_changed(self, _clean: bool) -> None:
        self.title_changed.emit()

    # ------------------------------------------------------------ document
    def replace_document(self, doc: Document, path: str | Path | None = None,
                         trusted: bool = False) -> None:
        """Swap in another document (open, new, restore) with an empty undo history. Its code
        runs only when ``trusted`` (the user made it, or said so); until then none of it runs."""
        self.doc = doc
        self._set_trust(trusted or not code_in(doc))
        self.path = Path(path) if path else None
        self._engines.clear()
        self.undo_stack.clear()
        self.undo_stack.setClean()
        self.diagnostics = []
        self.diagnostics_changed.emit([])
        self.document_replaced.emit()
        self.title_changed.emit()
        self.schedule_analysis()

    def _set_trust(self, trusted: bool) -> None:
        self.code_trusted = trusted
        if trusted:
            trust_document(self.doc)
        else:
            guard_code()  # from now on this process runs only code a user trusted
        self.trust_changed.emit(trusted)

    def trust_code(self) -> None:
        """The user trusts the document's code: it runs from now on (shapes, checks, builds)."""
        self._set_trust(True)
        self._engines.clear()  # what they computed without the code is stale
        self.schedule_analysis()

    def untrusted_code(self) -> list[str]:
        """``name: expression`` of each layer whose code may not run now."""
        self._trust_typed_code()
        return [code.describe() for code in untrusted_code(self.doc)]

    def _trust_typed_code(self) -> None:
        """In a trusted document, the code the user typed since runs too."""
        if self.code_trusted:
            trust_document(self.doc)

    def _notice_changed_modules(self) -> None:
        """A custom module edited on disk since it was trusted may not run (its nodes warn):
        the document is no longer all trusted, so File → Trust Project Code… is offered again."""
        if self.code_trusted and untrusted_code(self.doc):
            self.code_trusted = False
            self.trust_changed.emit(False)

    def set_path(self, path: str | Path | None) -> None:
        self.path = Path(path) if path else None
        self.title_changed.emit()

    def mark_modified(self) -> None:
        """Unsaved from now on (e.g. a document restored from an autosave file)."""
        self.undo_stack.resetClean()
        self.title_changed.emit()

    @property
    def is_modified(self) -> bool:
        return not self.undo_stack.isClean()

    def display_name(self) -> str:
        if self.path is not None:
            return self.path.name
        return self.doc.meta.title or "Untitled"

    # ------------------------------------------------------------ editing
    def push(self, command: Command) -> bool:
        """Apply a core command and record it for undo; refusals become ``edit_refused``."""
        try:
            command.redo(self.doc)
        except LayerForgeError as exc:
            self.edit_refused.emit(str(exc))
            return False
        self.undo_stack.push(CoreCommand(self, command))
        self.schedule_analysis()
        return True

    # ------------------------------------------------------------ derived state
    def set_keras_ready(self, ready: bool = True) -> None:
        self.keras_ready = ready
        self.keras_ready_changed.emit(ready)
        self.schedule_analysis()

    def engine(self, graph_key: str = MAIN) -> ShapeEngine:
        """The shape engine of a graph (made on first use, kept in sync by signals)."""
        engine = self._engines.get(graph_key)
        if engine is None or engine.graph is not self.doc.graph_of(graph_key):
            engine = ShapeEngine(self.doc, graph_key)
            self._engines[graph_key] = engine
        return engine

    def schedule_analysis(self) -> None:
        """Coalesce the analysis of several quick edits into one pass of the event loop."""
        self.generation += 1
        self._analysis_timer.start()

    def analysis_settled(self) -> bool:
        """True when no analysis waits: the shape engines are in step with the document."""
        return not self._analysis_timer.isActive()

    def analyze(self, budget_s: float | None = None) -> dict[str, set[str]]:
        """Refresh shapes (when Keras is loaded) and diagnostics now; returns changed ids.
        Layers are built for about ``budget_s`` (all of them without one); when some wait,
        another pass is scheduled, as after an edit."""
        self._analysis_timer.stop()
        self._trust_typed_code()
        self._notice_changed_modules()
        changed: dict[str, set[str]] = {}
        building = False
        found = validate(self.doc)
        if self.keras_ready:
            for key, _graph in self.doc.graphs():
                engine = self.engine(key)
                changed[key] = engine.take_changes(budget_s)
                found += [d for d in engine.known_diagnostics() if d not in found]
                building |= engine.verifying
        if self._keras_extra_generation == self.generation:
            found += [d for d in self._keras_extra if d not in found]
        for generation, kept in self._findings.values():
            found += [d for d in kept if generation == self.generation and d not in found]
        if building:  # a large model builds a slice per turn of the event loop
            self._analysis_timer.start()
        if any(changed.values()) or not building:
            self.analysis_changed.emit(changed)
        if found != self.diagnostics:
            self.diagnostics = found
            self.diagnostics_changed.emit(found)
        return changed

    def accept_keras_check(self, generation: int, diagnostics: list[Diagnostic]) -> bool:
        """Merge the full Keras check of ``generation``; False (and nothing kept) when an edit
        came after it. Errors on nodes the live pass did not flag become node errors that hide
        the shapes after them until the node changes; the rest last until the next edit."""
        if generation != self.generation:
            return False
        live = {(d.graph_key, d.target) for d in self.diagnostics
                if d.severity == "error" and d.code != KERAS_CODE}
        on_nodes: dict[str, dict[str, Diagnostic]] = {}
        extra: list[Diagnostic] = []
        for d in diagnostics:
            if d.severity != "error" or (d.graph_key, d.target) in live:
                continue  # validation's findings and the live errors are already shown
            graph = self._graph_or_none(d.graph_key)
            if self.keras_ready and graph is not None and d.target in graph.nodes:
                on_nodes.setdefault(d.graph_key, {})[d.target] = d
            else:
                extra.append(d)
        if self.keras_ready:
            for key, _graph in self.doc.graphs():
                self.engine(key).set_refusals(on_nodes.get(key, {}))
        self._keras_extra, self._keras_extra_generation = extra, generation
        self.analyze()
        return True

    def show_findings(self, source: str, diagnostics: list[Diagnostic]) -> None:
        """Show a one-off check's findings (``source`` replaces its earlier ones) on the
        canvas and in Diagnostics until the next edit."""
        self._findings[source] = (self.generation, list(diagnostics))
        self.analyze()

    def _graph_or_none(self, graph_key: str) -> Graph | None:
        try:
            return self.doc.graph_of(graph_key)
        except LayerForgeError:
            return None

    def total_params(self) -> int | None:
        """The model's parameter count; None until Keras is loaded and every layer is built
        (counting earlier would build the rest at once, on the UI thread)."""
        if not self.keras_ready or self.engine(MAIN).verifying:
            return None
        return self.engine(MAIN).total_params()
