"""The main window: start page, canvas, palette, inspector, side panels, menus, status bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QStackedWidget,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.analysis.check_worker import CheckWorker
from layerforge.core.document.document import MAIN
from layerforge.core.schema.diagnostics import Diagnostic

from . import files as file_ops
from . import view_memory
from .canvas.view import CanvasView
from .compare import Comparison
from .docks import add_dock, grow_when_shown
from .files import EXPORTS, FileController
from .inspector import Inspector
from .keras_check import KerasCheck, keras_check_enabled
from .keras_loader import KerasLoader
from .palette import Palette
from .panels.code import CodePanel
from .panels.cost_colouring import install_cost
from .panels.diagnostics import DiagnosticsPanel
from .panels.export_dialog import install_export
from .panels.history import HistoryPanel
from .panels.summary import SummaryPanel
from .panels.warm_worker import install_warm_worker
from .preview_dock import PreviewDock
from .runs.install import install_runs
from .session import EditorSession
from .start_page import StartPage
from .training.panel import TrainingPanel
from .tuning.install import install_tuning

APP_NAME = "LayerForge"
STATE_VERSION = 1
# Room for the Diagnostics heading and about six rows.
DIAGNOSTICS_HEIGHT = 170


class MainWindow(QMainWindow):
    def __init__(self, session: EditorSession | None = None, load_keras: bool = True,
                 restore: bool = True, check_worker: CheckWorker | None = None,
                 spare_process: bool = False) -> None:
        super().__init__()
        self.remember_layout = restore
        # The app keeps a training process started ahead; windows made by tests do not.
        self.keeps_spare_process = spare_process
        self.session = session or EditorSession(parent=self)
        self.setObjectName("mainWindow")
        self.files = FileController(self.session, self)
        self.loader: KerasLoader | None = None
        self.keras_info: dict[str, Any] = {}
        self.keras_failed = ""
        self.keras_check: KerasCheck | None = None
        self._build_central()
        self._build_docks()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._connect_session()
        self._install_panels()
        self.resize(1400, 900)
        if restore:
            self.restore_layout()
        self._load_catalog_if_cached()
        self.update_title()
        if load_keras:
            self.start_keras_loader()
        if check_worker is not None or keras_check_enabled():
            self.start_keras_check(check_worker)

    # ------------------------------------------------------------ central area
    def _build_central(self) -> None:
        self.start_page = StartPage()
        self.start_page.template_chosen.connect(self.open_template)
        self.start_page.empty_requested.connect(self.new_project)
        self.start_page.open_requested.connect(self.open_dialog)
        self.start_page.recent_chosen.connect(self.open_path)
        self.view = CanvasView(self.session)
        self.breadcrumb = QLabel()
        self.back_button = QPushButton("◀ Main model")
        self.back_button.setToolTip("Leave the block and show the main model")
        self.back_button.clicked.connect(lambda: self.show_graph(MAIN))
        bar = QHBoxLayout()
        bar.setContentsMargins(6, 2, 6, 2)
        bar.addWidget(self.back_button)
        bar.addWidget(self.breadcrumb, 1)
        self.block_bar = QWidget()
        self.block_bar.setLayout(bar)
        self.block_bar.hide()
        editor = QWidget()
        column = QVBoxLayout(editor)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.block_bar)
        column.addWidget(self.view, 1)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(editor)
        self.editor_page = editor
        self.setCentralWidget(self.stack)
        self.start_page.set_recent(self.files.recent.paths())
        self.files.recent_changed.connect(self._refresh_recent)

    def show_editor(self) -> None:
        self.stack.setCurrentWidget(self.editor_page)
        self.view.setFocus()

    def show_start_page(self) -> None:
        self.stack.setCurrentWidget(self.start_page)

    def _install_panels(self) -> None:
        """Runs history and the search panel add their own docks and menus (after the
        training dock, whose signals they follow; before the saved layout is restored)."""
        self.runs_panel = install_runs(self)
        self.tuning_panel = install_tuning(self)
        # Keras work for previews and latency, started ahead in its own process.
        self.warm_worker = install_warm_worker(self)
        self.preview.sparklines_changed.connect(self.view.canvas_scene.set_sparklines)
        install_cost(self, self.warm_worker)  # FLOPs colouring, the Summary's latency
        # Diagnostics stays the front tab: the training plot (and matplotlib) load when shown.
        self.docks["diagnostics"].raise_()
        # The plot panels share the bottom strip and grow when raised (start_training,
        # Show runs...); the training plot is made once it has room.
        grow_when_shown(self, self.docks["training"],
                        then=lambda: self.training.on_dock_visibility(True))
        grow_when_shown(self, self.docks["runs"])
        grow_when_shown(self, self.docks["tuning"])
        self.resizeDocks([self.docks["diagnostics"]], [DIAGNOSTICS_HEIGHT], Qt.Orientation.Vertical)

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.palette = Palette()
        self.palette.follow(self.session)
        self.palette.layer_activated.connect(self.insert_layer)
        self.inspector = Inspector(self.session)
        self.inspector.open_block_requested.connect(self.show_graph)
        self.summary = SummaryPanel(self.session)
        self.code = CodePanel(self.session)
        self.diagnostics = DiagnosticsPanel(self.session)
        self.diagnostics.activated.connect(self.reveal_diagnostic)
        self.diagnostics.fix_requested.connect(self.apply_fix)
        self.history = HistoryPanel(self.session)
        self.training = TrainingPanel(self.session)
        self.docks = {
            "palette": add_dock(self, "Layers", "paletteDock", self.palette, left, "Ctrl+Alt+1"),
            "inspector": add_dock(self, "Inspector", "inspectorDock", self.inspector, right,
                                  "Ctrl+Alt+2"),
            "summary": add_dock(self, "Summary", "summaryDock", self.summary, right,
                                "Ctrl+Alt+3"),
            "code": add_dock(self, "Code", "codeDock", self.code, right, "Ctrl+Alt+4"),
            "diagnostics": add_dock(self, "Diagnostics", "diagnosticsDock", self.diagnostics,
                                    bottom, "Ctrl+Alt+5"),
            "history": add_dock(self, "History", "historyDock", self.history, left,
                                "Ctrl+Alt+6"),
            "training": add_dock(self, "Training", "trainingDock", self.training, bottom,
                                 "Ctrl+Alt+7"),
        }
        # The side columns run the full height: a tall bottom dock (training plots) then
        # narrows the canvas, not the inspector.
        self.setCorner(Qt.Corner.BottomLeftCorner, left)
        self.setCorner(Qt.Corner.BottomRightCorner, right)
        self.tabifyDockWidget(self.docks["diagnostics"], self.docks["training"])
        self.docks["training"].visibilityChanged.connect(self.training.on_dock_visibility)
        self.docks["diagnostics"].raise_()
        self.tabifyDockWidget(self.docks["summary"], self.docks["code"])
        self.tabifyDockWidget(self.docks["palette"], self.docks["history"])
        self.docks["summary"].raise_()
        self.docks["palette"].raise_()
        self.preview = PreviewDock(self.session, self.view)
        self.docks["preview"] = add_dock(self, "Preview", "previewDock", self.preview, right,
                                         "Ctrl+Alt+0", what="data preview",
                                         tab_with=self.docks["summary"])
        self.docks["preview"].visibilityChanged.connect(self.preview.on_dock_visibility)
        self.resizeDocks([self.docks["palette"], self.docks["inspector"]], [220, 430],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["diagnostics"]], [DIAGNOSTICS_HEIGHT], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["inspector"], self.docks["summary"]], [380, 340],
                         Qt.Orientation.Vertical)

    # ------------------------------------------------------------ actions
    def _action(self, text: str, slot: Callable[[], Any], shortcut: Any = None,
                tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(k) for k in keys])
        action.setToolTip(tip or text.replace("&", "").rstrip("…"))
        action.setStatusTip(action.toolTip())
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _canvas_action(self, text: str, slot: Callable[[], Any], shortcut: Any = None,
                       tip: str = "") -> QAction:
        """An action of the canvas: it acts only while the canvas is shown."""
        return self._action(text, lambda: self._on_canvas(slot), shortcut, tip)

    def _on_canvas(self, slot: Callable[[], Any]) -> None:
        if self.stack.currentWidget() is self.editor_page:
            slot()

    def _build_actions(self) -> None:
        a, c, ks, v = self._action, self._canvas_action, QKeySequence.StandardKey, self.view
        self.act_new = a("&New", self.new_project, ks.New, "New empty project (Ctrl+N)")
        self.act_open = a("&Open…", self.open_dialog, ks.Open,
                          "Open a project or a .keras/.h5 model (Ctrl+O)")
        self.act_save = a("&Save", self.files.save, ks.Save, "Save the project (Ctrl+S)")
        self.act_save_as = a("Save &As…", self.files.save_as, "Ctrl+Shift+S")
        self.act_start = a("Start page", self.show_start_page, None, "Show the template gallery")
        self.act_quit = a("&Quit", self.close, ks.Quit)
        self.act_undo = self.session.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcuts([QKeySequence(ks.Undo)])
        self.act_redo = self.session.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for action in (self.act_undo, self.act_redo):
            self.addAction(action)
        self.act_cut = c("Cu&t", v.cut_selection, ks.Cut)
        self.act_copy = c("&Copy", v.copy_selection, ks.Copy)
        self.act_paste = c("&Paste", v.paste, ks.Paste)
        self.act_duplicate = c("&Duplicate", v.duplicate_selection, "Ctrl+D")
        self.act_delete = c("De&lete", v.delete_selection, [QKeySequence.StandardKey.Delete,
                                                           "Backspace"])
        self.act_select_all = c("Select &All", v.select_all, ks.SelectAll)
        self.act_call_again = c("Call &again", v.call_again, "Ctrl+R",
                                "Call the selected layer again: the calls share weights (Ctrl+R)")
        self.act_make_unique = c("Make &unique", v.make_unique, None,
                                 "Give the selected call its own copy of the layer")
        self.act_group = c("&Group into block", v.group_selection, "Ctrl+G",
                           "Move the selected layers into a block used as a layer (Ctrl+G)")
        self.act_ungroup = c("U&ngroup", v.ungroup_selection, "Ctrl+Shift+G")
        self.act_layout = c("Auto &layout", v.auto_layout, "Ctrl+L",
                            "Arrange the graph in layers, inputs on top (Ctrl+L)")
        self.act_add_layer = c("Add layer…", v.show_layer_search, None,
                               "Search a layer to add at the cursor (Tab on the canvas)")
        self.act_add_input = c("Add &Input", v.add_input, None,
                               "Add a model input (keras.Input) at the cursor")
        self.act_add_output = c("Add &Output", v.add_output, None,
                                "Add a model output, fed by the selected node")
        self.act_zoom_in = c("Zoom &in", v.zoom_in, [ks.ZoomIn, "Ctrl+="])
        self.act_zoom_out = c("Zoom &out", v.zoom_out, ks.ZoomOut)
        self.act_fit = c("&Fit to window", v.fit_all, "Home", "Show the whole graph (Home)")
        self.act_reset_zoom = c("Actual size", v.reset_zoom, "Ctrl+0")
        self.act_main_graph = a("Main model", lambda: self.show_graph(MAIN), "Ctrl+Backspace",
                                "Leave the block and show the main model")
        self.act_train = a("&Train", self.start_training, "F5",
                           "Train the model in the background with the project's settings (F5)")
        self.act_stop = a("&Stop training", self.training.stop_training, "Shift+F5",
                          "End the run after the current batch, keeping the best weights")
        self.act_trust = a("T&rust Project Code…", self.files.trust_current, None,
                           "Show the project's Python code (Lambda layers) and run it if you "
                           "trust it")
        self.act_trust.setEnabled(not self.session.code_trusted)
        self.session.trust_changed.connect(lambda trusted: self.act_trust.setEnabled(not trusted))
        # Train asks to trust a file's code first, from the menu and the dock's button alike.
        self.training.train_button.clicked.disconnect(self.training.start_training)
        self.training.train_button.clicked.connect(self.start_training)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addActions([self.act_new])
        self.template_menu = file_menu.addMenu("New from &template")
        self._fill_template_menu(self.template_menu)
        file_menu.addActions([self.act_open])
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._refresh_recent()
        file_menu.addSeparator()
        file_menu.addActions([self.act_save, self.act_save_as])
        export_menu = file_menu.addMenu("&Export")
        self.export_actions = {kind: self._export_action(export_menu, kind) for kind in EXPORTS}
        self.act_checked_export = install_export(self)
        file_menu.addActions([self.act_trust])
        self.comparison = Comparison(self.view, self)
        file_menu.addAction(self._action(
            "Co&mpare With…", self.comparison.ask, None,
            "Colour the canvas by the difference from another project, Keras model or run "
            "snapshot: added green, changed amber, removed as ghosts"))
        file_menu.addAction(self._action("C&lear Comparison", self.comparison.clear))
        self.compare_label = QLabel()
        self.compare_label.setVisible(False)
        self.statusBar().insertPermanentWidget(0, self.compare_label)
        self.comparison.summary_changed.connect(self._show_comparison)
        file_menu.addAction(self._action(
            "Add &Custom Layer Module…", self.files.add_custom_module, None,
            "Add a Python file of yours that defines Keras layer classes: they appear in the "
            "palette under Custom (the file runs once you trust it)"))
        file_menu.addSeparator()
        file_menu.addActions([self.act_start, self.act_quit])
        edit = bar.addMenu("&Edit")
        edit.addActions([self.act_undo, self.act_redo])
        edit.addSeparator()
        edit.addActions([self.act_cut, self.act_copy, self.act_paste, self.act_duplicate,
                         self.act_delete, self.act_select_all])
        edit.addSeparator()
        edit.addActions([self.act_add_input, self.act_add_layer, self.act_add_output,
                         self.act_call_again, self.act_make_unique,
                         self.act_group, self.act_ungroup, self.act_layout])
        view = bar.addMenu("&View")
        view.addActions([self.act_zoom_in, self.act_zoom_out, self.act_fit, self.act_reset_zoom,
                         self.act_main_graph])
        view.addSeparator()
        view.addActions([dock.toggleViewAction() for dock in self.docks.values()])
        train_menu = bar.addMenu("&Train")
        train_menu.addActions([self.act_train, self.act_stop, self.docks["training"]
                               .toggleViewAction()])
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self._action("&About LayerForge", self.show_about))

    def _fill_template_menu(self, menu: QMenu) -> None:
        from layerforge.core.io.templates import list_templates

        for info in list_templates():
            action = menu.addAction(f"{info.section}  {info.title}")
            action.setToolTip(info.description)
            action.setData(info.name)
            action.triggered.connect(lambda _c=False, n=info.name: self.open_template(n))

    def _export_action(self, menu: QMenu, kind: str) -> QAction:
        action = menu.addAction(EXPORTS[kind][0] + "…")
        action.triggered.connect(lambda _c=False: self.files.export(kind))
        return action

    def _refresh_recent(self) -> None:
        paths = self.files.recent.paths()
        self.start_page.set_recent(paths)
        if not hasattr(self, "recent_menu"):
            return
        self.recent_menu.clear()
        for path in paths:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        self.recent_menu.setEnabled(bool(paths))

    def _build_toolbar(self) -> None:
        icons = QStyle.StandardPixmap
        for action, icon in ((self.act_new, icons.SP_FileIcon),
                             (self.act_open, icons.SP_DialogOpenButton),
                             (self.act_save, icons.SP_DialogSaveButton),
                             (self.act_undo, icons.SP_ArrowBack),
                             (self.act_redo, icons.SP_ArrowForward),
                             (self.act_train, icons.SP_MediaPlay),
                             (self.act_stop, icons.SP_MediaStop)):
            action.setIcon(self.style().standardIcon(icon))
        toolbar = QToolBar("Main toolbar")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addActions([self.act_new, self.act_open, self.act_save])
        toolbar.addSeparator()
        toolbar.addActions([self.act_undo, self.act_redo])
        toolbar.addSeparator()
        toolbar.addActions([self.act_add_layer, self.act_layout, self.act_fit])
        toolbar.addSeparator()
        toolbar.addActions([self.act_train, self.act_stop])
        self.addToolBar(toolbar)

    # ------------------------------------------------------------ status bar
    def _build_status_bar(self) -> None:
        self.keras_label = QLabel("Keras: loading in the background…")
        self.keras_label.setToolTip("Shapes and parameter counts appear once Keras has loaded")
        self.device_label = QLabel("Device: …")
        self.params_label = QLabel("Params: –")
        self.check_label = QLabel("Keras check: off")
        self.check_label.setToolTip("The full Keras check of each edit is off in this window")
        status = self.statusBar()
        for label in (self.params_label, self.check_label, self.device_label, self.keras_label):
            status.addPermanentWidget(label)
        self.files.message.connect(lambda text: status.showMessage(text, 5000))

    def _show_comparison(self, text: str) -> None:
        self.compare_label.setText(text)
        self.compare_label.setVisible(bool(text))

    def update_status(self) -> None:
        total = self.session.total_params() if self.session.keras_ready else None
        self.params_label.setText("Params: –" if total is None else f"Params: {total:,}")

    # ------------------------------------------------------------ session wiring
    def _connect_session(self) -> None:
        s = self.session
        s.title_changed.connect(self.update_title)
        self.files.saved.connect(lambda _path: self.remember_view())
        s.analysis_changed.connect(lambda _c: self.update_status())
        s.edit_refused.connect(lambda text: self.statusBar().showMessage(text, 8000))
        s.document_replaced.connect(self._on_document_replaced)
        self.training.run_started.connect(lambda _d: self._on_training_running(True))
        self.training.run_finished.connect(lambda _r: self._on_training_running(False))
        self._on_training_running(False)
        self.view.selection_changed.connect(self._on_selection)
        self.view.open_block_requested.connect(self.show_graph)
        self.view.graph_key_changed.connect(self._on_graph_shown)

    def update_title(self) -> None:
        star = "*" if self.session.is_modified else ""
        self.setWindowTitle(f"{self.session.display_name()}{star} - {APP_NAME}")

    def _on_document_replaced(self) -> None:
        self.show_graph(MAIN)
        self.show_editor()
        # After the new items are laid out and the viewport has its size.
        QTimer.singleShot(0, self, self._show_initial_view)

    def _show_initial_view(self) -> None:
        """Where the user left this project's view (saved projects), else the whole graph."""
        path = self.session.path
        state = view_memory.recall(path) if path is not None else None
        if state is None:
            self.view.show_start()
        else:
            self.view.show_view(state.zoom, state.center)

    def remember_view(self) -> None:
        if self.session.path is not None and self.view.graph_key == MAIN:
            view_memory.remember(self.session.path, view_memory.capture(self.view))

    def _on_selection(self, ids: list[str]) -> None:
        self.inspector.set_target(self.current_graph_key(), ids[0] if len(ids) == 1 else None)

    def current_graph_key(self) -> str:
        return self.view.graph_key

    def show_graph(self, key: str) -> None:
        """Show the main model or a block's graph (blocks are edited in place)."""
        if self.view.graph_key != key:
            self.view.set_graph_key(key)  # emits graph_key_changed -> _on_graph_shown
        else:
            self._on_graph_shown(key)

    def _on_graph_shown(self, key: str) -> None:
        block = self.session.doc.blocks.get(key)
        self.block_bar.setVisible(block is not None)
        if block is not None:
            self.breadcrumb.setText(f"<b>Block:</b> {block.name}  (a model used as a layer)")
        self.summary.set_graph_key(key)
        self.inspector.set_target(key, None)

    # ------------------------------------------------------------ commands
    def new_project(self) -> bool:
        return self.files.new_project()

    def open_template(self, name: str) -> bool:
        return self.files.new_from_template(name)

    def open_dialog(self) -> bool:
        return self.files.open_dialog()

    def open_path(self, path: str) -> bool:
        return self.files.open_path(path)

    def insert_layer(self, class_name: str) -> None:
        if self.stack.currentWidget() is not self.editor_page:
            self.show_editor()
        self.view.insert_layer(class_name)

    def start_training(self) -> bool:
        """Show the training dock and train the model on the canvas."""
        dock = self.docks["training"]
        dock.show()
        dock.raise_()
        if dock.height() < 360:
            self.resizeDocks([dock], [max(360, self.height() * 9 // 20)], Qt.Orientation.Vertical)
        if self.session.untrusted_code() and not self.files.trust_current():
            return False  # training builds the model: a file's code runs only when trusted
        return self.training.start_training()

    def _on_training_running(self, running: bool) -> None:
        self.act_train.setEnabled(not running)
        self.act_stop.setEnabled(running)

    def reveal_diagnostic(self, diagnostic: Diagnostic) -> None:
        """Select and center the node a diagnostic is about, opening its block if needed."""
        key = diagnostic.graph_key
        if key != MAIN and key not in self.session.doc.blocks:
            return
        self.show_graph(key)
        graph = self.session.doc.graph_of(key)
        target = diagnostic.target
        if target in graph.edges:
            target = graph.edges[target].dst
        if target in graph.nodes:
            self.view.select_nodes([target])
            self.view.center_on(target)
            self.inspector.set_target(key, target)

    def apply_fix(self, diagnostic: Diagnostic) -> None:
        self.reveal_diagnostic(diagnostic)
        self.view.apply_fix(diagnostic)

    def show_about(self) -> None:
        from layerforge import __version__

        info = self.keras_info
        versions = (f"Keras {info['keras']}, TensorFlow {info['tensorflow']}"
                    if info else "Keras not loaded yet")
        file_ops.notify(self, "About LayerForge",
               f"LayerForge {__version__}\nBuild Keras models visually.\n{versions}", error=False)

    # ------------------------------------------------------------ keras + catalog
    def _load_catalog_if_cached(self) -> None:
        from layerforge.core.catalog.catalog import cache_path, get_catalog

        if cache_path().exists():
            self.palette.set_catalog(get_catalog())

    def start_keras_loader(self) -> None:
        self.loader = KerasLoader(self)
        self.loader.loaded.connect(self.on_keras_loaded)
        self.loader.failed.connect(self.on_keras_failed)
        self.loader.start()

    def start_keras_check(self, worker: CheckWorker | None = None) -> None:
        """Keras builds the whole model after each edit, in a worker process started now (a
        worker passed in is shared: closing this window leaves it running)."""
        self.keras_check = KerasCheck(self.session, worker or CheckWorker(),
                                      owns_worker=worker is None, parent=self)
        self.keras_check.status_changed.connect(self._show_check_status)
        self._show_check_status(self.keras_check.text, self.keras_check.tooltip)

    def _show_check_status(self, text: str, tooltip: str) -> None:
        self.check_label.setText(text)
        self.check_label.setToolTip(tooltip)

    def on_keras_loaded(self, info: dict[str, Any]) -> None:
        from layerforge.core.catalog.catalog import get_catalog

        self.keras_info = info
        self.keras_label.setText(f"Keras {info['keras']} ready")
        self.keras_label.setToolTip(f"Keras {info['keras']}, TensorFlow {info['tensorflow']}")
        self.device_label.setText(f"Device: {info['device']}")
        if not self.palette.layer_items():
            self.palette.set_catalog(get_catalog())
        self.session.set_keras_ready()
        if self.keeps_spare_process:
            self.training.keep_spare_process()

    def on_keras_failed(self, message: str) -> None:
        self.keras_failed = message
        self.keras_label.setText("Keras failed to load")
        self.keras_label.setToolTip(message)
        self.device_label.setText("Device: –")

    # ------------------------------------------------------------ layout + closing
    def restore_layout(self) -> None:
        settings = QSettings()
        geometry = settings.value("window/geometry")
        state = settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state, STATE_VERSION)

    def save_layout(self) -> None:
        settings = QSettings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState(STATE_VERSION))
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.files.maybe_discard():
            event.ignore()
            return
        self.remember_view()
        self.training.shutdown()  # a run in progress stops after its batch
        if self.keras_check is not None:
            self.keras_check.shutdown()  # killed at once: quitting never waits for Keras
        self.warm_worker.shutdown()  # the same
        if self.remember_layout:
            self.save_layout()
        self.files.discard_recovery()
        self.files.autosave_timer.stop()
        event.accept()

    def offer_recovery(self) -> None:
        """Run once the window shows: restore a crashed session's autosave if asked."""
        QTimer.singleShot(0, self.files.offer_recovery)
