"""Train in a child process, reporting to a reporter in this one.

TensorFlow keeps the traced functions of every model a process has trained (about
11 MiB per separable-convnet run here, ``clear_session`` or not), so an app that
trains run after run grows without bound. A child process per run returns all of
it to the system when the run ends. The child gets the project as records (no
shared objects), reports through a queue, and stops when ``stop_event`` is set.

Importing TensorFlow takes 5-8 s, so an app may keep one child started ahead
(:data:`spares`): it imports TensorFlow, warms Keras up with a one-batch fit of a
tiny model, then waits for its job on a queue. ``train_in_child`` hands the run to
that spare when there is one, else starts a child as before; after each run the next
spare is started. Every child still trains one run and exits.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..document.document import Document
from ..document.records import from_records, to_records
from ..document.trust import trusted_code_keys
from ..schema.settings import TrainingSettings, settings_from_records, settings_to_records
from ..schema.trust import guard_code, set_trusted_keys
from .runs import RunResult, record_finish

REPORTS = ("on_train_begin", "on_batch_end", "on_epoch_end", "on_health", "on_train_end")
POLL_S = 0.05
EXIT_WAIT_S = 30.0  # a child that sent its result gets this long to exit on its own
KILL_WAIT_S = 0.3


@dataclass
class TrainingProcess:
    """A child process and the channels to it: one job in, reports out, a stop flag."""

    process: Any
    jobs: Any
    reports: Any
    stop: Any
    ready: Any  # set once TensorFlow is imported and warm

    def is_alive(self) -> bool:
        return bool(self.process.is_alive())

    def is_ready(self) -> bool:
        return self.is_alive() and bool(self.ready.is_set())

    def kill(self) -> None:
        """SIGKILL; reaped if it ends within a moment (one still loading TensorFlow's
        libraries from disk may take longer to go, and is not waited for)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=KILL_WAIT_S)


def start_process(warm_up: bool = True) -> TrainingProcess:
    """Start a child that imports TensorFlow (and warms Keras up), then waits for a job."""
    context = multiprocessing.get_context("spawn")  # never fork a process running Qt
    jobs, reports = context.Queue(), context.Queue()
    # A job the child never reads (it was killed) must not hold this process at exit.
    jobs.cancel_join_thread()
    stop, ready = context.Event(), context.Event()
    process = context.Process(target=child_main, name="layerforge-training", daemon=True,
                              args=(jobs, reports, stop, ready, warm_up))
    process.start()
    return TrainingProcess(process, jobs, reports, stop, ready)


