"""The runs panel: every training run of the project, compared, reopened and inspected.

Lists the run folders beside the project (``<stem>.runs/``), newest first, with their
status, epochs, best loss and duration; follows the folder on disk (new runs and
epochs appear as they are written); overlays the curves of the selected runs and, for
two of them, lists what changed in the model beside the curves (``architecture.py``); shows
the activations of the layer selected on the canvas and replays the run's training health
per epoch (``health.py``); opens a run's best model or
project snapshot as a new document, and its TensorBoard logs in the browser.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QFileSystemWatcher,
    QItemSelectionModel,
    QPoint,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.document.document import MAIN, Document
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.records import CallNode, InputNode, OutputNode
from layerforge.core.training import runs
from layerforge.core.training.runs import RunInfo

from .. import files as file_ops
from ..compare import Comparison
from ..run_folders import runs_folder_for
from ..session import EditorSession
from ..theme import ERROR_COLOR, WARNING_COLOR
from .activations import ActivationView
from .architecture import ArchitectureDiffView
from .curves import CurvesView
from .health import HealthOverlay, HealthView
from .tensorboard import TensorBoardLauncher

COLUMNS = ("Run", "Started", "Status", "Epochs", "Best loss", "Duration")
NAME_ROLE = Qt.ItemDataRole.UserRole
STATUS_COLORS = {"completed": "#2e9d57", "stopped": WARNING_COLOR, "failed": ERROR_COLOR,
                 "running": "#3b82f6"}
REFRESH_DELAY_MS = 250
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
NO_FOLDER = "No run folder is shown: choose one with Folder…."


def choose_runs_folder(parent: QWidget | None, start: str) -> str | None:
    """The folder dialog (tests replace this function)."""
    path = QFileDialog.getExistingDirectory(parent, "Choose a run folder", start)
    return path or None


# ------------------------------------------------------------ formatting
def best_loss(run: RunInfo) -> tuple[float, str] | None:
    """The lowest val_loss (or loss, without validation data) and which one it is."""
    for key in ("val_loss", "loss"):
        values = [v for v in run.history.get(key, []) if math.isfinite(v)]
        if values:
            return min(values), key
    return None


def _seconds(stamp: str) -> float | None:
    try:
        return time.mktime(time.strptime(stamp, TIME_FORMAT))
    except (ValueError, OverflowError):
        return None


def duration_text(run: RunInfo) -> str:
    start = _seconds(run.started)
    end = _seconds(run.finished) if run.finished else time.time()
    if start is None or end is None:
        return ""
    total = max(0, round(end - start))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def status_tooltip(run: RunInfo) -> str:
    text = run.status
    if run.message:
        text += f": {run.message}"
    if run.status == "failed" and run.traceback:
        tail = "\n".join(run.traceback.strip().splitlines()[-8:])
        text += f"\n\n{tail}"
    return text


def activation_layer(doc: Document, graph_key: str, node_ids: list[str]) -> tuple[str | None, str]:
    """The Keras layer name whose activations show for a canvas selection, or None and why."""
    if len(node_ids) != 1:
        return None, "Select one layer on the canvas to see its activations."
    if graph_key != MAIN:
        return None, ("Activations are logged for the layers of the main model; a block is "
                      "logged as a whole: select its call in the main model.")
    graph = doc.graph_of(MAIN)
    node = graph.nodes.get(node_ids[0])
    if isinstance(node, OutputNode):
        feeding = graph.in_edges(node.id)
        node = graph.nodes.get(feeding[0].src) if feeding else None
    if isinstance(node, InputNode):
        return None, f"'{node.name}' is an input: select a layer to see its activations."
    if isinstance(node, CallNode):
        return graph.layer_of(node.id).name, ""
    return None, "Select a layer on the canvas to see its activations."


# ------------------------------------------------------------ the panel
class RunsPanel(QWidget):
    """Runs of the session's project; ``refresh()`` re-reads the folder."""

    message = Signal(str)  # short news for the status bar
    runs_changed = Signal()

    def __init__(self, session: EditorSession, files: file_ops.FileController | None = None,
                 launcher: TensorBoardLauncher | None = None,
                 parent: QWidget | None = None, comparison: Comparison | None = None) -> None:
        super().__init__(parent)
        self.session, self.files = session, files
        self.comparison = comparison  # the window's canvas colouring, for "Show on canvas"
        self.folder: Path | None = None
        self.runs: dict[str, RunInfo] = {}
        self.node_selection: tuple[str, list[str]] = (MAIN, [])
        self.health_overlay: HealthOverlay | None = None  # the canvas's, set by install_runs
        self.launcher = launcher or TensorBoardLauncher(parent=self)
        self.launcher.failed.connect(
            lambda text: file_ops.notify(self, "Cannot open TensorBoard", text))
        self.launcher.opened.connect(lambda url: self.message.emit(f"TensorBoard at {url}"))
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(lambda _p: self.refresh_timer.start())
        self.refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_DELAY_MS)
        self.refresh_timer.timeout.connect(self.refresh)
        self._build()
        self._followed: Path | None = None  # the project folder last followed
        session.document_replaced.connect(self._on_document_replaced)
        session.title_changed.connect(self.follow_session)
        self.follow_session()

    # -------------------------------------------------------- widgets
    def _build(self) -> None:
        self.folder_label = QLabel()
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button = self._button("Folder…", self.choose_folder,
                                          "Choose the folder whose runs are listed")
        self.refresh_button = self._button("Refresh", self.refresh, "Read the run folder again")
        self.load_button = self._button("Load model", self.load_model,
                                        "Open the run's best model (its best checkpoint's weights "
                                        "on the run's graph) as a new document")
        self.snapshot_button = self._button("Open snapshot", self.open_snapshot,
                                            "Open the project as it was when the run started "
                                            "(project.json), as a new document")
        self.tensorboard_button = self._button("TensorBoard", self.open_tensorboard,
                                               "Open the run's TensorBoard logs in the browser")
        self.compare_button = self._button("Compare architectures", self.compare_architectures,
                                           "Select two runs: list what changed in the model "
                                           "from the older run (A) to the newer (B)")
        self.tree = self._make_tree()
        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.curves = CurvesView()
        self.activations = ActivationView()
        self.health = HealthView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.activations, "Activations")
        self.tabs.addTab(self.health, "Health")
        self.tabs.setTabToolTip(2, "The run's training health per epoch (norms, dead units, "
                                   "NaN/Inf, flags), replayed on the canvas")
        self.architecture = ArchitectureDiffView(self.session, self.comparison)
        self.architecture.hide()
        self._lay_out()

    def _button(self, text: str, slot: Any, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.clicked.connect(lambda _c=False: slot())
        return button

    def _make_tree(self) -> QTreeWidget:
        tree = QTreeWidget()
        tree.setColumnCount(len(COLUMNS))
        tree.setHeaderLabels(list(COLUMNS))
        tree.setRootIsDecorated(False)
        tree.setAlternatingRowColors(True)
        tree.setUniformRowHeights(True)
        tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        tree.header().setStretchLastSection(True)
        tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        tree.customContextMenuRequested.connect(self._context_menu)
        tree.itemSelectionChanged.connect(self._on_run_selection)
        return tree

    def _lay_out(self) -> None:
        top = QHBoxLayout()
        top.addWidget(self.folder_label, 1)
        for button in (self.choose_button, self.refresh_button):
            top.addWidget(button)
        actions = QHBoxLayout()
        for button in (self.load_button, self.snapshot_button, self.tensorboard_button):
            actions.addWidget(button)
        actions.addStretch(1)
        two_runs = QHBoxLayout()  # its own row: the list keeps a narrow minimum width
        two_runs.addWidget(self.compare_button)
        two_runs.addStretch(1)
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addWidget(self.tree, 1)
        column.addWidget(self.details)
        column.addLayout(actions)
        column.addLayout(two_runs)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.addWidget(self.architecture)  # beside the curves, once asked for
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 5)
        splitter.setStretchFactor(2, 4)
        splitter.setSizes([400, 500, 400])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

    # -------------------------------------------------------- folder
    def project_folder(self) -> Path:
        """The open project's runs folder: the one the Training dock writes to (beside a
        saved project, else in the app's data folder)."""
        return runs_folder_for(self.session.path, self.session.display_name())

    def follow_session(self) -> None:
        """Show the open project's runs folder. A folder the user chose stays until the
        project's folder changes (a save under a new name, another title)."""
        folder = self.project_folder()
        if folder != self._followed:
            self._followed = folder
            self.set_folder(folder)

    def _on_document_replaced(self) -> None:
        """New, open, template: always the new project's folder, even one listed before."""
        self._followed = None
        self.follow_session()

    def set_folder(self, folder: str | Path | None) -> None:
        self.folder = Path(folder) if folder is not None else None
        if not self.architecture.isHidden():  # its runs are no longer listed
            self.architecture.close_view()
        self.tree.clear()
        self.runs = {}
        self.refresh()

    def choose_folder(self) -> bool:
        start = str(self.folder or (self.session.path.parent if self.session.path else Path.cwd()))
        chosen = choose_runs_folder(self, start)
        if not chosen:
            return False
        self.set_folder(chosen)
        return True

    def show_run(self, result: Any = None) -> None:
        """A run started or ended: list its folder's runs and select it. Accepts a
        RunResult, a run folder or nothing (just re-read); a running run is then followed
        live (new epochs, its end)."""
        run_dir = getattr(result, "run_dir", result)
        if run_dir is None:
            self.refresh()
            return
        run_dir = Path(run_dir)
        if self.folder is None or run_dir.parent != self.folder:
            self.set_folder(run_dir.parent)
        else:
            self.refresh()
        self.select_runs([run_dir.name])

    # -------------------------------------------------------- listing
    def refresh(self) -> None:
        self.refresh_timer.stop()
        selected = [r.name for r in self.selected_runs()]
        current = self.current_run()
        found = runs.list_runs(self.folder) if self.folder is not None else []
        self.runs = {run.name: run for run in found}
        self.tree.blockSignals(True)
        self.tree.clear()
        for run in reversed(found):  # newest first
            self.tree.addTopLevelItem(self._item(run))
        self.tree.blockSignals(False)
        self._watch(found)
        self._show_folder(len(found))
        self.select_runs(selected, current.name if current else None)
        self.runs_changed.emit()

    def _item(self, run: RunInfo) -> QTreeWidgetItem:
        best = best_loss(run)
        item = QTreeWidgetItem([
            run.name, run.started.replace("T", " "), run.status, str(run.epochs),
            f"{best[0]:.4g} ({best[1]})" if best else "–", duration_text(run)])
        item.setData(0, NAME_ROLE, run.name)
        item.setToolTip(0, str(run.path))
        item.setToolTip(2, status_tooltip(run))
        color = STATUS_COLORS.get(run.status)
        if color:
            item.setForeground(2, QBrush(QColor(color)))
        for column in (3, 4, 5):
            item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight
                                  | Qt.AlignmentFlag.AlignVCenter)
        return item

    def _watch(self, found: list[RunInfo]) -> None:
        """Watch the runs folder (new runs) and the running runs (new epochs, the end);
        a folder not created yet is noticed through its parent."""
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        if self.folder is None:
            return
        paths = [str(r.path) for r in found if r.status == "running"]
        target = self.folder if self.folder.is_dir() else self.folder.parent
        if target.is_dir():
            paths.append(str(target))
        if paths:
            self.watcher.addPaths(paths)

    def _show_folder(self, count: int) -> None:
        if self.folder is None:
            self.folder_label.setText("No run folder")
            self.folder_label.setToolTip(NO_FOLDER)
            self.details.setText(NO_FOLDER)
            return
        self.folder_label.setText(f"{count} run{'s' if count != 1 else ''} in "
                                  f"{self.folder.name}")
        self.folder_label.setToolTip(str(self.folder))
        if not count:
            self.details.setText(f"No runs yet in {self.folder}. Train the model to add one.")

    # -------------------------------------------------------- selection
    def items(self) -> list[QTreeWidgetItem]:
        return [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]

    def item_for(self, name: str) -> QTreeWidgetItem | None:
        return next((i for i in self.items() if i.data(0, NAME_ROLE) == name), None)

    def select_runs(self, names: list[str], current: str | None = None) -> None:
        self.tree.blockSignals(True)
        self.tree.clearSelection()
        for name in names:
            item = self.item_for(name)
            if item is not None:
                item.setSelected(True)
        focus = self.item_for(current or (names[0] if names else ""))
        if focus is not None:
            self.tree.setCurrentItem(focus, 0, QItemSelectionModel.SelectionFlag.NoUpdate)
        self.tree.blockSignals(False)
        self._on_run_selection()

    def selected_runs(self) -> list[RunInfo]:
        names = [item.data(0, NAME_ROLE) for item in self.tree.selectedItems()]
        return [self.runs[n] for n in names if n in self.runs]

    def current_run(self) -> RunInfo | None:
        """The run last clicked among the selected ones (the one actions apply to)."""
        item = self.tree.currentItem()
        if item is not None and item.isSelected():
            return self.runs.get(item.data(0, NAME_ROLE))
        selected = self.selected_runs()
        return selected[0] if selected else None

    def _on_run_selection(self) -> None:
        selected = sorted(self.selected_runs(), key=lambda r: r.name)
        self.curves.set_runs(selected)
        run = self.current_run()
        if self.activations.run is not run:
            self.activations.set_run(run)
        self.health.set_run(run)
        self._show_details(run)
        self._update_buttons(run)

    def _show_details(self, run: RunInfo | None) -> None:
        if run is None:
            if self.folder is not None and self.runs:
                self.details.setText("Select runs to compare them; Ctrl+click adds a run.")
            return
        parts = [f"<b>{run.name}</b>: {run.status}"]
        if run.message:
            parts.append(f"<span style='color:{STATUS_COLORS.get(run.status, '')}'>"
                         f"{_escape(run.message)}</span>")
        facts = [f"{run.epochs} epoch{'s' if run.epochs != 1 else ''}"]
        if run.device:
            facts.append(f"device {_escape(run.device)}")
        facts.append(f"checkpoint {run.checkpoint.name}" if run.checkpoint else "no checkpoint")
        self.details.setText(" — ".join(parts) + "<br>" + ", ".join(facts))

    def _update_buttons(self, run: RunInfo | None) -> None:
        self.load_button.setEnabled(run is not None and run.checkpoint is not None)
        self.snapshot_button.setEnabled(run is not None
                                        and (run.path / "project.json").exists())
        self.tensorboard_button.setEnabled(run is not None)
        self.compare_button.setEnabled(len(self.selected_runs()) == 2)

    def _context_menu(self, pos: QPoint) -> None:
        menu = self.run_menu()
        if menu is not None:
            menu.exec(self.tree.viewport().mapToGlobal(pos))

    def run_menu(self) -> QMenu | None:
        """The runs list's context menu for the current selection (None without a run)."""
        run = self.current_run()
        if run is None:
            return None
        menu = QMenu(self)
        menu.addAction("Load model (best checkpoint)", self.load_model).setEnabled(
            run.checkpoint is not None)
        menu.addAction("Open project snapshot", self.open_snapshot)
        menu.addAction("Open in TensorBoard", self.open_tensorboard)
        menu.addAction("Compare architectures", self.compare_architectures).setEnabled(
            len(self.selected_runs()) == 2)
        menu.addAction("Show folder", lambda: QDesktopServices.openUrl(
            QUrl.fromLocalFile(str(run.path))))
        return menu

    # -------------------------------------------------------- canvas selection
    def show_node(self, node_ids: list[str], graph_key: str = MAIN) -> None:
        """The canvas selection changed: show the selected layer's activations."""
        self.node_selection = (graph_key, list(node_ids))
        name, why = activation_layer(self.session.doc, graph_key, list(node_ids))
        self.activations.set_layer(name, why)

    # -------------------------------------------------------- actions
    def _acting_run(self, run: RunInfo | None) -> RunInfo | None:
        run = run or self.current_run()
        if run is None:
            file_ops.notify(self, "No run selected", "Select a run in the runs panel first.")
        return run

    def load_model(self, run: RunInfo | None = None) -> bool:
        """The run's best checkpoint, weights included, as a new unsaved document."""
        run = self._acting_run(run)
        if run is None:
            return False
        checkpoint = run.checkpoint
        if checkpoint is None:
            file_ops.notify(self, "No model saved", f"Run {run.name} saved no best checkpoint "
                            f"(its status: {run.status}). Expected {run.path / runs.CHECKPOINT}.")
            return False
        if not self._may_replace():
            return False
        try:
            doc, warnings = runs.best_model_document(run, self.session.doc.catalog)
        except Exception as exc:  # Keras and file errors alike end in a message
            file_ops.notify(self, "Cannot load the run's model", f"{checkpoint}:\n{exc}")
            return False
        doc.meta.title = f"Run {run.name} (best model)"
        self._replace(doc)
        if warnings:
            file_ops.notify(self, "Loaded with warnings", "\n".join(
                f"• {w}" for w in warnings), error=False)
        self.message.emit(f"Loaded the best model of run {run.name}")
        return True

    def open_snapshot(self, run: RunInfo | None = None) -> bool:
        """The project as it was when the run started, as a new unsaved document (saving it
        never overwrites the run's record)."""
        run = self._acting_run(run)
        if run is None:
            return False
        snapshot = run.path / "project.json"
        if not self._may_replace():
            return False
        from layerforge.core.io.project import load

        try:
            doc = load(snapshot, self.session.doc.catalog)
        except (LayerForgeError, OSError, ValueError) as exc:
            file_ops.notify(self, "Cannot open the run's snapshot", f"{snapshot}:\n{exc}")
            return False
        self._replace(doc)
        self.message.emit(f"Opened the project snapshot of run {run.name}")
        return True

    def compare_architectures(self) -> bool:
        """The diff of the two selected runs' architectures, the older run as A, beside
        their curves."""
        selected = self.selected_runs()
        if len(selected) != 2:
            file_ops.notify(self, "Select two runs", "Compare architectures expects two "
                            f"selected runs; {len(selected)} selected. Ctrl+click adds a run.")
            return False
        order = list(self.runs)  # oldest first, as the folder lists them
        older, newer = sorted(selected, key=lambda run: order.index(run.name))
        if self.architecture.isHidden():
            self._make_room_for_architecture()
        shown = self.architecture.compare(older, newer)
        self.message.emit(f"Architectures of runs {older.name} (A) and {newer.name} (B)")
        return shown

    def _make_room_for_architecture(self) -> None:
        """The list, the curves and the diff share the dock's width (a hidden pane has none)."""
        width = max(sum(self.splitter.sizes()), self.splitter.width())
        self.splitter.setSizes([width * 3 // 10, width * 4 // 10, width * 3 // 10])

    def _may_replace(self) -> bool:
        return self.files is None or self.files.maybe_discard()

    def _replace(self, doc: Document) -> None:
        if self.files is not None:
            file_ops.remove_recovery(self.files.recovery_path)
        self.session.replace_document(doc, None)

    def open_tensorboard(self, run: RunInfo | None = None) -> bool:
        run = self._acting_run(run)
        if run is None:
            return False
        started = self.launcher.launch(run.path)
        if started:
            self.message.emit(f"Starting TensorBoard for run {run.name}…")
        return started


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
