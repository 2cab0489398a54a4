"""The training dock: Train / Stop, progress, device, messages, live curves, settings, data.

Train snapshots the document and runs it in a :class:`TrainingWorker`; the run
folder is beside the project (``model.runs/``) or, for a project never saved, in
the app's data folder (the panel says which). A failed run (NaN loss, data that
does not fit the graph, any exception) shows its message here and leaves the app
running; warnings (e.g. an output trained with a fallback loss) show too.
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.training.process import spares

from ..run_folders import runs_folder_for
from ..session import EditorSession
from ..theme import ERROR_COLOR, WARNING_COLOR
from .data_editor import DataEditor
from .plots import LivePlot, PlotData
from .settings_editor import SettingsEditor, while_alive
from .worker import TrainingWorker

QUIT_WAIT_S = 15.0
STOPPING = "  — stopping after this batch…"
LABEL_INTERVAL_S = 0.25  # the progress text changes at most 4 times a second
SPARE_DELAY_MS = 1000  # after Keras has loaded: the window's first analysis goes first


class _LazyPlotHost(QWidget):
    """Holds the live plot, created (and matplotlib imported) when first shown."""

    def __init__(self, data: PlotData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = data
        self.plot: LivePlot | None = None
        self.setLayout(QVBoxLayout())
        self.layout().setContentsMargins(0, 0, 0, 0)

    def ensure_plot(self) -> LivePlot:
        if self.plot is None:
            self.plot = LivePlot(self.data, self)
            self.layout().addWidget(self.plot)
        return self.plot

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        # Checked on the next loop: a window's first show briefly shows hidden dock tabs too.
        QTimer.singleShot(0, self, self._create_if_visible)

    def _create_if_visible(self) -> None:
        if is_on_screen(self):
            self.ensure_plot().refresh()

    def schedule(self) -> None:
        if self.plot is not None:
            self.plot.schedule()


class TrainingPanel(QWidget):
    """Trains the session's document; ``run_started(run_dir)``, ``run_finished(result)``,
    and ``health_reported(report)`` after each epoch (the worker's health report)."""

    run_started = Signal(object)
    run_finished = Signal(object)
    health_reported = Signal(object)

    def __init__(self, session: EditorSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.worker: TrainingWorker | None = None
        self.result: Any = None
        self.info: dict[str, Any] = {}
        self.plot_data = PlotData()
        self._epoch_start = (0.0, 0)  # (time, step) when the current epoch began
        self._epochs_done = 0
        self._label_shown = 0.0
        self._keeps_spare = False
        self._build()
        session.title_changed.connect(self._show_runs_folder)
        self._show_runs_folder()
        self._set_running(False)

    # ------------------------------------------------------------ layout
    def _build(self) -> None:
        icons = QStyle.StandardPixmap
        self.train_button = QPushButton(self.style().standardIcon(icons.SP_MediaPlay), "Train")
        self.train_button.setToolTip("Train the model on the canvas with these settings (F5)")
        self.train_button.clicked.connect(self.start_training)
        self.stop_button = QPushButton(self.style().standardIcon(icons.SP_MediaStop), "Stop")
        self.stop_button.setToolTip("End after the current batch; the best weights are kept "
                                    "(Shift+F5)")
        self.stop_button.clicked.connect(self.stop_training)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        self.progress_label = QLabel("Not trained yet.")
        self.progress_label.setWordWrap(True)
        self.progress_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.device_label = QLabel("Device: –")
        self.device_label.setToolTip("The device the last run trained on")
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.device_label)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setTextFormat(Qt.TextFormat.RichText)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        self.health_label = QLabel()
        self.health_label.setWordWrap(True)
        self.health_label.setTextFormat(Qt.TextFormat.RichText)
        self.health_label.setToolTip("Training health after the last epoch; the canvas colours "
                                     "its nodes by a statistic chosen in View → Colour Nodes "
                                     "By, and flags layers in trouble")
        self.health_label.hide()
        self.colour_row = QHBoxLayout()  # "Colour nodes by", once the window gives its choice
        self.colour_row.setContentsMargins(0, 0, 0, 0)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for label in (self.progress_label, self.message, self.health_label, self.folder_label):
            # Long paths wrap instead of widening the window.
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.plot_host = _LazyPlotHost(self.plot_data)
        self.settings_editor = SettingsEditor(self.session)
        self.data_editor = DataEditor(self.session)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.plot_host, "Curves")
        self.tabs.setTabToolTip(0, "Per epoch: dots, validation dashed; thin line: moving "
                                   "average of every batch; x axis in epochs")
        self.tabs.addTab(_scrolled(self.settings_editor), "Settings")
        self.tabs.addTab(_scrolled(self.data_editor), "Data")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.message)
        layout.addWidget(self.health_label)
        layout.addLayout(self.colour_row)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.folder_label)

    def add_colouring_choice(self, choice: QWidget) -> None:
        """Show the canvas's "Colour nodes by" choice (the View menu's, as a widget) here,
        where each epoch's training health arrives."""
        self.colour_row.addWidget(QLabel("Colour nodes by:"))
        self.colour_row.addWidget(choice)
        self.colour_row.addStretch(1)

    @while_alive
    def _show_runs_folder(self) -> None:
        path = self.session.path
        folder = self.runs_folder()
        where = "beside the project" if path is not None else \
            "in the app's data folder (save the project to keep runs beside it)"
        self.folder_label.setText(f"Runs are kept {where}: {folder}")

    def runs_folder(self) -> Path:
        return runs_folder_for(self.session.path, self.session.display_name())

    def on_dock_visibility(self, visible: bool) -> None:
        """The dock's tab was brought forward (or hidden): create or refresh the plot."""
        if visible:
            QTimer.singleShot(0, self.plot_host, self.plot_host._create_if_visible)

    @property
    def plot(self) -> LivePlot | None:
        return self.plot_host.plot

    # ------------------------------------------------------------ running
    def is_running(self) -> bool:
        return self.worker is not None

    def start_training(self) -> bool:
        """Train a snapshot of the document in the background; False if a run is going."""
        if self.worker is not None:
            return False
        from layerforge.core.training.runs import RunError, new_run_dir

        try:
            run_dir = new_run_dir(self.runs_folder())
        except RunError as exc:  # its message names the folder and why
            self._show_message(str(exc))
            return False
        self.worker = TrainingWorker(self.session.doc, self.session.doc.training, run_dir)
        self.worker.train_begun.connect(self._on_begun)
        self.worker.batch_ended.connect(self._on_batch)
        self.worker.epoch_ended.connect(self._on_epoch)
        self.worker.health_reported.connect(self._on_health)
        self.worker.finished.connect(self._on_finished)
        self.result, self.info = None, {}
        self.plot_data.reset([], None)  # the last run's curves go at once
        self.plot_host.schedule()
        self._show_message("")
        self.health_label.clear()
        self.health_label.hide()
        self.colour_row = QHBoxLayout()  # "Colour nodes by", once the window gives its choice
        self.colour_row.setContentsMargins(0, 0, 0, 0)
        self.progress.setRange(0, 0)  # busy until the number of steps is known
        self.progress_label.setText("Preparing: building the model and loading the data…")
        self._set_running(True)
        self.tabs.setCurrentWidget(self.plot_host)
        self.worker.start()
        self.run_started.emit(run_dir)
        return True

    def stop_training(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.stop_button.setEnabled(False)
            self.progress_label.setText(self.progress_label.text() + STOPPING)

    def keep_spare_process(self, delay_ms: int = SPARE_DELAY_MS) -> None:
        """Keep a training process started ahead, TensorFlow imported, so that Train does
        not wait for that import (the app opts in once Keras has loaded in the UI; tests
        that make windows do not). The first one starts after ``delay_ms``."""
        self._keeps_spare = True
        QTimer.singleShot(delay_ms, self, self._start_spare)

    def _start_spare(self) -> None:
        if self._keeps_spare:  # not quit meanwhile
            # Off the UI thread: spawning pickles and forks, a few tens of ms.
            threading.Thread(target=spares.keep_one, name="layerforge-spare-start",
                             daemon=True).start()

    def shutdown(self, timeout: float = QUIT_WAIT_S) -> bool:
        """Stop a run and wait for it (the app is quitting); True when nothing runs.
        The spare training process, if this panel keeps one, is killed at once."""
        if self._keeps_spare:
            self._keeps_spare = False
            spares.close()
        worker = self.worker
        if worker is None:
            return True
        worker.stop()
        return worker.wait(timeout)

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.stop_button.setEnabled(running)

    # ------------------------------------------------------------ reports
    def _from_current_worker(self) -> bool:
        """Reports reach the UI queued: one from a worker that is no longer the current
        one (a run that has ended) must not touch the current run's curves."""
        return self.worker is not None and self.sender() is self.worker

    def _on_begun(self, info: dict[str, Any]) -> None:
        if not self._from_current_worker():
            return
        self.info = info
        steps, epochs = info.get("steps"), int(info.get("epochs") or 1)
        self.progress.setRange(0, steps * epochs if steps else 0)
        self.progress.setValue(0)
        self.device_label.setText(f"Device: {info.get('device', '?')}")
        self.plot_data.reset(list(info.get("outputs") or []), steps, epochs)
        self._epoch_start = (time.perf_counter(), 0)
        self._epochs_done = 0
        samples = info.get("samples")
        self.progress_label.setText(
            f"Training {epochs} epoch(s)" + (f" on {samples} samples" if samples else "")
            + f", batch size {info.get('batch_size')}" + ("" if info.get("validation") else
                                                          ", no validation data") + "…")
        warnings = list(info.get("warnings") or [])
        if warnings:
            self._show_message("", warnings)

    def _on_batch(self, step: int, logs: dict[str, float], smoothed: dict[str, float]) -> None:
        if not self._from_current_worker():
            return
        if self.progress.maximum():
            self.progress.setValue(min(step, self.progress.maximum()))
        self.plot_data.add_batch(step, smoothed)
        self.plot_host.schedule()
        now = time.perf_counter()
        if now - self._label_shown >= LABEL_INTERVAL_S:  # text layout is the dear part
            self._label_shown = now
            self.progress_label.setText(self._progress_text(step, logs))

    def _progress_text(self, step: int, logs: dict[str, float]) -> str:
        steps = self.info.get("steps")
        epochs = int(self.info.get("epochs") or 1)
        began, first = self._epoch_start
        done = step - first
        elapsed = max(time.perf_counter() - began, 1e-9)
        rate = done / elapsed  # batches per second in this epoch
        epoch = (step - 1) // steps + 1 if steps else self._epochs_done + 1
        parts = [f"Epoch {min(epoch, epochs)}/{epochs}",
                 f"step {step - (epoch - 1) * steps}/{steps}" if steps else f"step {step}"]
        if steps and rate > 0:
            parts.append(f"ETA {_duration((steps * epochs - step) / rate)}")
        parts.append(f"{rate * int(self.info.get('batch_size') or 1):,.0f} samples/s")
        shown = [f"{k} {v:.4g}" for k, v in logs.items() if k in ("loss", "accuracy")]
        stopping = STOPPING if self.worker is not None and self.worker.stop_event.is_set() else ""
        return " · ".join(parts + shown) + stopping

    def _on_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        if not self._from_current_worker():
            return
        self.plot_data.add_epoch(epoch, logs)
        self.plot_host.schedule()
        self._epoch_start = (time.perf_counter(), self.plot_data.last_step)
        self._epochs_done = epoch + 1

    def _on_health(self, report: dict[str, Any]) -> None:
        if not self._from_current_worker():
            return
        self.health_label.setText(health_summary(report))
        self.health_label.show()
        self.health_reported.emit(report)

    def _on_finished(self, result: Any) -> None:
        if not self._from_current_worker():
            return
        worker, self.worker = self.worker, None
        worker.wait(5.0)
        self.result = result
        self._set_running(False)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        if result.status == "completed":
            self.progress.setValue(self.progress.maximum())
        epochs = len(result.history.get("epoch", []))
        planned = int(self.info.get("epochs") or epochs)
        early = f" of {planned} (a callback ended training early)" if epochs < planned else ""
        texts = {"completed": f"Completed {epochs} epoch(s){early}.",
                 "stopped": f"Stopped after {epochs} epoch(s); the best weights are kept.",
                 "failed": "Training failed."}
        last = {k: v[-1] for k, v in result.history.items() if k != "epoch" and v}
        shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if "loss" in k
                          or "acc" in k)
        # A completed run's message says what phase 2 of a fine-tuning plan unfroze.
        note = result.message if result.status == "completed" else ""
        self.progress_label.setText(f"{texts.get(result.status, result.status)}"
                                    f"{'  ' + note[:1].upper() + note[1:] + '.' if note else ''}"
                                    f"{'  Last epoch: ' + shown + '.' if shown else ''}"
                                    f"  Run folder: {result.run_dir}")
        if result.device:
            self.device_label.setText(f"Device: {result.device}")
        error = result.message if result.status == "failed" else ""
        if error and getattr(result, "unrecorded", ""):  # the Runs dock cannot show this run
            error += f" ({result.unrecorded})"
        self._show_message(error, list(result.warnings), getattr(result, "traceback", ""))
        if self.plot is not None:
            self.plot.refresh(force=True)
        self.run_finished.emit(result)

    def _show_message(self, error: str, warnings: list[str] | None = None,
                      details: str = "") -> None:
        lines = []
        if error:
            lines.append(f"<b style='color:{ERROR_COLOR}'>Error:</b> "
                         f"<span style='color:{ERROR_COLOR}'>{html.escape(error)}</span>")
        lines += [f"<b style='color:{WARNING_COLOR}'>Warning:</b> {html.escape(w)}"
                  for w in warnings or []]
        self.message.setText("<br>".join(lines))
        self.message.setToolTip(details[-4000:] if details else "")
        self.message.setVisible(bool(lines))

    def message_text(self) -> str:
        """The shown error and warnings as plain text."""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.message.text())
        return doc.toPlainText() if self.message.isVisible() else ""


def health_summary(report: dict[str, Any]) -> str:
    """One line on an epoch's health report: its flags, or that there are none."""
    epoch = int(report.get("epoch", 0)) + 1
    flags = [f for f in report.get("flags") or [] if isinstance(f, dict)]
    head = f"Health after epoch {epoch}:"
    if not flags:
        return f"{head} no layer flagged."
    shown = "; ".join(html.escape(f"{f.get('layer')}: {f.get('message') or f.get('kind')}")
                      for f in flags[:3])
    more = f" (+{len(flags) - 3} more)" if len(flags) > 3 else ""
    return (f"<b style='color:{WARNING_COLOR}'>{head}</b> {len(flags)} flagged: {shown}{more}"
            " — marked on the canvas.")


def is_on_screen(widget: QWidget) -> bool:
    """Visible and not behind another tab (a tabbed-away dock may stay 'visible' off-view)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def _scrolled(widget: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds}s"
