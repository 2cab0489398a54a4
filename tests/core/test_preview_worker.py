"""The warm worker process: a preview there is the same tensor as one computed here, an edit
downstream of the selected node is served from its cache, stored weights are sent once and
kept, and only the newest request of each kind waiting is served."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from itertools import count
from typing import Any

import numpy as np
import pytest

from layerforge.core.document.document import Document
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.templates import load_template
from layerforge.core.schema.records import CallNode
from layerforge.core.training.preview import HISTOGRAM_BINS, NodePreview, Previewer
from layerforge.core.training.preview_worker import (
    LATENCY,
    MAX_REPLY_BYTES,
    PREVIEW,
    SPARKLINES,
    PreviewResult,
    PreviewWorker,
    Reply,
    Request,
    WorkerState,
    _trimmed,
    newest_requests,
)

TIMEOUT = 60
_IDS = count(1)


@pytest.fixture(scope="module")
def worker() -> Iterator[PreviewWorker]:
    process = PreviewWorker()
    process.start()
    assert process.wait_ready(TIMEOUT)
    yield process
    process.stop()


def ask(worker: PreviewWorker, kind: str, client: str, doc: Document, **payload: Any) -> Reply:
    request_id = next(_IDS)
    worker.submit(request_id, kind, client, doc, payload)
    reply = worker.wait(request_id, TIMEOUT)
    assert reply is not None and not reply.error, reply
    return reply


def dense_calls(doc: Document) -> list[str]:
    return [n for n in doc.graph.topological_order() if isinstance(doc.graph.node(n), CallNode)
            and doc.graph.layer_of(n).class_name == "Dense"]


def test_a_preview_in_the_worker_is_the_one_computed_here(worker: PreviewWorker) -> None:
    doc = load_template("residual-projection")
    here = Previewer(doc)
    for node in doc.graph.calls():
        result = ask(worker, PREVIEW, "same", doc, node_id=node.id).result
        assert isinstance(result, PreviewResult) and result.samples == here.samples
        mine = here.preview(node.id)
        assert result.shapes == tuple(t.shape for t in mine.tensors)
        np.testing.assert_allclose(result.preview.tensors[0], mine.tensors[0], atol=1e-5)
        assert result.preview.stats[0].histogram == pytest.approx(mine.stats[0].histogram,
                                                                  abs=2)


def test_an_edit_downstream_is_served_from_the_cache(worker: PreviewWorker) -> None:
    doc = load_template("sequential-mlp")
    selected, downstream = dense_calls(doc)[1], dense_calls(doc)[-1]
    first = ask(worker, PREVIEW, "edits", doc, node_id=selected).result
    assert first.computed
    assert not ask(worker, PREVIEW, "edits", doc, node_id=selected).result.computed

    SetParam(doc.graph.layer_of(downstream).id, "activation", "linear").redo(doc)
    after = ask(worker, PREVIEW, "edits", doc, node_id=selected).result
    assert not after.computed and after.runs == first.runs
    np.testing.assert_array_equal(after.preview.tensors[0], first.preview.tensors[0])

    SetParam(doc.graph.layer_of(selected).id, "activation", "tanh").redo(doc)
    edited = ask(worker, PREVIEW, "edits", doc, node_id=selected).result
    assert edited.computed and edited.runs == first.runs + 1


def test_stored_weights_are_sent_once_and_kept(worker: PreviewWorker) -> None:
    doc = load_template("sequential-mlp")
    dense = dense_calls(doc)[0]
    layer = doc.graph.layer_of(dense)
    kernel, bias = Previewer(doc, samples=1).model.get_layer(layer.name).get_weights()
    doc.weights[layer.id] = [np.full_like(kernel, np.nan), bias]
    first = ask(worker, PREVIEW, "weights", doc, node_id=dense).result
    assert first.preview.stats[0].nans == kernel.shape[1] * first.samples
    # The same arrays are not sent again; an edit rebuilds the document with the kept ones.
    identity = worker._sent_weights["weights"]
    SetParam(doc.graph.layer_of(dense_calls(doc)[-1]).id, "activation", "linear").redo(doc)
    again = ask(worker, PREVIEW, "weights", doc, node_id=dense).result
    assert worker._sent_weights["weights"] == identity
    assert again.preview.stats[0].nans == first.preview.stats[0].nans


def test_sparklines_cover_every_call_node(worker: PreviewWorker) -> None:
    doc = load_template("inception-module")
    bins = ask(worker, SPARKLINES, "sparklines", doc).result
    assert set(bins) == {n.id for n in doc.graph.calls()}
    assert all(len(b) == HISTOGRAM_BINS and max(b) == 1.0 and min(b) >= 0 for b in bins.values())


def test_latency_is_measured_in_the_worker(worker: PreviewWorker) -> None:
    doc = load_template("sequential-mlp")
    result = ask(worker, LATENCY, "latency", doc, batch_size=2, repeats=2).result
    assert result["median_ms"] > 0 and result["batch_size"] == 2


def test_an_unknown_kind_or_node_gets_one_clear_message(worker: PreviewWorker) -> None:
    doc = load_template("sequential-mlp")
    for kind, payload, expected in [("nonsense", {}, "expected a request kind among"),
                                    (PREVIEW, {"node_id": "nowhere"}, "received 'nowhere'")]:
        request_id = next(_IDS)
        worker.submit(request_id, kind, "errors", doc, payload)
        reply = worker.wait(request_id, TIMEOUT)
        assert reply is not None and expected in reply.error and reply.result is None


def test_only_the_newest_request_of_each_kind_is_served_and_no_weights_are_lost() -> None:
    waiting: queue.Queue[Any] = queue.Queue()
    weights = {"layer": [np.ones(3)]}
    requests = [Request(1, PREVIEW, "c", {}, [], {"node_id": "a"}, weights),
                Request(2, SPARKLINES, "c", {}, []),
                Request(3, PREVIEW, "c", {}, [], {"node_id": "b"}),
                Request(4, "latency", "c", {}, [])]
    for request in requests:
        waiting.put(request)
    state = WorkerState()
    served = newest_requests(waiting, state)
    assert served is not None
    assert [r.request_id for r in served] == [3, 2, 4]  # the selection first
    assert state.weights["c"] is weights  # taken from the request that was dropped
    waiting.put("stop")
    assert newest_requests(waiting, state) is None


def test_a_large_tensor_is_sent_as_its_first_sample_with_the_whole_batch_stats() -> None:
    big = np.ones((4, 64, 64, 128), dtype=np.float32)
    assert big.nbytes > MAX_REPLY_BYTES
    small = np.ones((4, 8), dtype=np.float32)
    trimmed = _trimmed(NodePreview("n", (big, small), (None, None)))
    assert trimmed.tensors[0].shape == (1, 64, 64, 128) and trimmed.tensors[1].shape == (4, 8)
