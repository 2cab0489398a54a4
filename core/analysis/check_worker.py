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

import os
import queue
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
from .worker_process import READY, STOP, WorkerProcess, stop_with_parent

# What the parent sends to end the worker; it answers nothing after it.
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
    stop_with_parent(requests)
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


class CheckWorker(WorkerProcess):
    """The parent's handle on the worker: start it early, submit documents, poll replies
    (:class:`.worker_process.WorkerProcess`: nothing blocks but ``wait``)."""

    def __init__(self) -> None:
        super().__init__(worker_main, "layerforge-keras-check")

    def submit(self, doc: Document, generation: int, trusted: list[str] | None = None) -> None:
        """Queue a check; ``trusted``: the canonical texts of the document's code that may
        run (by default, what may run in this process)."""
        keys = trusted_code_keys(doc) if trusted is None else trusted
        self.put((generation, to_records(doc), keys))

    def poll(self) -> list[CheckReply]:
        return super().poll()

    def wait(self, generation: int, timeout: float) -> CheckReply | None:
        """Block until the reply of ``generation`` arrives (tests and scripts, not the UI)."""
        reply: CheckReply | None = self.wait_for(lambda r: r.generation == generation, timeout)
        return reply