class SpareProcesses:
    """At most one training process started ahead, while ``keep_one`` is in force."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spare: TrainingProcess | None = None
        self.enabled = False
        self.started = 0  # spares started so far

    def keep_one(self) -> None:
        """From now on keep a spare: start one now and another after each run."""
        self.enabled = True
        self.replenish()

    def replenish(self) -> None:
        with self._lock:
            if not self.enabled or (self._spare is not None and self._spare.is_alive()):
                return
            self._spare = start_process()
            self.started += 1

    def take(self) -> TrainingProcess | None:
        """The spare for a run (None when there is none). One still importing TensorFlow
        is taken too: it is closer to ready than a child started now."""
        with self._lock:
            spare, self._spare = self._spare, None
        return spare if spare is not None and spare.is_alive() else None

    def is_ready(self) -> bool:
        spare = self._spare
        return spare is not None and spare.is_ready()

    def close(self) -> None:
        """Stop keeping a spare and kill the one waiting (the app quits: nothing to save)."""
        with self._lock:
            self.enabled = False
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.kill()


spares = SpareProcesses()


def train_in_child(doc: Document, settings: TrainingSettings, *, run_dir: str | Path,
                   reporter: Any = None, stop_event: threading.Event | None = None,
                   pool: SpareProcesses | None = None, start_next: bool = False) -> Any:
    """``core.training.train`` in a child process (the spare of ``pool``, the app's
    :data:`spares` by default, when there is one); the same result, reports and stop.
    ``start_next`` starts the pool's next spare as this run begins rather than after it
    (a study: its next trial follows at once and then finds TensorFlow imported)."""
    pool = spares if pool is None else pool
    child = pool.take() or start_process(warm_up=False)  # no spare: train at once
    if start_next:
        pool.replenish()
    child.jobs.put((to_records(doc), dict(doc.weights), settings_to_records(settings),
                    str(run_dir), trusted_code_keys(doc)))
    finished = False
    try:
        result = _relay(child.process, child.reports, child.stop, reporter, stop_event,
                        Path(run_dir))
        finished = True
        return result
    finally:
        _let_exit(child, finished)
        pool.replenish()


def _let_exit(child: TrainingProcess, finished: bool) -> None:
    """A child that sent its result exits by itself (TensorFlow's teardown takes a second
    or two, which no one needs to wait for); one that did not is killed."""
    if not finished:
        child.kill()
        return

    def reap() -> None:
        # The sentinel, not is_alive(): starting the next spare polls this child too, and
        # of two waitpid calls one sees no child and would call it alive.
        if not multiprocessing.connection.wait([child.process.sentinel], EXIT_WAIT_S):
            child.kill()
        child.process.join(timeout=0)

    threading.Thread(target=reap, name="layerforge-training-exit", daemon=True).start()


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
        if name == "unable":
            return _failed(run_dir, args[0], reporter)
        method = getattr(reporter, name, None)
        if method is not None:
            method(*args)


def _lost(run_dir: Path, exitcode: int | None, reporter: Any) -> Any:
    """The child died without a result (killed, out of memory): a failed run."""
    return _failed(run_dir, f"the training process ended without a result (exit code "
                            f"{exitcode}); it may have run out of memory", reporter)


def _failed(run_dir: Path, message: str, reporter: Any) -> Any:
    result = RunResult("failed", run_dir, message=message)
    result.unrecorded = record_finish(run_dir, "failed", message)
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


def child_main(jobs: Any, reports: Any, stop: Any, ready: Any, warm_up: bool = True) -> None:
    """The child process: import TensorFlow, wait for one job, train it, send the result."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _follow_parent(jobs, stop)
    try:
        train = _load_training(warm_up)
    except Exception as exc:  # reported with the job: the app shows why nothing trains
        train, problem = None, f"{type(exc).__name__}: {exc}"
    ready.set()
    job = jobs.get()
    if job is None:  # the app went away before giving a job
        return
    records, weights, settings, run_dir, trusted = job
    # The child runs only the code its parent may run (the user's verdict, not the file's).
    guard_code()
    set_trusted_keys(trusted)
    if train is None:
        reports.put(("unable", (f"the training process could not load TensorFlow "
                                f"and Keras: {problem}",)))
        return
    doc = from_records(records)
    doc.weights = weights
    result = train(doc, settings_from_records(settings, "<training process>"),
                   run_dir=run_dir, reporter=_QueueReporter(reports), stop_event=stop)
    reports.put(("result", (result,)))


def _load_training(warm_up: bool) -> Any:
    from .fit import train  # lazy: importing Keras is what this process is started ahead for

    if warm_up:
        _warm_up_keras()
    return train


def _warm_up_keras() -> None:
    """One batch of a tiny model: Keras' and TensorFlow's first-fit set-up (~0.3 s) is
    paid before the job arrives, not after the user's click."""
    import keras  # lazy: see _load_training
    import numpy as np

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.zeros((2, 2), "float32"), np.zeros((2, 1), "float32"), batch_size=2,
              epochs=1, verbose=0)
    keras.backend.clear_session()


def _follow_parent(jobs: Any, stop: Any) -> None:
    """If the app dies (a crash, a kill), stop the run or stop waiting for a job."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        stop.set()
        jobs.put(None)

    threading.Thread(target=watch, name="layerforge-parent-watch", daemon=True).start()
