"""The warm worker: a process started ahead that imports Keras once and then serves requests
on the model being edited (node previews, sparklines, and any kind a handler is registered
for in ``HANDLERS``).

Each request carries the document as records, its trusted code keys and, when they changed,
its stored weights (the process keeps the last ones per document, since a large model's
weights would cost more to send than a preview takes). The process keeps one
:class:`Previewer` per document alive across requests, so re-selecting a node is a lookup
and an edit recomputes only what lies downstream of it. When several requests of one kind
wait, only the newest is served; the reply names its request so the caller can match it.
"""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..analysis.worker_process import READY, STOP, WorkerProcess, stop_with_parent
from ..catalog.keras_objects import keras_module
from ..document.document import Document
from ..document.records import from_records, to_records
from ..document.trust import trusted_code_keys
from ..schema.trust import guard_code, set_trusted_keys
from .latency import measure_latency
from .preview import NodePreview, Previewer, tensor_stats
from .preview_words import token_words

REPLY = "reply"
PREVIEW = "preview"
SPARKLINES = "sparklines"
LATENCY = "latency"
# A tensor larger than this is sent as its first sample only (what the views draw); its
# stats are the whole batch's all the same.
MAX_REPLY_BYTES = 4 * 2**20


@dataclass(frozen=True)
class Request:
    request_id: int
    kind: str
    client: str  # one document of one window: another one gets its own Previewer
    records: dict[str, Any]
    trusted: list[str]
    payload: dict[str, Any] = field(default_factory=dict)
    # The document's stored weights by layer id; None: the same as this client's last ones.
    weights: dict[str, list[Any]] | None = None


@dataclass(frozen=True)
class Reply:
    request_id: int
    kind: str
    result: Any = None
    error: str = ""  # the request failed (a model that cannot be built, bad input): why
    seconds: float = 0.0


@dataclass(frozen=True)
class PreviewResult:
    """One node's preview as the dock draws it. ``preview.tensors`` may hold only the first
    sample of a large tensor; ``shapes`` are the full ones and the stats the full batch's."""

    preview: NodePreview
    shapes: tuple[tuple[int, ...], ...]
    samples: int
    computed: bool  # Keras ran for this request (False: the cached preview)
    runs: int  # Keras runs of this document's Previewer so far
    words: tuple[str, ...] | None = None  # token ids decoded, one text per sample


class WorkerState:
    """What the handlers share: the current document and its Previewer, per client."""

    def __init__(self) -> None:
        self.client = ""
        self.records: dict[str, Any] | None = None
        self.doc: Document | None = None
        self.weights: dict[str, dict[str, list[Any]]] = {}
        self._weights_changed = False
        self._previewer: Previewer | None = None
        self._stale = False

    def receive(self, request: Request) -> None:
        """Take a request's weights, even one that a newer request replaces."""
        if request.weights is not None:
            self.weights[request.client] = request.weights
            self._weights_changed = self._weights_changed or request.client == self.client

    def document(self, request: Request) -> Document:
        """The request's document, rebuilt from its records only when they changed."""
        set_trusted_keys(request.trusted)
        if request.client != self.client:
            self.client, self.records, self._previewer = request.client, None, None
            keras_module().backend.clear_session()  # the previous document's models go
        if request.records != self.records or self._weights_changed or self.doc is None:
            doc = from_records(request.records, "<preview request>")
            doc.weights = dict(self.weights.get(request.client, {}))
            self.doc, self.records, self._stale = doc, request.records, True
            self._weights_changed = False
        return self.doc

    def previewer(self, request: Request) -> Previewer:
        doc = self.document(request)
        try:
            if self._previewer is None:
                self._previewer = Previewer(doc)
            elif self._stale:
                self._previewer.update(doc)
        except Exception:
            self._previewer = None  # rebuilt from the document on the next request
            raise
        self._stale = False
        return self._previewer


Handler = Callable[[WorkerState, Request], Any]


def handle_preview(state: WorkerState, request: Request) -> PreviewResult:
    previewer = state.previewer(request)
    node_id = str(request.payload["node_id"])
    if node_id not in previewer.doc.graph.nodes:
        raise ValueError(f"expected a node of the document to preview; received '{node_id}', "
                         "which it does not have")
    runs = previewer.runs
    preview = previewer.preview(node_id)
    return PreviewResult(_trimmed(preview), tuple(tuple(t.shape) for t in preview.tensors),
                         previewer.samples, previewer.runs != runs, previewer.runs,
                         token_words(previewer, node_id))


def handle_sparklines(state: WorkerState, request: Request) -> dict[str, list[float]]:
    return state.previewer(request).sparklines()


def handle_latency(state: WorkerState, request: Request) -> dict[str, Any]:
    """The Summary panel's measurement; payload: ``batch_size`` and ``repeats``."""
    return measure_latency(state.document(request), **request.payload)


