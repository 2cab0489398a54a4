"""Entry point of the desktop app: ``layerforge`` / ``layerforge gui [PROJECT] [--template NAME]``.

``--screenshot PNG`` renders the window with the project at a fixed size, once
Keras has loaded and shapes are computed, writes the PNG and exits.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .main_window import MainWindow

SCREENSHOT_SIZE = (1400, 900)
# Below about this zoom the canvas hides edge shapes and node text: a screenshot zooms in.
READABLE_ZOOM = 0.72
SCREENSHOT_TIMEOUT_S = 180.0
ORGANIZATION = "LayerForge"
APP_NAME = "LayerForge"


def icon_path() -> Path:
    import layerforge

    return Path(layerforge.__file__).resolve().parent / "assets" / "layerforge.svg"


def make_application() -> object:
    """The QApplication (made once), named for QSettings, themed, with the app icon."""
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        quiet_semaphore_tracker()
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        app = QApplication(sys.argv[:1])
    QCoreApplication.setOrganizationName(ORGANIZATION)
    QCoreApplication.setApplicationName(APP_NAME)
    from .theme import apply_theme
    from .wheel_guard import WheelGuard, install_wheel_guard

    apply_theme(app)
    if not app.findChild(WheelGuard):
        install_wheel_guard(app)
    if icon_path().exists():
        app.setWindowIcon(QIcon(str(icon_path())))
    return app


def open_initial(window: MainWindow, project: str | None, template: str | None) -> bool:
    """Open what the command line names: a project file, or a template (by name)."""
    if template:
        return window.open_template(template)
    if project:
        if Path(project).exists() or Path(project).suffix in (".json", ".keras", ".h5"):
            return window.open_path(project)
        return window.open_template(project)
    return True


def run(project: str | None = None, template: str | None = None,
        screenshot: str | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    app = make_application()
    from .main_window import MainWindow

    window = MainWindow(restore=screenshot is None, spare_process=screenshot is None)
    if not open_initial(window, project, template):
        return 2
    if screenshot:
        return take_screenshot(window, Path(screenshot))
    window.show()
    window.offer_recovery()
    return exit_now(app.exec())


def quiet_semaphore_tracker() -> None:
    """The app ends with os._exit (:func:`exit_now`), so multiprocessing's semaphore tracker
    (started later, with these warning options) finds the worker queues' semaphores still
    registered. It removes them, as it should; its warning that it did is noise to someone
    who just closed the window."""
    quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
    if quiet not in sys.warnoptions:
        sys.warnoptions.append(quiet)


def exit_now(code: int) -> int:
    """End the process as soon as the window has closed.

    By then the window has saved what it keeps (layout, recent files) and stopped its
    worker processes; TensorFlow's own teardown at interpreter exit takes another second
    or more and saves nothing, so a quit would feel slow for no gain.
    """
    for child in multiprocessing.active_children():  # os._exit skips multiprocessing's clean-up
        child.kill()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def wait_until(predicate: object, timeout_s: float) -> bool:
    """Run the event loop until ``predicate()`` holds (True) or the time is up (False)."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    return True


def take_screenshot(window: MainWindow, path: Path, selected: str | None = None) -> int:
    """Show the window at a fixed size, wait for Keras and the shapes, write ``path``;
    ``selected`` is the node to select (default: :func:`showcase_node`)."""
    window.remember_layout = False
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    loaded = wait_until(lambda: window.keras_info or window.keras_failed, SCREENSHOT_TIMEOUT_S)
    if not loaded or window.keras_failed:
        print(f"layerforge: Keras did not load: {window.keras_failed or 'timed out'}",
              file=sys.stderr)
    window.session.analyze()
    wait_until(lambda: False, 0.3)  # let the canvas and panels repaint with the shapes
    frame_for_screenshot(window, selected)
    wait_until(lambda: False, 0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(path), "PNG"):
        print(f"layerforge: could not write the screenshot to {path}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


def showcase_node(doc: object) -> str | None:
    """The node a screenshot selects: the first output of a multi-output model, else the
    first layer that has parameters to show in the inspector."""
    graph = doc.graph
    outputs = graph.outputs()
    if len(outputs) > 1:
        return outputs[0].id
    for node_id in graph.topological_order():
        node = graph.nodes[node_id]
        if node.kind == "call" and graph.layer(node.layer_id).params:
            return node_id
    return None


def readable_zoom() -> float:
    try:
        from .canvas.style import EDGE_LABEL_LOD, TEXT_LOD
    except ImportError:
        return READABLE_ZOOM
    return max(READABLE_ZOOM, EDGE_LABEL_LOD + 0.02, TEXT_LOD + 0.02)


def frame_for_screenshot(window: MainWindow, selected: str | None = None) -> None:
    """Select the showcase node, fit the graph, and zoom in to readable text if needed,
    keeping the outputs in view (the end of a model is where templates differ)."""
    view = window.view
    chosen = selected or showcase_node(window.session.doc)
    if chosen is not None:
        view.select_nodes([chosen])
    view.fit_all()
    readable = readable_zoom()
    if view.zoom() >= readable:
        return
    view.zoom_by(readable / view.zoom())
    outputs = window.session.doc.graph.outputs()
    if outputs:
        from PySide6.QtCore import QPointF

        xs = [o.position[0] for o in outputs]
        bottom = max(o.position[1] for o in outputs)
        half_height = view.viewport().height() / 2 / view.zoom()
        view.centerOn(QPointF(sum(xs) / len(xs), bottom - half_height + 120))
