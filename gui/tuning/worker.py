"""Run a study (``core.tuning.run_study``) and other slow work in background threads, reported
as Qt signals.

The study runs on a snapshot of the document, so the user can keep editing while it runs.
Each trial trains in a child process (``core.tuning.trial``), so the app's memory stays
flat however many trials a study runs; the child's epoch reports are relayed to the
study's thread. Its reporter is called on that thread; every call becomes a queued Qt
signal.
Epoch reports are throttled (at most one per ``EPOCH_INTERVAL_S``, the last one of a trial
always arrives): a trial of tiny epochs must not flood the UI thread.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from layerforge.core.document.document import Document
from layerforge.core.schema.errors import LayerForgeError

from ..background import BackgroundJob
from ..run_folders import unsaved_runs_folder

EPOCH_INTERVAL_S = 0.1


def error_text(exc: BaseException) -> str:
    """Our errors say what was expected and received; anything else shows its type too."""
    if isinstance(exc, LayerForgeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class _Reporter:
    """The reporter ``run_study`` calls on the study's thread."""

    def __init__(self, worker: StudyWorker, interval: float) -> None:
        self.worker, self.interval = worker, interval
        self.last_emit = 0.0
        self.pending: tuple[int, int, dict[str, float]] | None = None

    def on_study_begin(self, info: dict[str, Any]) -> None:
        self.worker.study_begun.emit(dict(info))

    def on_trial_begin(self, number: int, params: dict[str, Any]) -> None:
        self.worker.trial_begun.emit(number, dict(params))

    def on_epoch_end(self, number: int, epoch: int, logs: dict[str, float]) -> None:
        now = time.perf_counter()
        if now - self.last_emit >= self.interval:
            self.last_emit, self.pending = now, None
            self.worker.epoch_ended.emit(number, epoch, dict(logs))
        else:
            self.pending = (number, epoch, dict(logs))

    def on_trial_end(self, trial: Any) -> None:
        if self.pending is not None:
            self.worker.epoch_ended.emit(*self.pending)
            self.pending = None
        self.worker.trial_ended.emit(trial)

    def on_study_end(self, summary: Any) -> None:
        pass  # the worker emits ``finished`` with the summary and the importances


class StudyWorker(BackgroundJob):
    """One ``run_study`` call in a Python thread.

    ``study_begun(info)``, ``trial_begun(number, params)``, ``epoch_ended(number, epoch,
    logs)``, ``trial_ended(TrialResult)``, then ``finished(summary, importances, error)``:
    the ``StudySummary`` (None when the study could not run), the parameter importances
    (empty with fewer than 2 complete trials) and an error message ("" when none).
    """

    study_begun = Signal(object)
    trial_begun = Signal(int, object)
    epoch_ended = Signal(int, int, object)
    trial_ended = Signal(object)
    finished = Signal(object, object, str)
    thread_name = "layerforge-study"

    def __init__(self, doc: Document, options: dict[str, Any],
                 interval: float = EPOCH_INTERVAL_S, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.doc = doc.copy()
        self.options = dict(options)
        self.interval = interval

    def _run(self) -> None:
        from layerforge.core.tuning.study import run_study

        summary, importances, error = None, {}, ""
        try:
            summary = run_study(self.doc, reporter=_Reporter(self, self.interval),
                                stop_event=self.stop_event, **self.options)
            importances = safe_importances(summary.storage, summary.study_name)
        except BaseException as exc:  # shown in the panel; the app goes on
            error = error_text(exc)
            if not isinstance(exc, LayerForgeError):
                traceback.print_exc()
        self.finished.emit(summary, importances, error)


def safe_importances(storage: str, study_name: str) -> dict[str, float]:
    """Importances need two complete trials with differing values; none otherwise."""
    from layerforge.core.tuning.storage import param_importances

    try:
        return param_importances(storage, study_name)
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


class Task(QObject):
    """Any slow call (load a study, build or export an ensemble) in a thread:
    ``done(result, error)`` arrives on the UI thread; error is "" on success."""

    done = Signal(object, str)

    def __init__(self, fn: Callable[[], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.fn = fn
        self._thread = threading.Thread(target=self._run, name="layerforge-task", daemon=True)

    def start(self) -> Task:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            result, error = self.fn(), ""
        except BaseException as exc:
            result, error = None, error_text(exc)
            if not isinstance(exc, LayerForgeError):
                traceback.print_exc()
        self.done.emit(result, error)

    def is_running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


def load_study(storage: str, study_name: str) -> tuple[Any, dict[str, float]]:
    """(StudySummary, importances) of a stored study (to show or resume it)."""
    from layerforge.core.tuning.storage import load_summary

    summary = load_summary(storage, study_name)
    return summary, safe_importances(storage, study_name)


def project_path_for(session_path: Path | None, title: str) -> Path:
    """Where the study's storage and trial runs go: beside a saved project, else in the
    app's folder of unsaved runs (as the training dock does)."""
    if session_path is not None:
        return Path(session_path)
    folder = unsaved_runs_folder(title)
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder.with_suffix(".json")
