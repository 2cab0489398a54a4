"""The full Keras check in a pre-started worker process.

The live pass (``core.shapes``) answers within milliseconds but asks Keras one
layer at a time; only building the whole model (``analysis.check.full_check``)
is the final word. That build needs TensorFlow, whose import and graph work
would stall a window, so it runs in a child process that imports TensorFlow
once when it starts and then serves requests: the project as records (no
shared objects) with a generation number. When several requests wait, only
the newest is checked; the reply carries its generation so the caller can
discard one that an edit has made stale.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..catalog.keras_objects import keras_module
from ..document.document import Document
from ..document.records import from_records, to_records
from ..document.trust import trusted_code_keys
from ..schema.diagnostics import Diagnostic
from ..schema.trust import guard_code, set_trusted_keys
from .check import full_check

# What the parent sends to end the worker; it answers nothing after it.
STOP = "stop"
READY = "ready"
RESULT = "result"
# Keras keeps each built model's graph state: cleared after every check, and memory freed
# (a garbage collection, ~200 ms) every this many checks; 200 checks then grow it ~12 MiB.
FREE_MEMORY_EVERY = 50


@dataclass(frozen=True)
class CheckReply:
    """The full check of one generation of the document."""

    generation: int
    diagnostics: tuple[Diagnostic, ...]
    seconds: float
    # The check itself failed (a bug or a damaged request), not a Keras refusal.
    failure: str = ""

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


def worker_main(requests: Any, replies: Any) -> None:
    """The child process: import TensorFlow once, then check the newest request, forever."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _stop_with_parent(requests)
    guard_code()  # only the code the parent's user trusts runs here (each request says which)
    start = time.perf_counter()
    keras_module()  # TensorFlow is imported here once, so a request costs only the check
    replies.put((READY, time.perf_counter() - start))
    checks = 0
    while True:
        request = newest_request(requests)
        if request is None:
            return
        generation, records, trusted = request
        replies.put((RESULT, check_records(generation, records, trusted)))
        checks += 1
        keras_module().backend.clear_session(free_memory=checks % FREE_MEMORY_EVERY == 0)


Request = tuple[int, dict[str, Any], list[str]]


def _stop_with_parent(requests: Any) -> None:
    """A parent that dies (a crash, a kill) never says stop: stop once it is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        requests.put(STOP)

    threading.Thread(target=watch, name="layerforge-parent-watch", daemon=True).start()


def newest_request(requests: Any) -> Request | None:
    """Wait for a request, then drop all but the newest one waiting; None means stop."""
    request = requests.get()
    while request != STOP:
        try:
            request = requests.get_nowait()
        except queue.Empty:
            return request  # type: ignore[no-any-return]
    return None


def check_records(generation: int, records: dict[str, Any],
                  trusted: list[str] | None = None) -> CheckReply:
    """Check one request; ``trusted`` (the canonical texts of the code the parent trusts)
    replaces what this process trusts, and None leaves it as it is."""
    start = time.perf_counter()
    if trusted is not None:
        set_trusted_keys(trusted)
    try:
        doc = from_records(records, "<check request>")
        # An empty canvas has nothing wrong yet (validation agrees): it shows how to start.
        found = tuple(full_check(doc).diagnostics) if doc.graph.nodes else ()
    except Exception as exc:  # the worker must outlive any one document
        return CheckReply(generation, (), time.perf_counter() - start,
                          f"{type(exc).__name__}: {exc}")
    return CheckReply(generation, found, time.perf_counter() - start)


class CheckWorker:
    """The parent's handle on the worker: start it early, submit documents, poll replies.

    Nothing here blocks: ``submit`` queues the records (a feeder thread writes them),
    ``poll`` takes what has arrived. ``stop`` kills the process at once.
    """

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")  # never fork a process running Qt
        self._process: Any = None
        self._requests: Any = None
        self._replies: Any = None
        self.ready = False
        self.import_seconds: float | None = None
        self.restarts = 0
        self.last_exitcode: int | None = None

    @property
    def started(self) -> bool:
        return self._process is not None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def exitcode(self) -> int | None:
        """The exit code of the process that ended (None while it runs)."""
        return self._process.exitcode if self._process is not None else self.last_exitcode

    def start(self) -> None:
        self.ready = False
        self._requests = self._context.Queue()
        self._replies = self._context.Queue()
        self._process = self._context.Process(
            target=worker_main, name="layerforge-keras-check", daemon=True,
            args=(self._requests, self._replies))
        self._process.start()

    def restart(self) -> None:
        """Start a new process after the old one died (or hung)."""
        self.last_exitcode = self.exitcode
        self.stop()
        self.restarts += 1
        self.start()

    def submit(self, doc: Document, generation: int, trusted: list[str] | None = None) -> None:
        """Queue a check; ``trusted``: the canonical texts of the document's code that may
        run (by default, what may run in this process)."""
        if not self.started:
            self.start()
        keys = trusted_code_keys(doc) if trusted is None else trusted
        self._requests.put((generation, to_records(doc), keys))

    def poll(self) -> list[CheckReply]:
        """The replies that have arrived (never waits)."""
        found: list[CheckReply] = []
        while self._replies is not None:
            try:
                kind, value = self._replies.get_nowait()
            except (queue.Empty, OSError, EOFError):
                break
            if kind == READY:
                self.ready, self.import_seconds = True, float(value)
            else:
                found.append(value)
        return found

    def wait(self, generation: int, timeout: float) -> CheckReply | None:
        """Block until the reply of ``generation`` arrives (tests and scripts, not the UI)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for reply in self.poll():
                if reply.generation == generation:
                    return reply
            if not self.alive:
                return None
            time.sleep(0.02)
        return None

    def stop(self) -> None:
        """End the process now: nothing it was doing is worth waiting for."""
        process, self._process = self._process, None
        for channel in (self._requests, self._replies):
            if channel is not None:
                channel.cancel_join_thread()  # a full pipe to a dead reader must not block exit
                channel.close()
        self._requests = self._replies = None
        self.ready = False
        if process is not None:
            process.kill()
            process.join(timeout=1)
