"""The window's handle on the warm worker process (``core.training.preview_worker``): Keras
work for the panels (node previews, sparklines, latency) runs there, never in the UI process.

``submit(kind, doc, payload)`` sends the document as it is now and returns a request id; the
reply comes as ``replied(kind, request_id, result)``, from a timer that polls the process,
so nothing here waits. ``result`` is the handler's value, or a :class:`WorkerFailure` saying
why there is none. Only the newest request of each kind is served: a caller matches ids.
A process that died is restarted, and the requests it held are sent again.
"""

from __future__ import annotations

import itertools
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from layerforge.core.document.document import Document
from layerforge.core.training.preview_worker import PreviewWorker, Reply

from ..keras_check import keras_check_enabled

POLL_MS = 15
# Request ids unique in this process, so windows sharing one worker never take each other's.
_REQUEST_IDS = itertools.count(1)


@dataclass(frozen=True)
class WorkerFailure:
    """A request the worker could not serve (a model that cannot be built, bad input)."""

    message: str


class WarmWorker(QObject):
    """``submit`` requests, get ``replied(kind, request_id, result)``; ``ready_changed(True)``
    once the process has imported Keras."""

    replied = Signal(str, int, object)
    ready_changed = Signal(bool)

    def __init__(self, process: PreviewWorker | None = None, parent: QObject | None = None
                 ) -> None:
        super().__init__(parent)
        self.process = process or PreviewWorker()
        self._clients: weakref.WeakKeyDictionary[Document, str] = weakref.WeakKeyDictionary()
        # The newest request of each kind not answered yet: sent again after a restart.
        self._pending: dict[str, tuple[int, Document, dict[str, Any]]] = {}
        self._was_ready = False
        self._closed = False
        self.seconds: dict[str, float] = {}  # how long the worker took on each kind's last
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.poll)

    @property
    def ready(self) -> bool:
        return self.process.ready

    def start(self) -> None:
        """Start the process ahead (it imports Keras for some seconds)."""
        if not self.process.started:
            self.process.start()
        self._poll.start()

    def submit(self, kind: str, doc: Document, payload: dict[str, Any] | None = None) -> int:
        """Send a ``kind`` request on ``doc`` as it is now; returns its request id."""
        request_id = next(_REQUEST_IDS)
        self._pending[kind] = (request_id, doc, dict(payload or {}))
        if not self.process.started:
            self.start()
        elif not self.process.alive:
            self._restart()
        self.process.submit(request_id, kind, self.client(doc), doc, payload)
        self._poll.start()
        return request_id

    def client(self, doc: Document) -> str:
        """The worker's name for ``doc``: another document starts a Previewer of its own."""
        if doc not in self._clients:
            self._clients[doc] = uuid.uuid4().hex
        return self._clients[doc]

    def poll(self) -> None:
        for reply in self.process.poll():
            self._on_reply(reply)
        if self.process.ready != self._was_ready:
            self._was_ready = self.process.ready
            self.ready_changed.emit(self._was_ready)
        if self._pending and not self.process.alive and not self._closed:
            self._restart()
            for kind, (request_id, doc, payload) in list(self._pending.items()):
                self.process.submit(request_id, kind, self.client(doc), doc, payload)
        elif not self._pending and self.process.ready:
            self._poll.stop()

    def _on_reply(self, reply: Reply) -> None:
        pending = self._pending.get(reply.kind)
        if pending is not None and pending[0] == reply.request_id:
            del self._pending[reply.kind]
        self.seconds[reply.kind] = reply.seconds
        result = WorkerFailure(reply.error) if reply.error else reply.result
        self.replied.emit(reply.kind, reply.request_id, result)

    def _restart(self) -> None:
        self._was_ready = False
        self.process.restart()

    def shutdown(self) -> None:
        """Kill the process at once (quitting never waits for Keras)."""
        self._closed = True
        self._poll.stop()
        self._pending.clear()
        self.process.stop()


def install_warm_worker(window: Any, worker: WarmWorker | None = None) -> WarmWorker:
    """Give ``window`` its warm worker (the Preview dock computes in it, the Summary panel
    measures latency in it), started ahead unless Keras work in background processes is off
    (LAYERFORGE_KERAS_CHECK=0, as in the tests: then it starts at the first request).
    ``worker``: one to share (tests)."""
    if worker is None:
        worker = WarmWorker(parent=window)
        process = worker.process
        # A window that goes away without closing (tests, a crash) takes its process along.
        window.destroyed.connect(lambda *_args: process.stop())
    if keras_check_enabled():
        worker.start()
    window.preview.attach_worker(worker)
    window.summary.set_worker(worker)
    return worker
