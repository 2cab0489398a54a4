"""The parent-side handle of a Keras worker process (the check, the warm worker)."""

from __future__ import annotations

from typing import Any

import pytest

from layerforge.core.analysis.worker_process import WorkerProcess


def never_runs(requests: Any, replies: Any) -> None:
    raise AssertionError("the process was not meant to start")


def test_stopping_a_worker_whose_start_failed_raises_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A start refused by multiprocessing (e.g. a script without a __main__ guard) leaves a
    process object that never ran: closing the window then stops the worker without a
    second error on top of the first."""
    worker = WorkerProcess(never_runs, "refused-worker")

    def refuse(self: Any) -> None:
        raise RuntimeError("An attempt has been made to start a new process before the "
                           "current process has finished its bootstrapping phase.")

    monkeypatch.setattr(worker._context.Process, "start", refuse)
    with pytest.raises(RuntimeError, match="bootstrapping"):
        worker.start()
    worker.stop()
    assert not worker.started and not worker.ready
