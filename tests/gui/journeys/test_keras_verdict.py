"""Journey: a graph Keras refuses never shows "No problems". In the Inception template, the
user sets branch_a's strides from 2 to 1: its branch no longer matches the others, so the
Concatenate node gets an error mark and Diagnostics a row within a second; undo clears
both."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from user_steps import click, click_menu, node_point, node_titled, shortcut, type_into

CTRL = Qt.KeyboardModifier.ControlModifier


def diagnostics_rows(window: Any) -> list[str]:
    listing = window.diagnostics.list
    return [listing.item(i).text() for i in range(listing.count())]


def test_concatenate_refusal_is_marked_within_a_second_and_undo_clears_it(
        window: Any, qtbot: Any) -> None:
    click_menu(qtbot, window, "File", "New from template", "7.1.4  Inception module")
    qtbot.waitUntil(lambda: window.session.doc.meta.title == "Inception module")
    qtbot.wait(50)
    qtbot.waitUntil(lambda: window.diagnostics.header.text() == "No problems")
    concat = window.view.canvas_scene.nodes[node_titled(window, "inception_output", "Concatenate")]
    assert concat.severity is None

    branch = node_titled(window, "branch_a")
    click(window.view.viewport(), node_point(window, branch))
    qtbot.waitUntil(lambda: window.view.selected_node_ids() == [branch])
    started = time.perf_counter()
    type_into(window.inspector.editors["strides"], "1")
    qtbot.waitUntil(lambda: concat.severity == "error", timeout=1000)
    qtbot.waitUntil(lambda: any("inception_output" in row and "Concatenate" in row
                                for row in diagnostics_rows(window)), timeout=1000)
    assert time.perf_counter() - started < 1.0
    assert window.diagnostics.header.text() != "No problems"
    out_edge = next(e for e in window.session.doc.graph.edges.values()
                    if e.src == node_titled(window, "inception_output", "Concatenate"))
    # No shape Keras would refuse is shown after the refused node.
    assert window.view.canvas_scene.edges[out_edge.id].label in ("", "?")

    shortcut(window, Qt.Key.Key_Z, CTRL)
    qtbot.waitUntil(lambda: window.diagnostics.header.text() == "No problems", timeout=1000)
    assert concat.severity is None
    assert window.view.canvas_scene.edges[out_edge.id].label == "(None, 16, 16, 512)"
