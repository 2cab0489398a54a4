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
import tempfile
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


def inception_compared(window: Any) -> None:
    """The Inception module compared with a copy whose branch_b_2 has 64 filters instead of
    128 and one layer fewer on branch_d (the open project has a BatchNormalization there):
    File → Compare With… colours the canvas."""
    import tempfile

    from layerforge.core.editing import edits
    from layerforge.core.editing.graph_commands import SetParam
    from layerforge.core.io.project import save
    from layerforge.core.io.templates import load_template

    other = load_template("inception-module")
    branch_b = next(lay for lay in other.graph.layers.values() if lay.name == "branch_b_2")
    SetParam(branch_b.id, "filters", 64).redo(other)
    path = Path(tempfile.mkdtemp()) / "inception-narrowed.json"
    save(other, path)
    window.open_template("inception-module")
    doc = window.session.doc
    layer = next(lay for lay in doc.graph.layers.values() if lay.name == "branch_d_1")
    node = next(n for n in doc.graph.calls() if n.layer_id == layer.id)
    edge = next(e for e in doc.graph.edges.values() if e.src == node.id)
    window.session.push(edits.insert_on_edge(doc, edge.id, "BatchNormalization"))
    window.comparison.compare_with(path)


def preview_shown(window: Any) -> None:
    """separable-convnet with the Preview dock in front: the selected layer's feature maps
    on a sample batch, computed in the warm worker process."""
    from PySide6.QtCore import Qt

    from layerforge.gui.app import wait_until

    window.warm_worker.start()
    window.resize(1400, 900)
    window.show()
    window.open_template("separable-convnet")
    dock = window.docks["preview"]
    dock.show()
    dock.raise_()
    window.resizeDocks([dock], [560], Qt.Orientation.Vertical)
    wait_until(lambda: window.warm_worker.ready, 120)
    window.view.select_nodes([named_node(window, "separable_conv2d_2") or ""])
    wait_until(lambda: window.preview.preview is not None, 60)
    wait_until(lambda: False, 1.0)  # the sparklines follow the preview


def health_replayed(window: Any) -> None:
    """sequential-mlp whose first Dense starts with biases of -50 after ReLU, trained three
    epochs on scikit-learn's digits: the Runs dock's Health tab replays the run, the canvas
    is coloured by gradient norm, and the dead layer carries a flag."""
    from layerforge.core.editing.graph_commands import SetParam
    from layerforge.core.schema.settings import DataSource
    from layerforge.core.training.fit import train
    from layerforge.core.training.runs import new_run_dir
    from layerforge.gui.canvas.colouring import CanvasColouring

    window.open_template("sequential-mlp")
    doc = window.session.doc
    dense = next(lay for lay in doc.graph.layers.values() if lay.name == "dense")
    window.session.push(SetParam(dense.id, "bias_initializer",
                                 {"class_name": "Constant", "config": {"value": -50.0}}))
    doc.training.epochs = 3
    doc.training.data = {"features": DataSource("sklearn", {"name": "digits", "part": "x"}),
                         "predictions": DataSource("sklearn", {"name": "digits", "part": "y"})}
    runs = window.runs_panel
    run_dir = new_run_dir(runs.project_folder())
    train(doc, doc.training, run_dir=run_dir)
    runs.refresh()
    window.docks["runs"].show()
    window.docks["runs"].raise_()
    runs.tabs.setCurrentWidget(runs.health)
    runs.select_runs([run_dir.name])
    window.findChild(CanvasColouring).choose("Gradient norm")
    window.view.fit_all()


def named_node(window: Any, name: str) -> str | None:
    graph = window.session.doc.graph
    return next((node.id for node in graph.calls() if graph.layer(node.layer_id).name == name),
                None)


def concat_node(window: Any) -> str | None:
    graph = window.session.doc.graph
    return next((node.id for node in graph.calls()
                 if graph.layer(node.layer_id).class_name == "Concatenate"), None)


def render(wanted: set[str]) -> int:
    """Render the pictures named in ``wanted`` (all when empty); 0 when each was written."""
    from layerforge.gui.app import make_application, take_screenshot

    make_application()
    from layerforge.gui.main_window import MainWindow

    shots: list[tuple[str, Callable[[Any], Any], Callable[[Any], str | None] | None]] = [
        ("inception.png", lambda w: w.open_template("inception-module"), None),
        ("multi-output.png", lambda w: w.open_template("social-media-multi-output"), None),
        ("from-scratch.png", question_answering, None),
        ("error-state.png", inception_refused, concat_node),
        ("compare.png", inception_compared, None),
        ("preview.png", preview_shown, lambda w: named_node(w, "separable_conv2d_2")),
        ("health.png", health_replayed, lambda w: named_node(w, "dense")),
    ]
    status = 0
    for name, prepare, select in shots:
        if wanted and name not in wanted:
            continue
        window = MainWindow(restore=False)
        prepare(window)
        status |= take_screenshot(window, OUT / name, select(window) if select else None)
        window.hide()  # closing would ask to save the drawn model
    return status


def main() -> int:
    from layerforge.gui.app import exit_now

    # The health picture trains a run: it goes to a folder of its own, so the Runs dock
    # lists that run alone and the user's data folder gains nothing.
    with tempfile.TemporaryDirectory(prefix="layerforge-screenshots-",
                                     ignore_cleanup_errors=True) as runs:
        os.environ["LAYERFORGE_UNSAVED_RUNS_DIR"] = runs
        status = render(set(sys.argv[1:]))  # e.g. `compare.png`: only the pictures named
    return exit_now(status)  # also ends the windows' worker processes


if __name__ == "__main__":
    sys.exit(main())