# The request kinds this worker serves. Register a kind here (at import: the child process
# imports this module afresh) with a function of the shared state and the request.
HANDLERS: dict[str, Handler] = {
    PREVIEW: handle_preview,
    SPARKLINES: handle_sparklines,
    LATENCY: handle_latency,
}
# Served first when several kinds wait: a selection is what the user is looking at.
PRIORITY = (PREVIEW,)


def _trimmed(preview: NodePreview) -> NodePreview:
    tensors = tuple(t[:1] if t.nbytes > MAX_REPLY_BYTES and t.ndim >= 2 else t
                    for t in preview.tensors)
    return NodePreview(preview.node_id, tensors, preview.stats)


# ------------------------------------------------------------ the child process
def worker_main(requests: Any, replies: Any) -> None:
    """The child process: import Keras and run one tiny model (its first call is slow), then
    serve the newest request of each kind, forever."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    stop_with_parent(requests)
    guard_code()  # only the code the parent's user trusts runs here (each request says which)
    start = time.perf_counter()
    _warm_up()
    replies.put((READY, time.perf_counter() - start))
    state = WorkerState()
    while True:
        waiting = newest_requests(requests, state)
        if waiting is None:
            return
        for request in waiting:
            replies.put((REPLY, serve(state, request)))


def _warm_up() -> None:
    keras = keras_module()
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Conv2D(2, 3)(inputs)))
    model(np.zeros((1, 4, 4, 1), dtype="float32"))
    tensor_stats(np.zeros(4))


def serve(state: WorkerState, request: Request) -> Reply:
    start = time.perf_counter()
    handler = HANDLERS.get(request.kind)
    if handler is None:
        return Reply(request.request_id, request.kind, error=(
            f"expected a request kind among {sorted(HANDLERS)}; received '{request.kind}'"))
    try:
        result = handler(state, request)
    except Exception as exc:  # the worker must outlive any one document
        return Reply(request.request_id, request.kind, error=_first_line(exc),
                     seconds=time.perf_counter() - start)
    return Reply(request.request_id, request.kind, result, seconds=time.perf_counter() - start)


def newest_requests(requests: Any, state: WorkerState) -> list[Request] | None:
    """Wait for a request, then take every one waiting and keep the newest of each kind
    (their weights are taken all the same); None means stop."""
    newest: dict[str, Request] = {}
    request = requests.get()
    while True:
        if request == STOP:
            return None
        state.receive(request)
        newest[request.kind] = request
        try:
            request = requests.get_nowait()
        except queue.Empty:
            break
    return sorted(newest.values(), key=lambda r: (r.kind not in PRIORITY, r.request_id))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# ------------------------------------------------------------ the parent's handle
class PreviewWorker(WorkerProcess):
    """The parent's handle on the process: start it early, submit requests, poll replies
    (:class:`..analysis.worker_process.WorkerProcess`: nothing blocks but ``wait``)."""

    def __init__(self) -> None:
        super().__init__(worker_main, "layerforge-warm-worker")
        # What weights each client last sent (by the arrays' identities): the process has them.
        self._sent_weights: dict[str, tuple[Any, ...]] = {}

    def start(self) -> None:
        self._sent_weights.clear()
        super().start()

    def submit(self, request_id: int, kind: str, client: str, doc: Document,
               payload: dict[str, Any] | None = None) -> None:
        if not self.started:
            self.start()
        identity = tuple((key, tuple(id(a) for a in arrays))
                         for key, arrays in doc.weights.items())
        weights = None
        if self._sent_weights.get(client) != identity:
            weights = {key: [np.asarray(a) for a in arrays] for key, arrays in doc.weights.items()}
            self._sent_weights[client] = identity
        self.put(Request(request_id, kind, client, to_records(doc), trusted_code_keys(doc),
                         dict(payload or {}), weights))

    def forget(self, client: str) -> None:
        """The next request of ``client`` sends its weights again (a new process)."""
        self._sent_weights.pop(client, None)

    def poll(self) -> list[Reply]:
        return super().poll()

    def wait(self, request_id: int, timeout: float) -> Reply | None:
        """Block until ``request_id``'s reply arrives (tests and scripts, not the UI)."""
        reply: Reply | None = self.wait_for(lambda r: r.request_id == request_id, timeout,
                                            pause=0.005)
        return reply

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.ready and time.monotonic() < deadline and self.alive:
            self._replies_until_ready()
            time.sleep(0.02)
        return self.ready

    def _replies_until_ready(self) -> None:
        try:
            kind, value = self._replies.get(timeout=0.1)
        except (queue.Empty, OSError, EOFError):
            return
        if kind == READY:
            self.ready, self.import_seconds = True, float(value)
