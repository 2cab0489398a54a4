"""In a guarded process (the app, the command line) a Lambda runs only once the user trusts it."""

from __future__ import annotations

from pathlib import Path

import pytest
from code_projects import lambda_doc, touch_payload

from layerforge.core.analysis.check import full_check
from layerforge.core.analysis.check_worker import check_records
from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.analysis.summary import summarize
from layerforge.core.codegen.loader import build_model
from layerforge.core.document.document import Document
from layerforge.core.document.records import to_records
from layerforge.core.document.trust import trust_document, trusted_code_keys, untrusted_code
from layerforge.core.editing import edits
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.schema.trust import (
    UNTRUSTED_WARNING,
    UntrustedCodeError,
    code_guard,
    code_guarded,
    code_key,
    may_run,
)

SENTINEL = "PWNED"


@pytest.fixture
def payload(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Document, str, Path]:
    monkeypatch.chdir(tmp_path)
    doc, node = lambda_doc(touch_payload(SENTINEL, "x * 2"))
    return doc, node, tmp_path / SENTINEL


def test_untrusted_lambda_has_unknown_shapes_and_a_warning(payload):
    doc, node, sentinel = payload
    with code_guard():
        result = ShapeEngine(doc).shapes()[node]
        assert result.outputs is None
        assert result.error is not None and result.error.severity == "warning"
        assert result.error.message == UNTRUSTED_WARNING
        assert ShapeEngine(doc).total_params() is None
        checked = full_check(doc)
        assert checked.model is None and checked.ok
        assert [(d.target, d.message) for d in checked.diagnostics] == [(node, UNTRUSTED_WARNING)]
        with pytest.raises(UntrustedCodeError, match="expected code you trust"):
            build_model(doc)
        assert summarize(doc)["not_run"] == ["payload"]
    assert not sentinel.exists()


def test_trusted_lambda_runs_and_nothing_cached_before_outlives_the_trust(payload):
    doc, node, sentinel = payload
    with code_guard():
        assert ShapeEngine(doc).shapes()[node].outputs is None
        trust_document(doc)
        assert untrusted_code(doc) == []
        assert ShapeEngine(doc).shapes()[node].outputs == ((None, 4),)
        assert full_check(doc).model is not None
    assert sentinel.exists()


def test_trust_follows_the_text_not_the_layer(payload):
    doc, node, _ = payload
    with code_guard():
        trust_document(doc)
        layer = doc.graph.nodes[node].layer_id
        SetParam(layer, "expression", "x + 1").redo(doc)
        assert [c.name for c in untrusted_code(doc)] == ["payload"]
        assert may_run("x  +  1") is False
        trust_document(doc)
        assert may_run("(x + 1)")  # the same code, written otherwise


def test_the_guard_ends_with_its_block():
    assert not code_guarded() and may_run("x * 3")
    with code_guard(trusted=[code_key("x * 3")]):
        assert code_guarded() and may_run("x * 3") and not may_run("x * 4")
    assert not code_guarded() and may_run("x * 4")


def test_the_check_worker_runs_only_what_the_parent_trusts(payload):
    doc, node, sentinel = payload
    records = to_records(doc)
    with code_guard():
        assert trusted_code_keys(doc) == []
        reply = check_records(1, records, trusted=[])
        assert [(d.target, d.severity) for d in reply.diagnostics] == [(node, "warning")]
        assert not sentinel.exists()
        trust_document(doc)
        reply = check_records(2, records, trusted=trusted_code_keys(doc))
        assert reply.diagnostics == () and reply.failure == ""
    assert sentinel.exists()


def test_untrusted_code_inside_a_block_is_a_warning_on_the_block_call(payload):
    """The block call says its code was not run, not that the block has errors."""
    doc, node, sentinel = payload
    edits.group_into_block(doc, [node], "wrapped", [(4,)]).redo(doc)
    call = next(n for n in doc.graph.calls() if doc.graph.layer(n.layer_id).is_block)
    with code_guard():
        result = ShapeEngine(doc).shapes()[call.id]
        assert result.outputs is None
        assert result.error is not None and result.error.severity == "warning"
        assert result.error.message == UNTRUSTED_WARNING
    assert not sentinel.exists()
