"""Keras' verdict in the window: the full check after edits, merged with the live pass.

One real worker process (the session-scoped ``check_worker``) serves the tests that need
Keras itself; the others drive the same client with the check run in this process.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from layerforge.core.analysis.check import KERAS_CODE
from layerforge.core.analysis.check_worker import CheckReply, check_records
from layerforge.core.document.document import Document
from layerforge.core.document.records import to_records
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.schema.diagnostics import Diagnostic
from layerforge.gui.main_window import MainWindow


def layer_named(win: Any, name: str) -> Any:
    return next(la for la in win.session.doc.graph.layers.values() if la.name == name)


def call_of(win: Any, name: str) -> str:
    return win.session.doc.graph.calls_of(layer_named(win, name).id)[0].id


def label_after(win: Any, node_id: str) -> str:
    graph = win.session.doc.graph
    return win.view.canvas_scene.edges[graph.out_edges(node_id)[0].id].label


def rows(win: Any) -> list[str]:
    return [win.diagnostics.list.item(i).text() for i in range(win.diagnostics.list.count())]


def checked_now(win: Any) -> bool:
    return win.keras_check.checked_generation == win.session.generation


# ------------------------------------------------------------------ the real worker
def test_inception_strides_error_shown_live_then_confirmed_by_keras(
        isolated: SimpleNamespace, keras_loaded: dict, check_worker: Any, qtbot: Any) -> None:
    win = MainWindow(check_worker=check_worker)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.session.keras_ready, timeout=20_000)
    win.open_template("inception-module")
    qtbot.waitUntil(lambda: checked_now(win), timeout=120_000)
    assert win.check_label.text().startswith("Checked by Keras ")
    assert "Keras builds the model" in win.check_label.toolTip()
    concat = call_of(win, "inception_output")

    start = time.perf_counter()
    win.session.push(SetParam(layer_named(win, "branch_a").id, "strides", 1))
    qtbot.waitUntil(lambda: win.diagnostics.header.text() == "1 error(s), 0 warning(s)",
                    timeout=1000)
    assert time.perf_counter() - start < 1.0
    assert win.view.canvas_scene.nodes[concat].severity == "error"
    assert "(None, 32, 32, 128), (None, 16, 16, 128)" in rows(win)[0]
    assert label_after(win, concat) == "?", "no shape Keras would refuse"

    qtbot.waitUntil(lambda: checked_now(win), timeout=60_000)
    assert "found 1 error(s)" in win.check_label.toolTip()
    assert len(rows(win)) == 1, "Keras' finding on the same node is not shown twice"

    win.session.undo_stack.undo()
    qtbot.waitUntil(lambda: win.diagnostics.header.text() == "No problems", timeout=1000)
    qtbot.waitUntil(lambda: checked_now(win), timeout=60_000)
    assert win.diagnostics.header.text() == "No problems"
    assert label_after(win, concat) == "(None, 16, 16, 512)"
    win.close()
    assert check_worker.alive, "a shared worker outlives the window"


def test_closing_kills_the_windows_own_worker_at_once(
        isolated: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, qtbot: Any) -> None:
    monkeypatch.setenv("LAYERFORGE_KERAS_CHECK", "1")
    win = MainWindow(load_keras=False)
    qtbot.addWidget(win)
    worker = win.keras_check.worker
    assert worker.alive and win.check_label.text() == "Keras check: starting"
    start = time.perf_counter()
    win.close()
    assert time.perf_counter() - start < 1.5
    assert not worker.alive


def test_windows_in_tests_run_without_a_worker(window: Any) -> None:
    assert window.keras_check is None
    assert window.check_label.text() == "Keras check: off"


# ------------------------------------------------------------------ in-process check
class InProcessWorker:
    """CheckWorker's interface, with the check run in this process on submit."""

    def __init__(self, extra: Any = None) -> None:
        self.extra = extra or (lambda doc: [])
        self.started = self.ready = self.dead = False
        self.import_seconds = 0.0
        self.restarts = 0
        self.exitcode: int | None = None
        self.last_exitcode: int | None = None
        self.replies: list[CheckReply] = []
        self.submitted: list[int] = []

    @property
    def alive(self) -> bool:
        return self.started and not self.dead

    def start(self) -> None:
        self.started = True

    def restart(self) -> None:
        self.last_exitcode, self.exitcode = self.exitcode, None
        self.dead = False
        self.restarts += 1

    def submit(self, doc: Document, generation: int) -> None:
        self.submitted.append(generation)
        reply = check_records(generation, to_records(doc))
        found = (*reply.diagnostics, *self.extra(doc))
        self.replies.append(CheckReply(generation, found, reply.seconds))

    def poll(self) -> list[CheckReply]:
        self.ready = True
        replies, self.replies = self.replies, []
        return replies

    def stop(self) -> None:
        self.started = False


