"""File → Compare With…: the canvas coloured by the difference from another model, through
the File menu (the file dialog answered), and File → Clear Comparison."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.keras_import.graph import import_model
from layerforge.core.io.project import dumps
from layerforge.core.io.templates import load_template
from layerforge.gui import compare
from layerforge.gui.compare import ADDED, CHANGED, Ghost, Halo

pytestmark = pytest.mark.usefixtures("qapp")


def reference_file(path: Path) -> Path:
    """inception-module with branch_b_2 narrowed to 64 filters, without branch_d_3, and with
    an Activation 'extra_relu' between branch_a and the concatenation."""
    records = json.loads(dumps(load_template("inception-module")))
    graph = records["graph"]
    ids = {layer["name"]: layer["id"] for layer in graph["layers"]}
    node_of = {node["layer"]: node["id"] for node in graph["nodes"] if node["kind"] == "call"}
    next(layer for layer in graph["layers"] if layer["name"] == "branch_b_2")["params"][
        "filters"] = 64
    gone = node_of[ids["branch_d_3"]]
    graph["layers"] = [layer for layer in graph["layers"] if layer["name"] != "branch_d_3"]
    graph["nodes"] = [node for node in graph["nodes"] if node["id"] != gone]
    graph["edges"] = [e for e in graph["edges"] if gone not in (e["src"], e["dst"])]
    branch_a = node_of[ids["branch_a"]]
    into_concat = next(e for e in graph["edges"] if e["src"] == branch_a)
    graph["layers"].append({"id": "extra", "class_name": "Activation", "name": "extra_relu",
                            "params": {"activation": "relu"}})
    graph["nodes"].append({"id": "extra_call", "kind": "call", "layer": "extra",
                           "position": [-330.0, 220.0]})
    graph["edges"].append({**into_concat, "id": "to_extra", "dst": "extra_call", "dst_slot": 0})
    into_concat["src"] = "extra_call"
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def menu_action(win: Any, menu: str, text: str) -> Any:
    bar = next(a.menu() for a in win.menuBar().actions() if a.text().replace("&", "") == menu)
    return next(a for a in bar.actions() if a.text().replace("&", "") == text)


def halos(win: Any, name: str) -> list[Halo]:
    scene = win.view.canvas_scene
    layer_id = next(lid for lid, layer in scene.graph.layers.items() if layer.name == name)
    return [child for node_id in scene.calls[layer_id]
            for child in scene.nodes[node_id].childItems() if isinstance(child, Halo)]


def ghosts(win: Any) -> list[Ghost]:
    return [item for item in win.view.canvas_scene.items() if isinstance(item, Ghost)]


def test_compare_with_colours_the_canvas_until_cleared(
        window: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    win = window
    assert win.open_template("inception-module")
    reference = reference_file(tmp_path / "reference.json")
    monkeypatch.setattr(compare, "choose_compare_path", lambda parent: str(reference))
    menu_action(win, "File", "Compare With…").trigger()

    [changed] = halos(win, "branch_b_2")
    assert changed.colour == CHANGED
    assert "filters: 64 → 128" in changed.toolTip()
    [added] = halos(win, "branch_d_3")
    assert added.colour == ADDED and "reference.json" in added.toolTip()
    assert halos(win, "branch_a") == []
    [ghost] = ghosts(win)
    assert ghost.title.startswith("extra_relu") and "removed" in ghost.toolTip()
    assert win.compare_label.isVisible()
    assert win.compare_label.text() == ("Compared with reference.json: 1 added (green), "
                                        "1 changed (amber), 1 removed (ghosts), 2 rewired")

    # An edit that makes branch_b_2 equal again takes its amber halo away.
    layer_id = next(lid for lid, layer in win.session.doc.graph.layers.items()
                    if layer.name == "branch_b_2")
    win.session.push(SetParam(layer_id, "filters", 64))
    qtbot.waitUntil(lambda: halos(win, "branch_b_2") == [], timeout=5000)
    assert len(halos(win, "branch_d_3")) == 1

    menu_action(win, "File", "Clear Comparison").trigger()
    assert halos(win, "branch_d_3") == [] and ghosts(win) == []
    assert not win.compare_label.isVisible()


def test_a_file_that_cannot_be_read_is_reported(window: Any, isolated: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    win = window
    assert win.open_template("inception-module")
    monkeypatch.setattr(compare, "choose_compare_path", lambda parent: "/no/such/model.keras")
    menu_action(win, "File", "Compare With…").trigger()
    [(title, text)] = isolated.notes
    assert title == "Compare with" and "no such file" in text
    assert not win.comparison.active


def stem_model(filters: int) -> Any:
    import keras  # the window's tests load it once (keras_loaded)

    inputs = keras.Input((8, 8, 3), name="image")
    stem = keras.Sequential([keras.layers.Conv2D(filters, 3, name="stem_conv"),
                             keras.layers.BatchNormalization(name="stem_bn")], name="stem")
    outputs = keras.layers.GlobalAveragePooling2D(name="pool")(stem(inputs))
    return keras.Model(inputs, outputs, name="small")


def test_a_block_shows_the_difference_inside_it(window: Any, qtbot: Any, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    win = window
    win.session.replace_document(import_model(stem_model(6)))
    reference = tmp_path / "stem4.keras"
    with zipfile.ZipFile(reference, "w") as archive:  # the architecture is all it reads
        archive.writestr("config.json",
                         json.dumps(keras.saving.serialize_keras_object(stem_model(4))))
    monkeypatch.setattr(compare, "choose_compare_path", lambda parent: str(reference))
    menu_action(win, "File", "Compare With…").trigger()
    [stem] = halos(win, "stem")
    assert stem.colour == CHANGED and "inside: 0 added, 0 removed, 1 changed" in stem.toolTip()

    block = win.session.doc.block_named("stem")
    assert block is not None
    win.show_graph(block.id)
    qtbot.waitUntil(lambda: len(halos(win, "stem_conv")) == 1, timeout=5000)
    [conv] = halos(win, "stem_conv")
    assert conv.colour == CHANGED and "filters: 4 → 6" in conv.toolTip()
    assert halos(win, "stem_bn") == []
