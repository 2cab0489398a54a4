"""The Pareto front of a multi-objective study: a plot and a table of the front's trials.

Every complete trial is a point (the metric against the first cost); the front (Optuna's
``best_trials``) is highlighted and joined. Clicking a front point, or a row of the table,
shows that trial's model on the canvas as a comparison (File → Compare With…'s colours:
the open model against the trial's run snapshot); "Apply" writes the trial's searched
values into the model as one undoable edit and clears the comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6 import QtWidgets
from PySide6.QtCore import Qt, Signal

from layerforge.core.editing.space_edits import apply_values
from layerforge.core.schema.errors import LayerForgeError

from ..session import EditorSession
from .plots import BEST_COLOUR, _FigureHost

POINT_COLOUR = "#9a9a9a"
CLICK_RADIUS_PX = 10.0


def format_value(value: float) -> str:
    return f"{int(value)}" if float(value).is_integer() else f"{value:.4g}"


def front_points(summary: Any) -> tuple[list[tuple[int, float, float]],
                                         list[tuple[int, float, float]]]:
    """((number, x, y) of every complete trial, the same of the front sorted by x): x the
    second objective, y the first (the metric)."""
    points = [(t.number, float(t.values[1]), float(t.values[0])) for t in summary.trials
              if t.state == "complete" and t.values and len(t.values) > 1]
    numbers = set(summary.front_numbers)
    front = sorted((p for p in points if p[0] in numbers), key=lambda p: (p[1], p[2]))
    return points, front


class ParetoPlot(_FigureHost):
    """All complete trials, the front highlighted and joined; ``trial_clicked(number)``
    when a front point is clicked."""

    trial_clicked = Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__("The Pareto front appears when a multi-objective study has a "
                         "complete trial.", parent)
        self.points: list[tuple[int, float, float]] = []
        self.front: list[tuple[int, float, float]] = []
        self.axes: Any = None
        self.labels: tuple[str, str] = ("", "")
        self._connected = False

    def show_front(self, summary: Any) -> None:
        self.points, self.front = front_points(summary)
        if not self.points:
            self.show_message("No trial is complete yet: the Pareto front appears when one "
                              "is.")
            return
        axes = self.axes = self._new_axes()
        if not self._connected:
            self.canvas.mpl_connect("button_press_event", self._on_press)
            self._connected = True
        axes.scatter([p[1] for p in self.points], [p[2] for p in self.points],
                     color=POINT_COLOUR, label="trials", zorder=2)
        axes.step([p[1] for p in self.front], [p[2] for p in self.front], where="post",
                  color=BEST_COLOUR, alpha=0.7, zorder=3)
        axes.scatter([p[1] for p in self.front], [p[2] for p in self.front], s=60,
                     color=BEST_COLOUR, edgecolors="black", label="Pareto front", zorder=4)
        for number, x, y in self.front:
            axes.annotate(str(number), (x, y), textcoords="offset points", xytext=(4, 4),
                          fontsize="small")
        x_name, y_name = summary.objectives[1], summary.objectives[0]
        self.labels = (x_name, y_name)
        axes.set_xlabel(f"{x_name} ({summary.directions[1]})")
        axes.set_ylabel(f"{y_name} ({summary.directions[0]})")
        axes.set_title("Pareto front: click a point to compare its model")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
        self.draw()
        self.canvas.draw()  # the click needs the axes' transform of this drawing

    def front_position(self, number: int) -> tuple[float, float]:
        """Where a front trial's point is, in matplotlib's display pixels."""
        _, x, y = next(p for p in self.front if p[0] == number)
        shown = self.axes.transData.transform((x, y))
        return float(shown[0]), float(shown[1])

    def _on_press(self, event: Any) -> None:
        if event.inaxes is not self.axes or not self.front:
            return
        distances = [((event.x - px) ** 2 + (event.y - py) ** 2, number)
                     for number, (px, py) in ((n, self.front_position(n))
                                              for n, _, _ in self.front)]
        distance, number = min(distances)
        if distance <= CLICK_RADIUS_PX ** 2:
            self.trial_clicked.emit(number)


class ParetoView(QtWidgets.QWidget):
    """The plot, the front's table, Apply and Clear comparison. ``find_comparison`` returns
    the window's canvas comparison (gui/compare.py's Comparison), or None without one."""

    applied = Signal(int)
    message = Signal(str)

    def __init__(self, session: EditorSession,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.summary: Any = None
        self.chosen: Any = None  # the TrialResult compared on the canvas
        self.find_comparison: Callable[[], Any] = lambda: None
        self.plot = ParetoPlot()
        self.plot.trial_clicked.connect(self.choose)
        self.table = QtWidgets.QTableWidget(0, 0)
        self.table.setObjectName("paretoTable")
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QTableWidget.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellClicked.connect(lambda row, _col: self.choose(self._row_number(row)))
        self.label = QtWidgets.QLabel("Click a point or a row to compare its model with "
                                      "yours on the canvas.", wordWrap=True)
        self.apply_button = QtWidgets.QPushButton("Apply")
        self.apply_button.setToolTip("Write the compared trial's values into the model (one "
                                     "undoable edit)")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self.apply_chosen)
        self.clear_button = QtWidgets.QPushButton("Clear comparison")
        self.clear_button.setEnabled(False)
        self.clear_button.clicked.connect(self.clear_comparison)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        side = QtWidgets.QWidget()
        column = QtWidgets.QVBoxLayout(side)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.table, 1)
        column.addWidget(self.label)
        column.addLayout(buttons)
        splitter = QtWidgets.QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.plot)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

    def show_summary(self, summary: Any) -> None:
        self.summary = summary
        self.plot.show_front(summary)
        headers = ["#", *summary.objectives, "parameters"]
        front = summary.front
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(front))
        for row, trial in enumerate(front):
            cells = [str(trial.number), *(format_value(v) for v in trial.values or []),
                     ", ".join(f"{k}={format_value(v) if isinstance(v, float) else v}"
                               for k, v in trial.params.items())]
            for col, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, trial.number)
                item.setToolTip(text)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()

    def front_numbers(self) -> list[int]:
        """The trial numbers of the table's rows, as shown."""
        return [int(self.table.item(r, 0).text()) for r in range(self.table.rowCount())]

    def _row_number(self, row: int) -> int:
        return int(self.table.item(row, 0).data(Qt.ItemDataRole.UserRole))

    def _trial(self, number: int) -> Any:
        trials = self.summary.front if self.summary is not None else []
        return next((t for t in trials if t.number == number), None)

    def choose(self, number: int) -> bool:
        """Show front trial ``number``'s model on the canvas as a comparison."""
        trial = self._trial(number)
        comparison = self.find_comparison()
        if trial is None or comparison is None:
            return False
        if not trial.run_dir:
            self.label.setText(f"Trial {number} has no run folder to compare with.")
            return False
        if not comparison.compare_with(trial.run_dir):
            return False
        comparison.source = f"trial {number}"  # the status bar names the trial
        comparison.refresh()
        self.chosen = trial
        for row in range(self.table.rowCount()):
            if self._row_number(row) == number:
                self.table.selectRow(row)
        values = ", ".join(f"{n} {format_value(v)}" for n, v in
                           zip(self.summary.objectives, trial.values or [], strict=False))
        self.label.setText(f"Comparing trial {number} ({values}) with your model: green "
                           "only in yours, amber changed (hover for the values), ghosts "
                           f"only in trial {number}. Apply takes its values.")
        self.apply_button.setEnabled(True)
        self.clear_button.setEnabled(True)
        return True

    def clear_comparison(self) -> None:
        comparison = self.find_comparison()
        if comparison is not None:
            comparison.clear()
        self.chosen = None
        self.apply_button.setEnabled(False)
        self.clear_button.setEnabled(False)
        self.label.setText("Click a point or a row to compare its model with yours on the "
                           "canvas.")

    def apply_chosen(self) -> bool:
        """The compared trial's searched values written into the model (one undo step)."""
        trial = self.chosen
        if trial is None:
            return False
        refusals: list[str] = []
        self.session.edit_refused.connect(refusals.append)
        try:
            ok = self.session.push(apply_values(self.session.doc, trial.params,
                                                f"Apply trial {trial.number}"))
        except LayerForgeError as exc:
            ok, refusals = False, [*refusals, str(exc)]
        finally:
            self.session.edit_refused.disconnect(refusals.append)
        if not ok:
            self.label.setText(f"Could not apply trial {trial.number}: "
                               f"{refusals[-1] if refusals else 'the edit was refused'}")
            return False
        number = trial.number
        self.clear_comparison()
        self.label.setText(f"Applied trial {number} (Undo reverts it).")
        self.applied.emit(number)
        self.message.emit(f"Applied trial {number}")
        return True
