"""The study's plots: optimization history (each trial's value and the best so far) and the
parameters' importances. matplotlib is imported when a plot is first drawn, so the app
starts without it; until then (and when there is nothing to draw) a label says why."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedLayout, QWidget

STATE_COLOURS = {"complete": "#1f77b4", "pruned": "#ff7f0e", "fail": "#d62728"}
BEST_COLOUR = "#2ca02c"


def history_points(trials: list[Any], direction: str
                   ) -> tuple[list[tuple[int, float, str]], list[tuple[int, float]]]:
    """((number, value, state) of every trial with a value, (number, best so far) of the
    complete ones), in trial order."""
    points = [(t.number, float(t.value), t.state) for t in sorted(trials, key=lambda t: t.number)
              if t.value is not None]
    better = min if direction == "minimize" else max
    best: list[tuple[int, float]] = []
    for number, value, state in points:
        if state == "complete":
            best.append((number, value if not best else better(best[-1][1], value)))
    return points, best


class _FigureHost(QWidget):
    """A figure drawn on demand, or a message in its place."""

    def __init__(self, empty_text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(empty_text, alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.label.setStyleSheet("color: palette(placeholder-text);")
        self.stack = QStackedLayout(self)
        self.stack.addWidget(self.label)
        self.canvas: Any = None
        self.figure: Any = None

    def _ensure_canvas(self) -> Any:
        if self.canvas is None:
            from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
            from matplotlib.figure import Figure

            self.figure = Figure(figsize=(5, 3), dpi=90, layout="constrained")
            self.canvas = FigureCanvasQTAgg(self.figure)
            self.stack.addWidget(self.canvas)
        return self.figure

    def _new_axes(self) -> Any:
        """The one axes of the cleared figure."""
        figure = self._ensure_canvas()
        figure.clear()
        return figure.add_subplot(1, 1, 1)

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.stack.setCurrentWidget(self.label)

    def draw(self) -> None:
        self.stack.setCurrentWidget(self.canvas)
        self.canvas.draw_idle()


class HistoryPlot(_FigureHost):
    """Objective value per trial (coloured by state) and the best value so far."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("The optimization history appears when a trial ends.", parent)
        self.points: list[tuple[int, float, str]] = []
        self.best: list[tuple[int, float]] = []

    def show_trials(self, trials: list[Any], direction: str, metric: str) -> None:
        self.points, self.best = history_points(trials, direction)
        if not self.points:
            self.show_message("No trial has a value yet: the optimization history appears "
                              "when a trial ends.")
            return
        axes = self._new_axes()
        for state, colour in STATE_COLOURS.items():
            xs = [n for n, _, s in self.points if s == state]
            ys = [v for _, v, s in self.points if s == state]
            if xs:
                axes.scatter(xs, ys, color=colour, label=state, zorder=3)
        if self.best:
            # the best so far holds until the last trial shown
            steps = [*self.best, (self.points[-1][0], self.best[-1][1])]
            axes.step([n for n, _ in steps], [v for _, v in steps], where="post",
                      color=BEST_COLOUR, label="best so far")
        axes.set_xlabel("trial")
        axes.set_ylabel(metric)
        axes.set_title("Optimization history")
        axes.xaxis.get_major_locator().set_params(integer=True)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
        self.draw()


class ImportancePlot(_FigureHost):
    """Each searched parameter's importance (fANOVA), most important on top."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Parameter importances need at least 2 complete trials.", parent)
        self.importances: dict[str, float] = {}

    def show_importances(self, importances: dict[str, float], complete: int) -> None:
        self.importances = dict(importances)
        if complete < 2:
            self.show_message(f"Parameter importances need at least 2 complete trials; the "
                              f"study has {complete}.")
            return
        if not importances:
            self.show_message("Parameter importances could not be computed: the complete "
                              "trials' values or parameters do not differ.")
            return
        axes = self._new_axes()
        ordered = sorted(importances.items(), key=lambda kv: kv[1])
        axes.barh([k for k, _ in ordered], [v for _, v in ordered], color="#1f77b4")
        axes.set_xlabel("importance (fANOVA)")
        axes.set_title("Parameter importances")
        axes.set_xlim(0, 1)
        self.draw()
