"""Live training curves: loss and every metric, train and validation, per output head.

:class:`PlotData` records the points (plain Python, always on); :class:`LivePlot`
draws them with matplotlib, which is imported only when a plot is first shown.
One subplot per metric family (``loss``, ``accuracy``, ``mae``...); in it, one
colour per output head (the total loss has its own), the moving average of every
batch as a thin line, per-epoch training values as a solid line with dots and
validation values dashed. The x axis counts epochs (batches at fractions).
Redraws are throttled by the time since the last one: a gap of ``DRAW_DUTY`` times
the last update's cost, between ``MIN_GAP_S`` and ``MAX_GAP_S``, so a point is on screen
within ``MAX_GAP_S`` plus one draw (under 0.5 s) however dear a full draw was; a new
run (a reset) is drawn at once, so the last run's curves never linger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

MIN_GAP_S = 0.1
MAX_GAP_S = 0.3  # plus one draw (a blit takes ms, a full draw ~0.1 s): points show in < 0.5 s
DRAW_DUTY = 0.02  # share of the UI thread's time the plot aims to spend drawing
HIDDEN_KEYS = ("learning_rate",)  # constant unless a callback changes it; then it is shown
VALIDATION_COLOUR = "#ff7f0e"
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf")


@dataclass
class Series:
    key: str  # the Keras log key, e.g. "val_age_mae"
    family: str  # "mae"
    head: str  # "age"; "" for the model's total loss and single-output models
    validation: bool
    per_batch: bool
    xs: list[float] = field(default_factory=list)
    ys: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.key} (batch avg)" if self.per_batch else self.key


def split_key(key: str, outputs: list[str]) -> tuple[bool, str, str]:
    """(validation, head, family) of a log key; heads are the model's output names."""
    validation = key.startswith("val_")
    rest = key[4:] if validation else key
    for name in sorted(outputs, key=len, reverse=True):
        if len(outputs) > 1 and rest.startswith(name + "_"):
            return validation, name, rest[len(name) + 1:]
    return validation, "", rest


