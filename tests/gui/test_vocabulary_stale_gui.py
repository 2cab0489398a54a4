"""In the window: after Adapt vocabulary, a new max_tokens typed in the inspector puts a
warning on the node (in the Problems list) until the user adapts again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from test_vocabulary import adapt_row, open_classifier
from text_projects import write_texts
from user_steps import type_into

STALE = "vocabulary adapted before max_tokens changed; Adapt vocabulary again"


def problems(window: Any) -> list[str]:
    listed = window.diagnostics.list
    return [listed.item(i).text() for i in range(listed.count())]


def adapt(window: Any, qtbot: Any) -> None:
    row = adapt_row(window)
    qtbot.mouseClick(row.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row.button.isEnabled(), timeout=30_000)
    assert row.status.text().startswith("Adapted:")


def test_a_new_max_tokens_warns_until_adapted_again(window: Any, qtbot: Any,
                                                    tmp_path: Path) -> None:
    folder = write_texts(tmp_path / "texts", 20, seed=1)
    node_id = open_classifier(window, qtbot, tmp_path, folder)
    adapt(window, qtbot)
    window.session.analyze()
    assert not any(STALE in p for p in problems(window))
    type_into(window.inspector.editors["max_tokens"], "40")
    qtbot.waitUntil(lambda: window.session.doc.graph.layer_of(node_id).params["max_tokens"]
                    == 40, timeout=3000)
    qtbot.waitUntil(lambda: any(STALE in p for p in problems(window)), timeout=5000)
    stale = [d for d in window.session.diagnostics if d.code == "vocabulary-stale"]
    assert [d.target for d in stale] == [node_id]
    adapt(window, qtbot)
    qtbot.waitUntil(lambda: not any(STALE in p for p in problems(window)), timeout=5000)
