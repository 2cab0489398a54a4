"""The tuning panel: the search space, a study's settings, Run / Stop, the live trials table,
the optimization-history and importance plots, "Apply best trial" and ensembles.

A study runs in a background thread (:class:`StudyWorker`) on a snapshot of the document;
its reports arrive as Qt signals and fill the trials table as trials start and end. Its
storage is an SQLite file beside the project unless another SQLAlchemy URL is entered;
running again with the same study name resumes (or joins) that study. Each trial's run is
kept in ``<project>.runs/study-<name>/trial-NNNN``, like any run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import shiboken6
from PySide6 import QtWidgets
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor

from layerforge.core.document.search_space import SETTINGS, parameter_name
from layerforge.core.editing.space_edits import apply_values, unmark_dimension
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.tuning.objectives import COSTS
from layerforge.core.tuning.sampling import PRUNERS, SAMPLERS
from layerforge.core.tuning.storage import default_storage, study_folder

from ..dimension_editor import SearchButton
from ..session import EditorSession
from ..theme import ERROR_COLOR
from .pareto import ParetoView
from .plots import HistoryPlot, ImportancePlot
from .worker import StudyWorker, Task, load_study, project_path_for

TRIAL_COLUMNS = ("#", "state", "value", "duration", "parameters")
METRICS = ("val_loss", "val_accuracy")
SETTING_LABELS = {"learning_rate": "learning rate", "batch_size": "batch size",
                  "optimizer": "optimizer"}
COST_LABELS = {"params": "parameters", "flops": "FLOPs", "latency": "latency"}
BEST_FILL = QColor("#c8f0c8")
QUIT_WAIT_S = 5.0


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


class TuningPanel(QtWidgets.QWidget):
    """Search space, study settings, trials, plots. ``running_changed(bool)`` follows the
    study; ``can_apply_changed(bool)`` follows Apply best trial; ``study_finished(summary)``
    when a study ends; ``message(str)`` for the status bar."""

    running_changed = Signal(bool)
    can_apply_changed = Signal(bool)  # a best trial is shown and no study runs
    study_finished = Signal(object)
    message = Signal(str)

    def __init__(self, session: EditorSession, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.worker: StudyWorker | None = None
        self.task: Task | None = None
        self.summary: Any = None  # the StudySummary shown
        self.importances: dict[str, float] = {}
        self.rows: dict[int, int] = {}  # trial number -> table row
        self.ensemble_dialog: Any = None
        self.dashboard: Any = None  # the optuna-dashboard started from here
        self._build()
        session.undo_stack.indexChanged.connect(self._on_index_changed)
        session.document_replaced.connect(self._on_document_replaced)
        self.refresh_space()

    # ------------------------------------------------------------ building
    def _build(self) -> None:
        left = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self._build_study_group())
        column.addWidget(self._build_space_group())
        column.addStretch(1)
        self.status = QtWidgets.QLabel(wordWrap=True, openExternalLinks=True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.error = QtWidgets.QLabel(wordWrap=True)
        self.error.setObjectName("tuningError")
        self.error.setStyleSheet(f"color: {ERROR_COLOR}; font-weight: bold;")
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.hide()
        scroll = QtWidgets.QScrollArea(widgetResizable=True,
                                       frameShape=QtWidgets.QScrollArea.Shape.NoFrame)
        scroll.setWidget(left)
        self.tabs = QtWidgets.QTabWidget()
        self.trials = QtWidgets.QTableWidget(0, len(TRIAL_COLUMNS))
        self.trials.setObjectName("trialsTable")
        self.trials.setHorizontalHeaderLabels(TRIAL_COLUMNS)
        self.trials.verticalHeader().hide()
        self.trials.setEditTriggers(QtWidgets.QTableWidget.EditTrigger.NoEditTriggers)
        self.trials.setSelectionBehavior(QtWidgets.QTableWidget.SelectionBehavior.SelectRows)
        header = self.trials.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.history_plot = HistoryPlot()
        self.importance_plot = ImportancePlot()
        self.pareto = ParetoView(self.session)
        self.pareto.message.connect(self.message)
        self.tabs.addTab(self.trials, "Trials")
        self.tabs.addTab(self.history_plot, "History")
        self.tabs.addTab(self.importance_plot, "Importance")
        self.tabs.addTab(self.pareto, "Pareto front")
        splitter = QtWidgets.QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 640])
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(self._build_buttons())
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addWidget(splitter, 1)

    def _build_space_group(self) -> QtWidgets.QGroupBox:
        group = QtWidgets.QGroupBox("Search space")
        layout = QtWidgets.QVBoxLayout(group)
        self.space_table = QtWidgets.QTableWidget(0, 2)
        self.space_table.setObjectName("searchSpaceTable")
        self.space_table.setHorizontalHeaderLabels(("parameter", "searched over"))
        self.space_table.verticalHeader().hide()
        self.space_table.setEditTriggers(QtWidgets.QTableWidget.EditTrigger.NoEditTriggers)
        self.space_table.setSelectionBehavior(QtWidgets.QTableWidget.SelectionBehavior.SelectRows)
        self.space_table.horizontalHeader().setStretchLastSection(True)
        self.space_table.setMaximumHeight(130)
        self.space_table.setToolTip("Mark layer parameters with ⚙ in the inspector")
        layout.addWidget(self.space_table)
        self.unmark_button = QtWidgets.QPushButton("Don't search selected")
        self.unmark_button.clicked.connect(self.unmark_selected)
        layout.addWidget(self.unmark_button)
        layout.addWidget(QtWidgets.QLabel("Training dimensions:"))
        settings = QtWidgets.QHBoxLayout()
        self.setting_buttons: dict[str, SearchButton] = {}
        for name in SETTINGS:
            button = SearchButton(self.session, name)
            button.setText(f"⚙ {SETTING_LABELS[name]}")
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.set_target(None)
            self.setting_buttons[name] = button
            settings.addWidget(button)
        settings.addStretch(1)
        layout.addLayout(settings)
        return group

    def _build_study_group(self) -> QtWidgets.QGroupBox:
        group = QtWidgets.QGroupBox("Study")
        form = QtWidgets.QFormLayout(group)
        self.study_name = QtWidgets.QLineEdit()
        self.study_name.setObjectName("studyName")
        self.study_name.setToolTip("Runs with the same name resume (or join) that study")
        self.n_trials = QtWidgets.QSpinBox(minimum=0, maximum=100_000, value=10)
        self.n_trials.setSpecialValueText("no limit")
        self.n_trials.setToolTip("The study's trial budget, shared by every process")
        self.timeout = QtWidgets.QSpinBox(minimum=0, maximum=7 * 24 * 3600, value=0, suffix=" s")
        self.timeout.setSpecialValueText("none")
        self.timeout.setToolTip("Stop starting trials after this many seconds")
        self.sampler = QtWidgets.QComboBox()
        self.sampler.addItems(SAMPLERS)
        self.pruner = QtWidgets.QComboBox()
        self.pruner.addItems(PRUNERS)
        self.metric = QtWidgets.QComboBox(editable=True)
        self.metric.addItems(METRICS)
        self.metric.setToolTip("The validation metric trials are compared on (accuracy-like "
                               "metrics are maximised)")
        costs = QtWidgets.QHBoxLayout()
        self.cost_boxes: dict[str, QtWidgets.QCheckBox] = {}
        for name in COSTS:
            box = QtWidgets.QCheckBox(COST_LABELS.get(name, name))
            box.setToolTip(f"Minimise the model's {COST_LABELS.get(name, name)} too: a "
                           "multi-objective study, whose Pareto front is plotted (no pruning)")
            self.cost_boxes[name] = box
            costs.addWidget(box)
        costs.addStretch(1)
        self.storage = QtWidgets.QLineEdit()
        self.storage.setObjectName("studyStorage")
        self.storage.setToolTip("Empty: an SQLite file beside the project. Any SQLAlchemy URL "
                                "(e.g. postgresql://user@host/db) lets many processes share "
                                "the study")
        for label, widget in (("name", self.study_name), ("trials", self.n_trials),
                              ("timeout", self.timeout), ("sampler", self.sampler),
                              ("pruner", self.pruner), ("metric", self.metric)):
            form.addRow(label, widget)
        form.addRow("also minimise", costs)
        form.addRow("storage", self.storage)
        return group

    def _build_buttons(self) -> QtWidgets.QHBoxLayout:
        row = QtWidgets.QHBoxLayout()
        self.run_button = QtWidgets.QPushButton("Run study")
        self.run_button.clicked.connect(self.run_study)
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop_study)
        self.load_button = QtWidgets.QPushButton("Show study")
        self.load_button.setToolTip("Read the named study from its storage")
        self.load_button.clicked.connect(self.load_study)
        self.apply_button = QtWidgets.QPushButton("Apply best trial")
        self.apply_button.setToolTip("Write the best trial's values into the model (one "
                                     "undoable edit)")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply_best)
        self.ensemble_button = QtWidgets.QPushButton("Ensemble…")
        self.ensemble_button.setToolTip("Combine trained runs or trials into one model")
        self.ensemble_button.clicked.connect(self.open_ensemble_dialog)
        self.dashboard_button = QtWidgets.QPushButton("Dashboard")
        self.dashboard_button.setToolTip("Start optuna-dashboard on the study's storage (it "
                                         "keeps running after the app closes)")
        self.dashboard_button.clicked.connect(self.open_dashboard)
        for button in (self.run_button, self.stop_button, self.load_button, self.apply_button,
                       self.ensemble_button, self.dashboard_button):
            row.addWidget(button)
        row.addStretch(1)
        return row

    # ------------------------------------------------------------ the document
    def _on_index_changed(self, _index: int) -> None:
        # the window's teardown clears the undo stack while it deletes our children
        if all(shiboken6.isValid(w) for w in (self, self.space_table,
                                               *self.setting_buttons.values())):
            self.refresh_space()

    def _on_document_replaced(self) -> None:
        self.refresh_space()
        self._update_placeholders()

    def refresh_space(self) -> None:
        doc = self.session.doc
        dims = list(doc.search_space)
        self.space_table.setRowCount(len(dims))
        for row, dim in enumerate(dims):
            try:
                name = parameter_name(doc, dim)
            except LayerForgeError:
                name = f"{dim.param} (layer removed)"
            for col, text in enumerate((name, dim.describe())):
                item = QtWidgets.QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, dim.slot)
                self.space_table.setItem(row, col, item)
        self.space_table.resizeColumnToContents(0)
        for button in self.setting_buttons.values():
            button.refresh()
        self._update_placeholders()

    def _update_placeholders(self) -> None:
        project = self.project_path()
        self.study_name.setPlaceholderText(project.stem)
        self.storage.setPlaceholderText(default_storage(project))

    def unmark_selected(self) -> None:
        rows = sorted({i.row() for i in self.space_table.selectedItems()})
        for row in rows:
            graph_key, layer_id, param = self.space_table.item(row, 0).data(
                Qt.ItemDataRole.UserRole)
            try:
                self.session.push(unmark_dimension(self.session.doc, layer_id, param, graph_key))
            except LayerForgeError as exc:
                self.show_error(str(exc))

    def project_path(self) -> Path:
        return project_path_for(self.session.path, self.session.display_name())

    def runs_folder(self) -> Path:
        from layerforge.core.training.runs import runs_folder

        return runs_folder(self.project_path())

    # ------------------------------------------------------------ messages
    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))
        if text:
            self.message.emit(text)

    def error_text(self) -> str:
        return self.error.text() if self.error.isVisible() else ""

    # ------------------------------------------------------------ the study
    def options(self) -> dict[str, Any]:
        project = self.project_path()
        options = {"n_trials": self.n_trials.value() or None,
                   "timeout": float(self.timeout.value()) or None,
                   "storage": self.storage.text().strip() or default_storage(project),
                   "study_name": self.study_name.text().strip() or project.stem,
                   "sampler": self.sampler.currentText(), "pruner": self.pruner.currentText(),
                   "metric": self.metric.currentText().strip() or "val_loss",
                   "project": project}
        costs = [name for name, box in self.cost_boxes.items() if box.isChecked()]
        if costs:
            options["objectives"] = [options["metric"], *costs]
        return options

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.is_running()

    def run_study(self) -> bool:
        if self.is_running():
            return False
        self.show_error("")
        options = self.options()
        self.worker = StudyWorker(self.session.doc, options, parent=self)
        self.worker.study_begun.connect(self._on_study_begun)
        self.worker.trial_begun.connect(self._on_trial_begun)
        self.worker.epoch_ended.connect(self._on_epoch)
        self.worker.trial_ended.connect(self._on_trial_ended)
        self.worker.finished.connect(self._on_finished)
        self.status.setText(f"Starting study '{options['study_name']}'…")
        self.worker.start()
        self._set_running(True)
        return True

    def stop_study(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.status.setText("Stopping after the current batch (the trial is queued "
                                "again)…")

    def shutdown(self, timeout: float = QUIT_WAIT_S) -> bool:
        """Stop a running study (quitting the app); True once its thread has ended."""
        if self.worker is None:
            return True
        self.worker.stop()
        return self.worker.wait(timeout)

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.load_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self._update_apply()
        self.running_changed.emit(running)

    def _update_apply(self) -> None:
        best = self.summary.best if self.summary is not None else None
        self.apply_button.setEnabled(best is not None and not self.is_running())
        self.can_apply_changed.emit(self.apply_button.isEnabled())

    def _on_study_begun(self, info: dict[str, Any]) -> None:
        self.status.setText(f"Study '{info['study_name']}' in {info['storage']}; trial runs "
                            f"in {info['folder']}" + (f". Note: {info['note']}"
                                                      if info.get("note") else ""))
        if self.summary is None or self.summary.study_name != info["study_name"]:
            self._clear_trials()
            self.summary = None

    def _clear_trials(self) -> None:
        self.trials.setRowCount(0)
        self.rows.clear()

    def _on_trial_begun(self, number: int, params: dict[str, Any]) -> None:
        self._set_row(number, "running", None, None, params)
        self.status.setText(f"Trial {number}: {format_params(params)}")

    def _on_epoch(self, number: int, epoch: int, logs: dict[str, float]) -> None:
        metric = self.metric.currentText().strip() or "val_loss"
        value = logs.get(metric)
        shown = f"{metric} {value:.4g}" if isinstance(value, float) else ""
        self.status.setText(f"Trial {number}, epoch {epoch + 1}: {shown}")
        row = self.rows.get(number)
        if row is not None:
            self.trials.item(row, 1).setText(f"running (epoch {epoch + 1})")

    def _on_trial_ended(self, trial: Any) -> None:
        self._show_trial(trial)
        self.message.emit(f"Trial {trial.number} {trial.state}")

    def _on_finished(self, summary: Any, importances: dict[str, float], error: str) -> None:
        self._set_running(False)
        if error:
            self.show_error(error)
            self.status.setText("The study did not run." if summary is None else "")
        if summary is not None:
            self.show_summary(summary, importances)
            what = "stopped" if summary.stopped else "finished"
            self.status.setText(self._summary_text(summary, what))
            self.study_finished.emit(summary)

    def _summary_text(self, summary: Any, what: str) -> str:
        best, defaults = summary.best, summary.defaults
        text = f"Study '{summary.study_name}' {what}: {len(summary.finished)} finished trials."
        if best is not None:
            text += f" Best: trial {best.number}, {summary.metric} {best.value:.4g}"
            if defaults is not None:
                text += f" (defaults: {defaults.value:.4g})"
        if summary.multi:
            text += f". Pareto front: {len(summary.front)} trials (its tab)"
        return text

    # ------------------------------------------------------------ showing trials
    def show_summary(self, summary: Any, importances: dict[str, float]) -> None:
        self.summary, self.importances = summary, dict(importances)
        self._clear_trials()
        for trial in sorted(summary.trials, key=lambda t: t.number):
            self._show_trial(trial)
        best = summary.best
        if best is not None and best.number in self.rows:
            for col in range(len(TRIAL_COLUMNS)):
                self.trials.item(self.rows[best.number], col).setBackground(BEST_FILL)
        complete = sum(t.state == "complete" for t in summary.trials)
        self.history_plot.show_trials(summary.trials, summary.direction, summary.metric)
        self.importance_plot.show_importances(importances, complete)
        if summary.multi:
            self.pareto.show_summary(summary)
            self.tabs.setCurrentWidget(self.pareto)
        self._update_apply()

    def _show_trial(self, trial: Any) -> None:
        state = trial.state + (" (defaults)" if trial.defaults else "")
        if trial.message:
            state += f": {trial.message}"
        self._set_row(trial.number, state, trial.value, trial.duration, trial.params)
        if trial.values and len(trial.values) > 1:  # a multi-objective trial: every value
            item = self.trials.item(self.rows[trial.number], 2)
            item.setText(", ".join(f"{v:.4g}" for v in trial.values))
            item.setToolTip(item.text())

    def _set_row(self, number: int, state: str, value: float | None, duration: float | None,
                 params: dict[str, Any]) -> None:
        row = self.rows.get(number)
        if row is None:
            row = self.trials.rowCount()
            self.trials.insertRow(row)
            self.rows[number] = row
        shown = "" if value is None or not math.isfinite(value) else f"{value:.4g}"
        cells = (str(number), state, shown, format_duration(duration), format_params(params))
        for col, text in enumerate(cells):
            item = QtWidgets.QTableWidgetItem(text)
            if col == 1 and state.startswith("fail"):
                item.setForeground(QColor(ERROR_COLOR))
            item.setToolTip(text)
            self.trials.setItem(row, col, item)

    def trial_values(self) -> list[str]:
        """The value column as shown (one entry per row)."""
        return [self.trials.item(r, 2).text() for r in range(self.trials.rowCount())]

    # ------------------------------------------------------------ load, apply
    def load_study(self) -> None:
        options = self.options()
        self.show_error("")
        self.status.setText(f"Reading study '{options['study_name']}'…")
        self.load_button.setEnabled(False)
        self.task = Task(lambda: load_study(options["storage"], options["study_name"]), self)
        self.task.done.connect(self._on_loaded)
        self.task.start()

    def _on_loaded(self, result: Any, error: str) -> None:
        self.task = None
        self.load_button.setEnabled(not self.is_running())
        if error:
            self.show_error(error)
            self.status.setText("")
            return
        summary, importances = result
        self.show_summary(summary, importances)
        self.status.setText(self._summary_text(summary, "read") + " Run study to resume it.")

    def apply_best(self) -> bool:
        """Write the best trial's values into the model as one undoable edit."""
        best = self.summary.best if self.summary is not None else None
        if best is None:
            self.show_error("expected a study with a complete trial to apply; received none")
            return False
        refusals: list[str] = []
        self.session.edit_refused.connect(refusals.append)
        try:
            command = apply_values(self.session.doc, best.params,
                                   f"Apply best trial {best.number}")
            ok = self.session.push(command)
        except LayerForgeError as exc:
            ok, refusals = False, [*refusals, str(exc)]
        finally:
            self.session.edit_refused.disconnect(refusals.append)
        if not ok:
            self.show_error(f"Could not apply trial {best.number}: "
                            f"{refusals[-1] if refusals else 'the edit was refused'}")
            return False
        self.show_error("")
        self.status.setText(f"Applied trial {best.number}: {format_params(best.params)} "
                            "(Undo reverts it)")
        return True

    def open_dashboard(self) -> None:
        """optuna-dashboard on the study's storage, in a process of its own (it takes a
        few seconds to answer); its URL is shown once it does."""
        from layerforge.core.tuning.dashboard import start_dashboard

        options = self.options()
        folder = study_folder(options["project"], options["study_name"])
        self.show_error("")
        self.dashboard_button.setEnabled(False)
        self.status.setText("Starting optuna-dashboard…")
        self.task = Task(lambda: start_dashboard(options["storage"], folder), self)
        self.task.done.connect(self._on_dashboard)
        self.task.start()

    def _on_dashboard(self, dashboard: Any, error: str) -> None:
        self.task = None
        self.dashboard_button.setEnabled(True)
        if error:
            self.show_error(error)
            self.status.setText("")
            return
        self.dashboard = dashboard
        self.status.setText(f'optuna-dashboard: <a href="{dashboard.url}">{dashboard.url}</a> '
                            f"(pid {dashboard.pid}; it keeps running after the app closes: "
                            f"kill {dashboard.pid} stops it)")
        self.message.emit(f"optuna-dashboard at {dashboard.url}")

    def open_ensemble_dialog(self) -> Any:
        from .ensemble_dialog import EnsembleDialog

        self.ensemble_dialog = EnsembleDialog(self.runs_folder(), self.summary, self.window())
        self.ensemble_dialog.open()
        return self.ensemble_dialog
