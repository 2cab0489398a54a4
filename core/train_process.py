"""Train in a child process, reporting to a reporter in this one.

TensorFlow keeps the traced functions of every model a process has trained (about
11 MiB per separable-convnet run here, ``clear_session`` or not), so an app that
trains run after run grows without bound. A child process per run returns all of
it to the system when the run ends. The child gets the project as records (no
shared objects), reports through a queue, and stops when ``stop_event`` is set.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from pathlib import Path
from typing import Any

from .document import Document
from .project import from_records, to_records
from .train_settings import TrainingSettings, settings_from_records, settings_to_records

REPORTS = ("on_train_begin", "on_batch_end", "on_epoch_end", "on_train_end")
POLL_S = 0.05


def train_in_child(doc: Document, settings: TrainingSettings, *, run_dir: str | Path,
                   reporter: Any = None, stop_event: threading.Event | None = None) -> Any:
    """``core.training.train`` in a fresh process; the same result, reports and stop."""
    context = multiprocessing.get_context("spawn")  # never fork a process running Qt
    reports: Any = context.Queue()
    stop = context.Event()
    child = context.Process(
        target=child_main, name="layerforge-training", daemon=True,
        args=(to_records(doc), dict(doc.weights), settings_to_records(settings),
              str(run_dir), reports, stop))
    child.start()
    try:
        return _relay(child, reports, stop, reporter, stop_event, Path(run_dir))
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()


def _relay(child: Any, reports: Any, stop: Any, reporter: Any,
           stop_event: threading.Event | None, run_dir: Path) -> Any:
    while True:
        if stop_event is not None and stop_event.is_set():
            stop.set()
        try:
            name, args = reports.get(timeout=POLL_S)
        except queue.Empty:
            if not child.is_alive():
                return _lost(run_dir, child.exitcode, reporter)
            continue
        if name == "result":
            return args[0]
        method = getattr(reporter, name, None)
        if method is not None:
            method(*args)


def _lost(run_dir: Path, exitcode: int | None, reporter: Any) -> Any:
    """The child died without a result (killed, out of memory): a failed run."""
    from .runs import finish_run
    from .training import RunResult

    message = (f"the training process ended without a result (exit code {exitcode}); "
               "it may have run out of memory")
    result = RunResult("failed", run_dir, message=message)
    if run_dir.exists():
        finish_run(run_dir, "failed", message)
    method = getattr(reporter, "on_train_end", None)
    if method is not None:
        method(result)
    return result


class _QueueReporter:
    def __init__(self, reports: Any) -> None:
        self.reports = reports

    def __getattr__(self, name: str) -> Any:
        if name not in REPORTS:
            raise AttributeError(name)
        return lambda *args: self.reports.put((name, args))


def child_main(records: dict[str, Any], weights: dict[str, Any], settings: dict[str, Any],
               run_dir: str, reports: Any, stop: Any) -> None:
    """The child process: rebuild the project, train it, send the result back."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from .training import train

    doc = from_records(records)
    doc.weights = weights
    result = train(doc, settings_from_records(settings, "<training process>"),
                   run_dir=run_dir, reporter=_QueueReporter(reports), stop_event=stop)
    reports.put(("result", (result,)))
