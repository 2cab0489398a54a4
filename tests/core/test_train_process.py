"""Training in a child process: the same reports, result and stop as in-process training;
a spare process started ahead takes the next run, and quitting kills it at once."""

from __future__ import annotations

import multiprocessing.connection
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from code_projects import lambda_doc, touch_payload

from layerforge.core.document.trust import trust_document
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import DataSource, TrainingSettings
from layerforge.core.schema.trust import code_guard
from layerforge.core.training import process as train_process
from layerforge.core.training.process import _relay, train_in_child
from layerforge.core.training.runs import load_run


class Recorder:
    def __init__(self, stop_after: int | None = None, stop: threading.Event | None = None):
        self.begun: dict[str, Any] = {}
        self.batches: list[int] = []
        self.epochs: list[int] = []
        self.result: Any = None
        self.stop_after, self.stop = stop_after, stop

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.begun = info

    def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
        self.batches.append(step)
        if self.stop is not None and step == self.stop_after:
            self.stop.set()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append(epoch)

    def on_train_end(self, result: Any) -> None:
        self.result = result


def settings(epochs: int = 2, samples: int = 40) -> TrainingSettings:
    return TrainingSettings(batch_size=8, epochs=epochs, seed=1, data={
        "features": DataSource("synthetic", {"samples": samples})})


def test_a_child_run_reports_every_batch_and_returns_the_result(tmp_path: Path) -> None:
    recorder = Recorder()
    result = train_in_child(load_template("sequential-mlp"), settings(), run_dir=tmp_path / "r",
                            reporter=recorder)
    assert result.status == "completed", result.message
    assert recorder.begun["epochs"] == 2 and recorder.batches == list(range(1, 9))
    assert recorder.epochs == [0, 1] and recorder.result.status == "completed"
    assert load_run(tmp_path / "r").history["loss"] == result.history["loss"]
    assert (tmp_path / "r" / "best.keras").exists()


def test_stop_reaches_the_child_and_keeps_a_checkpoint(tmp_path: Path) -> None:
    stop = threading.Event()
    recorder = Recorder(stop_after=3, stop=stop)
    result = train_in_child(load_template("sequential-mlp"), settings(epochs=50, samples=400),
                            run_dir=tmp_path / "r", reporter=recorder, stop_event=stop)
    assert result.status == "stopped"
    assert len(recorder.epochs) < 50
    assert (tmp_path / "r" / "best.keras").exists()


def test_a_child_that_dies_gives_a_failed_run_with_the_exit_code(tmp_path: Path) -> None:
    dead = SimpleNamespace(is_alive=lambda: False, exitcode=-9)
    stop = SimpleNamespace(set=lambda: None)
    recorder = Recorder()
    result = _relay(dead, queue.Queue(), stop, recorder, None, tmp_path)
    assert result.status == "failed" and "exit code -9" in result.message
    assert recorder.result is result


def test_a_relayed_load_failure_is_a_failed_run_with_its_reason(tmp_path: Path) -> None:
    reports: queue.Queue[Any] = queue.Queue()
    reports.put(("unable", ("the training process could not load TensorFlow: boom",)))
    alive = SimpleNamespace(is_alive=lambda: True, exitcode=None)
    recorder = Recorder()
    result = _relay(alive, reports, SimpleNamespace(set=lambda: None), recorder, None, tmp_path)
    assert result.status == "failed" and "could not load TensorFlow: boom" in result.message
    assert recorder.result is result


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """A fresh spare pool in place of the module's, counting the processes started."""
    fresh = train_process.SpareProcesses()
    monkeypatch.setattr(train_process, "spares", fresh)
    started: list[Any] = []
    real_start = train_process.start_process

    def counting_start(warm_up: bool = True) -> Any:
        started.append(real_start(warm_up))
        return started[-1]

    monkeypatch.setattr(train_process, "start_process", counting_start)
    yield SimpleNamespace(spares=fresh, started=started)
    fresh.close()


def test_a_run_takes_the_spare_and_the_next_spare_is_started(pool: SimpleNamespace,
                                                             tmp_path: Path) -> None:
    pool.spares.keep_one()
    assert len(pool.started) == 1
    spare = pool.started[0]
    deadline = time.monotonic() + 120
    while not pool.spares.is_ready():  # TensorFlow imported, Keras warmed up
        assert spare.is_alive() and time.monotonic() < deadline, "the spare never got ready"
        time.sleep(0.2)
    recorder = Recorder()
    result = train_in_child(load_template("sequential-mlp"), settings(epochs=1),
                            run_dir=tmp_path / "r", reporter=recorder)
    assert result.status == "completed", result.message
    assert recorder.batches == list(range(1, 5)), "the spare reports like a fresh child"
    assert len(pool.started) == 2, "no child of its own for the run; the next spare started"
    # Its sentinel, not join(): the app's reaper thread joins it, and two waitpid calls race.
    ended = multiprocessing.connection.wait([spare.process.sentinel], timeout=30)
    assert ended, "one run per process: the spare exits after its run"
    assert pool.spares.take() is pool.started[1]


def test_closing_kills_the_spare_at_once_and_keeps_none(pool: SimpleNamespace) -> None:
    pool.spares.keep_one()
    spare = pool.started[0]
    start = time.perf_counter()
    pool.spares.close()
    assert time.perf_counter() - start < 1.5, "closing does not wait for the spare"
    spare.process.join(timeout=5)
    assert not spare.is_alive()
    pool.spares.replenish()  # what a run's end does
    assert len(pool.started) == 1 and pool.spares.take() is None


def test_the_training_child_runs_only_code_its_parent_may_run(tmp_path: Path) -> None:
    """The app guards its process; the child it trains in takes the same verdict, so a
    project's Lambda runs there only once the user trusted it."""
    sentinel = tmp_path / "PWNED"
    doc, _ = lambda_doc(touch_payload(sentinel, "x * 2"), loss="mse")
    run = TrainingSettings(batch_size=8, epochs=1, seed=1, data={
        "x": DataSource("synthetic", {"samples": 16})})
    with code_guard():
        refused = train_in_child(doc, run, run_dir=tmp_path / "untrusted")
        assert refused.status == "failed" and "trust" in refused.message, refused.message
        assert not sentinel.exists()
        trust_document(doc)
        trusted = train_in_child(doc, run, run_dir=tmp_path / "trusted")
    assert trusted.status == "completed", trusted.message
    assert sentinel.exists()
