"""Render the README's pictures headless: `make screenshots` runs this.

Each picture is the real window at 1400x900 once Keras has loaded and the shapes are
known. Two show templates; one shows a model built from an empty project by the same
edit commands the canvas pushes (the book's question-answering model, listing 7-1);
one shows the error state a user meets when a branch of the Inception module no longer
matches the others.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

OUT = Path(__file__).resolve().parent.parent / "assets" / "screenshots"


def question_answering(window: Any) -> None:
    """Listing 7-1 drawn from scratch: two Input → Embedding → LSTM branches, Concatenate,
    Dense(500, softmax) and an Output, pushed one edit at a time."""
    from layerforge.core.editing import edits

    session = window.session
    window.new_project()

    def push(factory: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        command = factory(session.doc, *args, **kwargs)
        assert session.push(command), command.text
        node = getattr(command, "node", None)
        return node.id if node is not None else ""

    branches = []
    for column, name in enumerate(("text", "question")):
        x = column * 260.0
        source = push(edits.add_input, [None], name=name, dtype="int32", position=(x, 0.0))
        embedded = push(edits.add_layer, "Embedding", {"input_dim": 10000, "output_dim": 64},
                        name=f"embedded_{name}", position=(x, 120.0))
        encoded = push(edits.add_layer, "LSTM", {"units": 32}, name=f"encoded_{name}",
                       position=(x, 240.0))
        push(edits.connect, source, embedded)
        push(edits.connect, embedded, encoded)
        branches.append(encoded)
    concat = push(edits.add_layer, "Concatenate", name="concatenated", position=(130.0, 360.0))
    answer = push(edits.add_layer, "Dense", {"units": 500, "activation": "softmax"},
                  name="answer", position=(130.0, 480.0))
    output = push(edits.add_output, position=(130.0, 600.0))
    for branch in branches:
        push(edits.connect, branch, concat)
    push(edits.connect, concat, answer)
    push(edits.connect, answer, output)


def inception_refused(window: Any) -> None:
    """The Inception module with branch_a's strides set to 1: Concatenate refuses it."""
    from layerforge.core.editing.graph_commands import SetParam

    window.open_template("inception-module")
    doc = window.session.doc
    layer = next(lay for lay in doc.graph.layers.values() if lay.name == "branch_a")
    window.session.push(SetParam(layer.id, "strides", [1, 1]))


def concat_node(window: Any) -> str | None:
    graph = window.session.doc.graph
    return next((node.id for node in graph.calls()
                 if graph.layer(node.layer_id).class_name == "Concatenate"), None)


def main() -> int:
    from layerforge.gui.app import exit_now, make_application, take_screenshot

    make_application()
    from layerforge.gui.main_window import MainWindow

    shots: list[tuple[str, Callable[[Any], Any], Callable[[Any], str | None] | None]] = [
        ("inception.png", lambda w: w.open_template("inception-module"), None),
        ("multi-output.png", lambda w: w.open_template("social-media-multi-output"), None),
        ("from-scratch.png", question_answering, None),
        ("error-state.png", inception_refused, concat_node),
    ]
    status = 0
    for name, prepare, select in shots:
        window = MainWindow(restore=False)
        prepare(window)
        status |= take_screenshot(window, OUT / name, select(window) if select else None)
        window.hide()  # closing would ask to save the drawn model
    return exit_now(status)  # also ends the windows' worker processes


if __name__ == "__main__":
    sys.exit(main())
