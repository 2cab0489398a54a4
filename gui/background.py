"""A job on a daemon thread that reports through Qt signals (training runs, studies)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject


class BackgroundJob(QObject):
    """Subclasses define ``_run`` (on the thread) and the signals it emits.

    The thread is a daemon: a job that ignores Stop (e.g. still loading a big dataset)
    cannot keep a closed app alive.
    """

    thread_name = "layerforge-job"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("expected a fresh worker; this one has already started")
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        raise RuntimeError(f"{type(self).__name__} defines no _run")

    def stop(self) -> None:
        """Ask the job to end after the current batch (a run keeps its best checkpoint; a
        study queues the interrupted trial again)."""
        self.stop_event.set()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the thread ends; False when it is still running after ``timeout``."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()
