"""Build an ensemble of trained runs or study trials (book 7.3.3) and export it.

The dialog lists the runs with a best checkpoint (the project's runs and its studies'
trials); the user ticks two or more, picks mean or weighted, and Build evaluates every
member on the validation data in a background thread (``core.ensemble.build_ensemble``):
each member's loss and accuracy are shown beside the ensemble's, with the weights.
Export writes one ``.keras`` model (and, if asked, generated code) through
``core.ensemble.export_ensemble``; the file name comes from :func:`choose_export_path`
(replaced in tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from layerforge.core.training.runs import checkpoint_in
from layerforge.core.tuning.ensemble import METHODS

from ..theme import ERROR_COLOR
from .worker import Task

RESULT_COLUMNS = ("member", "run", "val loss", "accuracy", "weight")


def choose_export_path(parent: QWidget | None, suggested: str) -> str | None:
    """Ask where to save the ensemble (.keras); None when cancelled."""
    path, _ = QFileDialog.getSaveFileName(parent, "Export ensemble", suggested,
                                          "Keras model (*.keras)")
    if not path:
        return None
    return path if path.endswith(".keras") else path + ".keras"


def candidate_runs(runs_folder: Path, summary: Any = None) -> list[tuple[str, Path]]:
    """(label, run folder) of every run with a best checkpoint: the study's complete trials
    first (best first), then the runs folder's runs and its studies' trials."""
    found: list[tuple[str, Path]] = []
    seen: set[Path] = set()

    def add(label: str, folder: Path) -> None:
        folder = folder.resolve()
        if folder not in seen and checkpoint_in(folder) is not None:
            seen.add(folder)
            found.append((label, folder))

    if summary is not None:
        sign = 1 if summary.direction == "minimize" else -1
        done = sorted((t for t in summary.trials if t.state == "complete" and t.run_dir),
                      key=lambda t: sign * (t.value or 0.0))
        for trial in done:
            add(f"{summary.study_name} trial {trial.number}: {summary.metric} "
                f"{trial.value:.4g}", Path(trial.run_dir))
    if runs_folder.is_dir():
        for folder in sorted(runs_folder.iterdir()):
            if folder.name.startswith("study-") and folder.is_dir():
                for trial in sorted(folder.iterdir()):
                    add(f"{folder.name[6:]} {trial.name}", trial)
            else:
                add(f"run {folder.name}", folder)
    return found


class EnsembleDialog(QDialog):
    """Pick runs, build the ensemble in the background, show scores and weights, export."""

    def __init__(self, runs_folder: Path, summary: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ensembleDialog")
        self.setWindowTitle("Build ensemble")
        self.runs_folder = Path(runs_folder)
        self.summary = summary
        self.ensemble: Any = None
        self.task: Task | None = None
        self.exported: Path | None = None
        self._build()
        self.refresh_runs()
        self.resize(720, 520)

    def _build(self) -> None:
        self.runs = QListWidget()
        self.runs.setToolTip("Tick two or more runs with the same inputs and outputs")
        self.runs.itemChanged.connect(lambda _item: self._update_buttons())
        self.method = QComboBox()
        self.method.addItems(METHODS)
        self.method.setCurrentText("weighted")
        self.method.setToolTip("mean: equal weights; weighted: weights fitted on the "
                               "validation loss (non-negative, summing to 1)")
        self.build_button = QPushButton("Build")
        self.build_button.clicked.connect(self.build)
        self.results = QTableWidget(0, len(RESULT_COLUMNS))
        self.results.setHorizontalHeaderLabels(RESULT_COLUMNS)
        self.results.horizontalHeader().setStretchLastSection(True)
        self.results.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.status = QLabel(wordWrap=True)
        self.error = QLabel(wordWrap=True)
        self.error.setStyleSheet(f"color: {ERROR_COLOR}; font-weight: bold;")
        self.error.hide()
        self.with_code = QCheckBox("also write generated code (.py)")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Save the ensemble as one Keras model (.keras)")
        self.export_button.clicked.connect(self.export)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(QLabel("method"))
        top.addWidget(self.method)
        top.addStretch(1)
        top.addWidget(self.build_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.with_code)
        bottom.addStretch(1)
        bottom.addWidget(self.export_button)
        bottom.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Runs and trials to combine:"))
        layout.addWidget(self.runs, 1)
        layout.addLayout(top)
        layout.addWidget(self.results, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addLayout(bottom)
        self._update_buttons()

    # ------------------------------------------------------------ runs
    def refresh_runs(self) -> None:
        self.runs.blockSignals(True)
        self.runs.clear()
        for label, folder in candidate_runs(self.runs_folder, self.summary):
            item = QListWidgetItem(label)
            item.setData(Qt.ItemDataRole.UserRole, str(folder))
            item.setToolTip(str(folder))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.runs.addItem(item)
        self.runs.blockSignals(False)
        if not self.runs.count():
            self.status.setText(f"No trained run with a best checkpoint in {self.runs_folder}: "
                                "train the model or run a study first.")
        self._update_buttons()

    def checked_runs(self) -> list[Path]:
        return [Path(self.runs.item(i).data(Qt.ItemDataRole.UserRole))
                for i in range(self.runs.count())
                if self.runs.item(i).checkState() == Qt.CheckState.Checked]

    def busy(self) -> bool:
        return self.task is not None and self.task.is_running()

    def _update_buttons(self) -> None:
        self.build_button.setEnabled(len(self.checked_runs()) >= 2 and not self.busy())
        self.export_button.setEnabled(self.ensemble is not None and not self.busy())

    def show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))

    # ------------------------------------------------------------ build
    def build(self) -> None:
        folders = self.checked_runs()
        if len(folders) < 2:
            self.show_error(f"expected two or more runs ticked; received {len(folders)}")
            return
        method = self.method.currentText()
        self.ensemble = None
        self.show_error("")
        self.status.setText(f"Evaluating {len(folders)} members on the validation data…")

        def work() -> Any:
            from layerforge.core.tuning.ensemble import build_ensemble

            return build_ensemble(folders, method)

        self._run(work, self._on_built)

    def _run(self, work: Any, done: Any) -> None:
        self.task = Task(work, self)
        self.task.done.connect(done)
        self.task.start()
        self._update_buttons()

    def _on_built(self, ensemble: Any, error: str) -> None:
        self.task = None
        if error:
            self.status.setText("")
            self.show_error(error)
        else:
            self.ensemble = ensemble
            self.show_results(ensemble)
        self._update_buttons()

    def show_results(self, ensemble: Any) -> None:
        rows = [(s.name, m.run_dir.name, s, w) for m, s, w in
                zip(ensemble.members, ensemble.member_scores, ensemble.weights, strict=True)]
        rows.append(("ensemble", ensemble.method, ensemble.score, sum(ensemble.weights)))
        self.results.setRowCount(len(rows))
        for r, (name, run, score, weight) in enumerate(rows):
            accuracy = next(iter(score.metrics.values()), None)
            cells = (name, run, f"{score.loss:.4f}",
                     "" if accuracy is None else f"{accuracy:.3f}", f"{weight:.3f}")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if name == "ensemble":
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.results.setItem(r, c, item)
        self.results.resizeColumnsToContents()
        best = ensemble.best_member
        self.status.setText(f"{ensemble.method} ensemble: validation loss "
                            f"{ensemble.score.loss:.4f} (best member {best.name}: "
                            f"{best.loss:.4f}); weights sum to {sum(ensemble.weights):.3f}")

    def weights_shown(self) -> list[float]:
        """The members' weights as the table shows them."""
        return [float(self.results.item(r, 4).text())
                for r in range(self.results.rowCount() - 1)]

    # ------------------------------------------------------------ export
    def export(self) -> None:
        if self.ensemble is None:
            self.show_error("expected a built ensemble to export; click Build first")
            return
        suggested = str(self.runs_folder.parent / "ensemble.keras")
        path = choose_export_path(self, suggested)
        if not path:
            return
        target = Path(path)
        code = target.with_suffix(".py") if self.with_code.isChecked() else None
        ensemble = self.ensemble
        self.status.setText(f"Exporting to {target}…")

        def work() -> Path:
            from layerforge.core.tuning.ensemble import export_ensemble

            export_ensemble(ensemble, target, code=code)
            return target

        self._run(work, self._on_exported)

    def _on_exported(self, target: Any, error: str) -> None:
        self.task = None
        if error:
            self.show_error(error)
            self.status.setText("")
        else:
            self.exported = Path(target)
            self.show_error("")
            self.status.setText(f"Exported the ensemble to {target}")
        self._update_buttons()

    def reject(self) -> None:
        if self.busy():
            self.status.setText("Wait for the ensemble to finish before closing.")
            return
        super().reject()