class PlotData:
    """Every point of the current run, grouped by metric family."""

    def __init__(self) -> None:
        self.reset([], None, 1)

    def reset(self, outputs: list[str], steps_per_epoch: int | None, epochs: int = 1) -> None:
        """Forget the points: a new run begins (``generation`` tells views to start over)."""
        self.outputs = list(outputs)
        self.epochs = epochs  # the x axis spans the planned epochs
        self.steps_per_epoch = steps_per_epoch
        self.series: dict[tuple[str, bool], Series] = {}
        self.last_step = 0
        self.generation = getattr(self, "generation", -1) + 1
        self.version = getattr(self, "version", -1) + 1  # never repeats: views redraw

    def _series(self, key: str, per_batch: bool) -> Series:
        found = self.series.get((key, per_batch))
        if found is None:
            validation, head, family = split_key(key, self.outputs)
            found = Series(key, family, head, validation, per_batch)
            self.series[(key, per_batch)] = found
        return found

    def add_batch(self, step: int, smoothed: dict[str, float]) -> None:
        """A point per log key at ``step`` (batches since the start, from 1)."""
        self.last_step = step
        for key, value in smoothed.items():
            if key not in HIDDEN_KEYS:
                series = self._series(key, True)
                series.xs.append(float(step))  # in batches; scaled to epochs when drawn
                series.ys.append(float(value))
        self.version += 1

    def add_epoch(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs = max(self.epochs, epoch + 1)
        if self.steps_per_epoch is None and epoch == 0 and self.last_step:
            self.steps_per_epoch = self.last_step  # a dataset of unknown length
        for key, value in logs.items():
            series = self._series(key, False)
            series.xs.append(epoch + 1.0)
            series.ys.append(float(value))
        self.version += 1

    def x_scale(self) -> float:
        """Batches per epoch: batch points are drawn at fractions of an epoch."""
        return float(self.steps_per_epoch or max(self.last_step, 1))

    def shown(self) -> list[Series]:
        return [s for s in self.series.values() if s.xs and not self._hidden(s)]

    def _hidden(self, series: Series) -> bool:
        return series.key in HIDDEN_KEYS and len(set(series.ys)) < 2

    def families(self) -> list[str]:
        """Metric families in the order subplots show them: loss first."""
        found = list(dict.fromkeys(s.family for s in self.shown()))
        return sorted(found, key=lambda f: (f != "loss", found.index(f)))

    def head_colour(self, head: str) -> str:
        if not head:
            return "#222222" if len(self.outputs) > 1 else COLOURS[0]
        index = self.outputs.index(head) if head in self.outputs else 0
        return COLOURS[index % len(COLOURS)]


class LivePlot(QWidget):
    """The matplotlib figure of a :class:`PlotData`, redrawn at a throttled pace.

    Axes limits move only when a point falls outside them (x spans the planned epochs; y
    starts at 0 for values that are never negative and leaves head-room above). Between
    such changes an update blits: the axes' background is restored and only the curves are
    drawn again (a few ms instead of a full draw of ~100 ms, which also holds the GIL the
    training thread needs)."""

    def __init__(self, data: PlotData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data = data
        self.canvas, self.figure = _make_canvas(self)
        self.axes: dict[str, Any] = {}
        self.lines: dict[tuple[str, bool], Any] = {}
        self._backgrounds: dict[str, Any] = {}
        self._drawn_version = -1
        self._families: list[str] = []
        self._generation = -1
        self.draw_seconds = 0.0  # the last full draw
        self.update_seconds = 0.0  # the last update, blit or full
        self._updated_at = 0.0  # perf_counter when the last update ended
        self.full_draws = self.blits = 0
        self.empty_label = QLabel("Curves appear here while a model trains: per epoch (dots; "
                                  "validation dashed) and the moving average of every batch "
                                  "(thin line).")
        self.empty_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.canvas, 1)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.refresh)
        self.canvas.mpl_connect("resize_event", self._on_resize)
        self.canvas.mpl_connect("draw_event", self._on_full_draw)
        self.schedule()

    def _on_resize(self, _event: Any) -> None:
        if self.axes:
            self.figure.tight_layout(pad=0.6)

    def _on_full_draw(self, _event: Any) -> None:
        """After any full draw (ours, a resize, an expose): keep the empty axes as the
        blit background, then put the curves (animated artists) on top."""
        self._backgrounds = {f: self.canvas.copy_from_bbox(ax.bbox)
                             for f, ax in self.axes.items()}
        for line in self.lines.values():
            line.axes.draw_artist(line)

    def schedule(self) -> None:
        """Ask for a redraw; requests within the gap after the last one become one. A new
        run's first request is drawn now: the old curves must not stay on screen."""
        if self._generation != self.data.generation:
            self.timer.stop()
            self.refresh()
            return
        if self.timer.isActive():
            return
        gap = min(MAX_GAP_S, max(MIN_GAP_S, self.update_seconds / DRAW_DUTY))
        since = time.perf_counter() - self._updated_at
        self.timer.start(max(0, int(1000 * (gap - since))))

    def on_screen(self) -> bool:
        """Shown and not behind another tab. The canvas is asked, not this widget: once the
        opaque canvas covers all of it (the hint label hidden), this widget's own visible
        region is empty, and the chart stopped following the run."""
        return self.isVisible() and not self.canvas.visibleRegion().isEmpty()

    def refresh(self, force: bool = False) -> None:
        """Bring the figure up to date with the data now."""
        if not force and (self._drawn_version == self.data.version or not self.on_screen()):
            return
        start = time.perf_counter()
        self._drawn_version = self.data.version
        families = self.data.families()
        self.empty_label.setVisible(not families)
        full = force
        if families != self._families or self._generation != self.data.generation:
            self._generation = self.data.generation
            self._rebuild_axes(families)
            full = True
        full = self._update_lines() or full
        if full or len(self._backgrounds) != len(self.axes):
            self.full_draws += 1
            self.canvas.draw()  # draw_event puts the curves on top
        else:
            self._blit()
        self._updated_at = time.perf_counter()
        self.update_seconds = self._updated_at - start

    def _blit(self) -> None:
        self.blits += 1
        for family, ax in self.axes.items():
            self.canvas.restore_region(self._backgrounds[family])
            for line in ax.get_lines():
                ax.draw_artist(line)
            self.canvas.blit(ax.bbox)

    def line_labels(self) -> list[str]:
        """Labels of the lines that have points (batch averages are left out of the legend,
        which their thin line in the same colour explains)."""
        return [self.data.series[ident].label for ident, line in self.lines.items()
                if len(line.get_xdata())]

    def line(self, key: str, per_batch: bool = False) -> Any:
        return self.lines.get((key, per_batch))

    def _rebuild_axes(self, families: list[str]) -> None:
        self.figure.clear()
        self.axes, self.lines, self._backgrounds = {}, {}, {}
        self._families = families
        columns = min(len(families), 3) or 1
        rows = (len(families) + columns - 1) // columns
        for i, family in enumerate(families):
            ax = self.figure.add_subplot(rows, columns, i + 1)
            ax.set_title(family, fontsize=9, fontweight="bold")
            ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(True, alpha=0.3)
            self.axes[family] = ax

    def _update_lines(self) -> bool:
        """Give every line its points; True when the axes need a full draw (new lines,
        hence a new legend, or limits that had to move)."""
        scale = self.data.x_scale()
        added: set[str] = set()
        bounds: dict[str, list[float]] = {}
        for series in self.data.shown():
            ident = (series.key, series.per_batch)
            line = self.lines.get(ident)
            if line is None:
                line = self.lines[ident] = self._new_line(series)
                added.add(series.family)
            xs = [x / scale for x in series.xs] if series.per_batch else series.xs
            line.set_data(xs, series.ys)
            low, high = min(series.ys), max(series.ys)
            seen = bounds.setdefault(series.family, [low, high])
            seen[0], seen[1] = min(seen[0], low), max(seen[1], high)
        for family in added:  # legends and margins change only when lines appear
            if not any(not line.get_label().startswith("_")
                       for line in self.axes[family].get_lines()):
                continue  # only batch averages so far: nothing for the legend yet
            self.axes[family].legend(fontsize=7, loc="best", framealpha=0.7,
                                     ncols=2 if len(self.data.outputs) > 1 else 1)
        moved = [self._fit_limits(self.axes[f], low, high) for f, (low, high) in bounds.items()]
        if added:
            self.figure.tight_layout(pad=0.6)
        return bool(added) or any(moved)

    def _fit_limits(self, ax: Any, low: float, high: float) -> bool:
        """Widen the axes to hold [low, high] (and the planned epochs); True if they moved."""
        changed = False
        epochs = max(self.data.epochs, 1)
        if ax.get_xlim() != (0.0, float(epochs)):
            ax.set_xlim(0.0, float(epochs))
            changed = True
        bottom, top = ax.get_ylim()
        fresh = ax.get_autoscaley_on()  # limits never set by us yet
        if fresh or low < bottom or high > top:
            span = max(high - low, abs(high) * 0.05, 1e-6)
            new_bottom = 0.0 if low >= 0 else low - 0.15 * span
            ax.set_ylim(new_bottom, high + 0.25 * span)
            changed = True
        return changed

    def _new_line(self, s: Series) -> Any:
        ax = self.axes[s.family]
        colour = self.data.head_colour(s.head)
        if s.validation and len(self.data.outputs) < 2:
            colour = VALIDATION_COLOUR  # one head: train blue, validation orange, as Keras' docs
        if s.per_batch:
            (line,) = ax.plot([], [], color=colour, linewidth=0.8, alpha=0.45, animated=True,
                              label="_" + s.label)  # "_": not in the legend
        else:
            (line,) = ax.plot([], [], color=colour, linewidth=1.6, marker="o", markersize=3,
                              animated=True, linestyle="--" if s.validation else "-",
                              label=s.label)
        return line

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh()


def _make_canvas(parent: QWidget) -> tuple[Any, Any]:
    """matplotlib's Qt canvas, imported here so that the app starts without matplotlib."""
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure

    class TimedCanvas(FigureCanvasQTAgg):  # type: ignore[misc]
        """Records how long a draw takes, so the plot can slow down when drawing is dear."""

        def draw(self) -> None:
            start = time.perf_counter()
            super().draw()
            owner = self.parent()
            if isinstance(owner, LivePlot):
                owner.draw_seconds = time.perf_counter() - start

    figure = Figure(figsize=(6, 3), dpi=90)
    canvas = TimedCanvas(figure)
    canvas.setParent(parent)
    canvas.setMinimumHeight(160)
    return canvas, figure
