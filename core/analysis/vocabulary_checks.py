"""A saved vocabulary that no longer fits its layer: adapted in the app before one of the
settings that shape it (``max_tokens``, ``standardize``, ``split``, ``ngrams``) or the data
bound to its input changed. A warning on the node until it is adapted again."""

from __future__ import annotations

from ..codegen.vocabulary import ADAPT_RECORDS, stale_setting, vocabulary_uses
from ..document.document import Document
from ..schema.diagnostics import Diagnostic

STALE_CODE = "vocabulary-stale"


def vocabulary_diagnostics(doc: Document) -> list[Diagnostic]:
    """A warning for each vocabulary layer whose saved vocabulary is out of date."""
    if not doc.meta.extra.get(ADAPT_RECORDS):  # nothing adapted in the app: nothing to compare
        return []
    found = []
    for use in vocabulary_uses(doc):
        setting = stale_setting(doc, use)
        if setting is None:
            continue
        what = f"the data bound to input '{use.input_name}'" if setting == "data" else setting
        calls = doc.graph.calls_of(use.layer.id)
        found.append(Diagnostic(calls[0].id if calls else use.layer.id, "warning",
                                f"vocabulary adapted before {what} changed; Adapt vocabulary "
                                "again", STALE_CODE))
    return found
