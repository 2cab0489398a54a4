"""What the docks installed after the main window's own (runs, search) need from it.

:class:`PanelHost` names those members, so an installer says what it uses instead of
taking ``Any`` and probing it; :class:`~layerforge.gui.main_window.MainWindow` (a
``QMainWindow``) provides them, and installers parent their docks and menus to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QMenuBar, QStatusBar

from .canvas.view import CanvasView
from .files import FileController
from .session import EditorSession
from .training.panel import TrainingPanel


class PanelHost(Protocol):
    session: EditorSession
    files: FileController
    #: The window's docks by key ("diagnostics", "training", ...); installers add theirs.
    docks: dict[str, QDockWidget]
    #: Its ``run_started(run_dir)`` / ``run_finished(result)`` signals announce runs.
    training: TrainingPanel
    view: CanvasView

    def menuBar(self) -> QMenuBar: ...

    def statusBar(self) -> QStatusBar: ...

    def installEventFilter(self, watcher: QObject) -> None: ...

    def addDockWidget(self, area: Qt.DockWidgetArea, dock: QDockWidget) -> None: ...

    def tabifyDockWidget(self, first: QDockWidget, second: QDockWidget) -> None: ...

    def resizeDocks(self, docks: Sequence[QDockWidget], sizes: Sequence[int],
                    orientation: Qt.Orientation) -> None: ...
