"""The Runs dock's "Compare architectures": what changed in the model between two runs.

Each run folder keeps the graph it trained (``project.json``, written by
``core/training/runs.py``). The older run is A, the newer B; the panel lists the same lines
as ``layerforge diff A B`` (``core/cli/diff.py``: ``+`` added, ``-`` removed, ``~`` changed
with the values and parameter counts, ``>`` rewired, the total parameters).

Parameter counts need Keras (``diff_documents`` builds every layer). The comparison is first
made without Keras, on the UI thread (matching and values only: a 400-layer model takes well
under a second), so the lines show at once with ``?`` for counts; the counted diff is then
made on a daemon thread (:class:`CountJob`, on documents of its own) once Keras is loaded, and
replaces the lines when it ends. Before Keras has loaded, the counts follow when it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.analysis.diff import diff_documents
from layerforge.core.catalog.catalog import Catalog
from layerforge.core.cli.diff import diff_lines
from layerforge.core.document.document import Document
from layerforge.core.io.diff import RUN_SNAPSHOT, open_model
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.training.runs import RunInfo

from ..background import BackgroundJob
from ..compare import ADDED, CHANGED, GHOST, Comparison
from ..session import EditorSession
from ..theme import ERROR_COLOR

NO_DIFFERENCES = "no differences"
LINE_COLOURS = {"+": ADDED, "-": QColor(ERROR_COLOR), "~": CHANGED, ">": QColor("#3b82f6")}
COUNTING = "Counting parameters with Keras…"
WAITING_FOR_KERAS = "Parameter counts (?) follow once Keras has loaded."


class SnapshotMissing(LayerForgeError):
    """A run folder written before runs kept their graph."""


@dataclass(frozen=True)
class RunPair:
    """Two runs, the older one A."""

    a: RunInfo
    b: RunInfo

    def labels(self) -> tuple[str, str]:
        return f"run {self.a.name} (older)", f"run {self.b.name} (newer)"


def snapshot_of(run: RunInfo, catalog: Catalog) -> Document:
    """The graph ``run`` trained, or :class:`SnapshotMissing` naming its folder."""
    if not (run.path / RUN_SNAPSHOT).is_file():
        raise SnapshotMissing(
            f"Run {run.name} has no architecture snapshot: expected {RUN_SNAPSHOT} in "
            f"{run.path}; the folder has none (runs from older versions did not keep one).")
    return open_model(str(run.path), catalog)


def pair_lines(pair: RunPair, a: Document, b: Document, counts: bool) -> list[str]:
    """The lines ``layerforge diff`` prints for the two runs' snapshots."""
    return diff_lines(diff_documents(a, b, counts=counts), *pair.labels())


class CountJob(BackgroundJob):
    """The diff with parameter counts, off the UI thread (building layers takes a while)."""

    thread_name = "layerforge-run-diff"
    counted = Signal(object, list)  # RunPair, lines
    failed = Signal(object, str)  # RunPair, message

    def __init__(self, pair: RunPair, catalog: Catalog) -> None:
        super().__init__()
        self.pair, self.catalog = pair, catalog

    def _run(self) -> None:
        try:
            a, b = (snapshot_of(run, self.catalog) for run in (self.pair.a, self.pair.b))
            self.counted.emit(self.pair, pair_lines(self.pair, a, b, counts=True))
        except Exception as exc:  # Keras fails in many ways; the counts stay "?" and say why
            self.failed.emit(self.pair, f"{type(exc).__name__}: {exc}")


class ArchitectureDiffView(QWidget):
    """A read-only list of the diff lines, with which run is A and which B."""

    closed = Signal()

    def __init__(self, session: EditorSession, comparison: Comparison | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.comparison = session, comparison
        self.pair: RunPair | None = None
        self.job: CountJob | None = None
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.lines = QListWidget()
        self.lines.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.lines.setToolTip("What changed from run A to run B, as `layerforge diff A B` "
                              "prints it: + added, - removed, ~ changed, > rewired")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.canvas_button = QPushButton("Show on canvas")
        self.canvas_button.setToolTip("Colour the open model by its difference from run A's "
                                      "architecture (File → Clear Comparison removes it)")
        self.canvas_button.clicked.connect(lambda _c=False: self.show_on_canvas())
        self.canvas_button.setVisible(comparison is not None)
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Hide the architecture comparison")
        self.close_button.clicked.connect(lambda _c=False: self.close_view())
        buttons = QHBoxLayout()
        buttons.addWidget(self.canvas_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        column = QVBoxLayout(self)
        column.setContentsMargins(2, 2, 2, 2)
        column.addWidget(self.title)
        column.addWidget(self.lines, 1)
        column.addWidget(self.note)
        column.addLayout(buttons)
        session.keras_ready_changed.connect(lambda ready: ready and self._count())

    def texts(self) -> list[str]:
        """The lines shown (tests and copying read them)."""
        return [self.lines.item(i).text() for i in range(self.lines.count())]

    def compare(self, older: RunInfo, newer: RunInfo) -> bool:
        """Show the diff from ``older`` (A) to ``newer`` (B); False with the reason shown
        when a run has no snapshot or it cannot be read."""
        self.pair = RunPair(older, newer)
        self.job = None
        self.show()
        label_a, label_b = self.pair.labels()
        self.title.setText(f"<b>Architecture</b><br>A: {label_a}<br>B: {label_b}")
        catalog = self.session.doc.catalog
        try:
            a, b = snapshot_of(older, catalog), snapshot_of(newer, catalog)
        except (LayerForgeError, OSError, ValueError) as exc:
            self._show_lines([], str(exc))
            self.canvas_button.setEnabled(False)
            return False
        self._show_lines(pair_lines(self.pair, a, b, counts=False)[2:], "")
        self.canvas_button.setEnabled(True)
        self._count()
        return True

    def _count(self) -> None:
        if self.pair is None or self.job is not None or not self.lines.count():
            return
        if not self.session.keras_ready:
            self.note.setText(WAITING_FOR_KERAS)
            return
        self.note.setText(COUNTING)
        self.job = CountJob(self.pair, self.session.doc.catalog)
        self.job.counted.connect(self._on_counted)
        self.job.failed.connect(self._on_failed)
        self.job.start()

    def _on_counted(self, pair: RunPair, lines: list[str]) -> None:
        if pair is self.pair:
            self._show_lines(lines[2:], "")

    def _on_failed(self, pair: RunPair, message: str) -> None:
        if pair is self.pair:
            self.note.setText(f"Parameter counts unavailable: {message}")

    def _show_lines(self, lines: list[str], note: str) -> None:
        self.lines.clear()
        for text in lines:
            item = QListWidgetItem(text)
            colour = LINE_COLOURS.get(text.lstrip()[:1]) if text != NO_DIFFERENCES else GHOST
            if colour is not None:
                item.setForeground(QBrush(colour))
            self.lines.addItem(item)
        self.note.setText(note)

    def show_on_canvas(self) -> bool:
        """Colour the open document by its difference from run A's snapshot."""
        if self.comparison is None or self.pair is None:
            return False
        return self.comparison.compare_with(Path(self.pair.a.path))

    def close_view(self) -> None:
        self.pair, self.job = None, None
        self.hide()
        self.closed.emit()
