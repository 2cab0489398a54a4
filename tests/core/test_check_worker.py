"""The full Keras check in its worker process: newest request only, errors on their node."""

from __future__ import annotations

from layerforge.core.analysis.check_worker import STOP, CheckWorker, check_records, newest_request
from layerforge.core.document.document import Document
from layerforge.core.document.records import to_records
from layerforge.core.editing import edits
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.templates import load_template


def inception(branch_a_strides: int) -> tuple[Document, str]:
    doc = load_template("inception-module")
    branch_a = next(la for la in doc.graph.layers.values() if la.name == "branch_a")
    SetParam(branch_a.id, "strides", branch_a_strides).redo(doc)
    concat = next(n.id for n in doc.graph.calls()
                  if doc.graph.layer(n.layer_id).class_name == "Concatenate")
    return doc, concat


def test_worker_answers_only_the_newest_request_with_the_error_on_concatenate():
    worker = CheckWorker()
    worker.start()
    try:
        good, _ = inception(2)
        bad, concat = inception(1)
        # Both are queued while the worker still imports TensorFlow: it checks only the second.
        worker.submit(good, 1)
        worker.submit(bad, 2)
        reply = worker.wait(2, timeout=120)
        assert worker.ready and worker.import_seconds is not None
        assert reply is not None and reply.failure == ""
        assert [(d.target, d.code) for d in reply.errors] == [(concat, "keras")]
        assert "Concatenate" in reply.errors[0].message
        assert "(None, 32, 32, 128), (None, 16, 16, 128)" in reply.errors[0].message
        assert worker.poll() == []  # generation 1 was never answered
        worker.submit(good, 3)
        again = worker.wait(3, timeout=60)
        assert again is not None and again.errors == []
    finally:
        worker.stop()
    assert not worker.alive


class ListQueue:
    def __init__(self, items: list) -> None:
        self.items = list(items)

    def get(self) -> object:
        return self.items.pop(0)

    def get_nowait(self) -> object:
        import queue

        if not self.items:
            raise queue.Empty
        return self.items.pop(0)


def test_newest_request_drops_the_waiting_ones_and_stop_wins():
    assert newest_request(ListQueue([(1, {}), (2, {}), (3, {})])) == (3, {})
    assert newest_request(ListQueue([(1, {}), STOP, (3, {})])) is None


def test_a_damaged_request_is_a_failure_reply_not_a_dead_worker():
    reply = check_records(7, {"format": "something else"})
    assert reply.generation == 7 and reply.diagnostics == ()
    assert "ProjectFileError" in reply.failure


def test_records_round_trip_keeps_the_document_checkable():
    doc, concat = inception(1)
    reply = check_records(1, to_records(doc))
    assert [d.target for d in reply.errors] == [concat]


def test_an_empty_project_gets_no_error_from_the_check_but_one_input_alone_does():
    """The empty canvas shows how to start, not an error (validation says nothing either);
    once a node is placed, the check says what the model still lacks."""
    assert check_records(1, to_records(Document())).diagnostics == ()
    doc = Document()
    edits.add_input(doc, (None, 4)).redo(doc)
    reply = check_records(2, to_records(doc))
    assert [d.message for d in reply.errors] == ["the model has no output: connect an output node"]


PARENT = """
import sys, time
from layerforge.core.analysis.check_worker import CheckWorker
worker = CheckWorker()
worker.start()
print(worker._process.pid, flush=True)
time.sleep(600)
"""


def test_the_worker_ends_when_its_parent_is_killed():
    """A killed app (no chance to stop its children) leaves no check process behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from layerforge.core.io.liveness import process_alive

    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        worker_pid = int(parent.stdout.readline())
        assert process_alive(worker_pid, unknown=False)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 90  # the worker first finishes importing TensorFlow
        while process_alive(worker_pid, unknown=False) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not process_alive(worker_pid, unknown=False)
    finally:
        parent.kill()
        with __import__("contextlib").suppress(ProcessLookupError):
            os.kill(worker_pid, signal.SIGKILL)