def refusal_on_dense_1(doc: Document) -> list[Diagnostic]:
    """A refusal the live pass does not know, on dense_1 while it has 32 units."""
    layer = next(la for la in doc.graph.layers.values() if la.name == "dense_1")
    if layer.params.get("units") != 32:
        return []
    node = doc.graph.calls_of(layer.id)[0]
    return [Diagnostic(node.id, "error", "expected what Keras wants; received something else",
                       KERAS_CODE)]


def test_keras_only_finding_marks_node_row_and_edge_until_the_node_changes(
        window: Any, qtbot: Any) -> None:
    worker = InProcessWorker(refusal_on_dense_1)
    window.start_keras_check(worker)
    window.open_template("sequential-mlp")
    dense_1 = call_of(window, "dense_1")
    qtbot.waitUntil(lambda: window.view.canvas_scene.nodes[dense_1].severity == "error",
                    timeout=10_000)
    assert window.check_label.text().startswith("Checked by Keras ")
    assert rows(window) == ["error: Dense 'dense_1': expected what Keras wants; received "
                            "something else  [found by the Keras check]"]
    assert label_after(window, dense_1) == "?", "the refused tensor has no shape"
    assert window.params_label.text() == "Params: –"

    sent = len(worker.submitted)
    window.session.push(SetParam(layer_named(window, "dense_1").id, "units", 16))
    window.session.analyze()  # the live pass, before any new check has run
    assert len(worker.submitted) == sent
    assert window.diagnostics.header.text() == "No problems", "the changed node's finding goes"
    assert window.view.canvas_scene.nodes[dense_1].severity is None
    assert label_after(window, dense_1) == "(None, 16)"
    qtbot.waitUntil(lambda: checked_now(window), timeout=10_000)
    assert window.diagnostics.header.text() == "No problems"


def test_a_stale_reply_is_dropped_and_the_newest_document_checked(
        window: Any, qtbot: Any) -> None:
    worker = InProcessWorker(refusal_on_dense_1)
    window.start_keras_check(worker)
    window.open_template("sequential-mlp")
    qtbot.waitUntil(lambda: checked_now(window), timeout=10_000)
    old, requests = window.session.generation, len(worker.submitted)
    window.session.push(SetParam(layer_named(window, "dense_1").id, "units", 8))
    window.session.push(SetParam(layer_named(window, "dense_1").id, "units", 32))
    found = refusal_on_dense_1(window.session.doc)
    assert not window.session.accept_keras_check(old, found)
    qtbot.waitUntil(lambda: checked_now(window), timeout=10_000)
    # Two quick edits, one request: only the newest document went to Keras.
    assert len(worker.submitted) == requests + 1
    assert window.diagnostics.header.text() == "1 error(s), 0 warning(s)"
    # A reply to a request this window never sent (another window sharing the worker, whose
    # own generations happen to match this session's) changes nothing.
    window.session.push(SetParam(layer_named(window, "dense_1").id, "units", 8))
    window.session.analyze()
    worker.replies.append(CheckReply(window.session.generation, tuple(found), 0.0))
    window.keras_check.poll()
    assert window.diagnostics.header.text() == "No problems"


def test_a_dead_worker_is_restarted_on_the_next_request_and_the_tooltip_says_so(
        window: Any, qtbot: Any) -> None:
    worker = InProcessWorker()
    window.start_keras_check(worker)
    window.open_template("sequential-mlp")
    qtbot.waitUntil(lambda: checked_now(window), timeout=10_000)
    worker.dead, worker.exitcode = True, -9
    window.session.push(SetParam(layer_named(window, "dense").id, "units", 8))
    qtbot.waitUntil(lambda: checked_now(window), timeout=10_000)
    assert worker.restarts == 1
    assert "ended (exit code -9)" in window.check_label.toolTip()
    assert "restarted at" in window.check_label.toolTip()


# ------------------------------------------------------------------ totals
def test_a_stray_layer_leaves_the_total_a_number(window: Any) -> None:
    from layerforge.core.editing import edits

    window.open_template("sequential-mlp")
    window.session.analyze()
    before = window.params_label.text()
    assert before == "Params: 3,466"
    window.session.push(edits.add_layer(window.session.doc, "Dense", {"units": 99}))
    window.session.analyze()
    assert window.params_label.text() == before
    assert window.summary.total.text() == "Total params: 3,466"
    assert any("not connected to an output" in row for row in rows(window))
