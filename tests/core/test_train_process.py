"""Training in a child process: the same reports, result and stop as in-process training."""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from layerforge.core.runs import load_run
from layerforge.core.templates import load_template
from layerforge.core.train_process import _relay, train_in_child
from layerforge.core.train_settings import DataSource, TrainingSettings


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
