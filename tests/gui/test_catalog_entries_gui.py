"""The layers the catalog gained (HashedCrossing, STFTSpectrogram, TFSMLayer) are found by
name in the palette and placed from it; a TFSMLayer's SavedModel folder is typed in the
inspector, and until it names a SavedModel the node says which path it expected. A model
file naming a SavedModel loads it only once the user trusts it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from user_steps import click_menu, shortcut, type_into

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.schema.trust import UNTRUSTED_CODE, code_guard
from layerforge.gui import files
from layerforge.gui.palette import Palette

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.mark.parametrize("name", ["HashedCrossing", "STFTSpectrogram", "TFSMLayer"])
def test_search_finds_the_new_entries(qtbot: Any, name: str) -> None:
    palette = Palette()
    qtbot.addWidget(palette)
    palette.set_catalog(get_catalog())
    palette.show()
    qtbot.keyClicks(palette.search, name)
    assert palette.visible_layers() == [name]
    with qtbot.waitSignal(palette.layer_activated) as blocker:
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert blocker.args == [name]


def from_palette(window: Any, qtbot: Any, name: str) -> str:
    """Type the name in the palette's search box and press Enter: the new node is selected."""
    before = set(window.view.canvas_scene.nodes)
    type_into(window.palette.search, name)
    qtbot.waitUntil(lambda: len(set(window.view.canvas_scene.nodes) - before) == 1)
    (new,) = set(window.view.canvas_scene.nodes) - before
    qtbot.waitUntil(lambda: window.view.selected_node_ids() == [new])
    return new


def node_errors(window: Any, node_id: str) -> list[str]:
    window.session.analyze()
    return [d.message for d in window.session.diagnostics
            if d.target == node_id and d.severity == "error"]


def test_a_tfsm_layer_loads_the_saved_model_typed_in_the_inspector(
        window: Any, qtbot: Any, tmp_path: Path) -> None:
    import keras  # the window's loader has imported it already

    inputs = keras.Input((4,))
    saved = tmp_path / "encoder"
    keras.Model(inputs, keras.layers.Dense(3)(inputs)).export(str(saved), verbose=False)
    shortcut(window, Qt.Key.Key_N, CTRL)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.editor_page)
    from_palette(window, qtbot, "Input")
    type_into(window.inspector.editors["shape"], "4")
    node = from_palette(window, qtbot, "TFSMLayer")
    assert window.session.doc.graph.layer_of(node).class_name == "TFSMLayer"
    qtbot.waitUntil(lambda: "filepath" in window.inspector.editors)
    missing = tmp_path / "nowhere"
    type_into(window.inspector.editors["filepath"], str(missing))
    (message,) = node_errors(window, node)
    assert f"expected a SavedModel folder at '{missing}'" in message
    type_into(window.inspector.editors["filepath"], str(saved))  # still editable
    assert window.session.doc.graph.layer_of(node).params["filepath"] == str(saved)
    assert node_errors(window, node) == []
    assert window.session.engine().shapes()[node].outputs == ((None, 3),)  # the SavedModel's


@pytest.fixture
def guarded() -> Iterator[None]:
    """The window guards this process when it opens untrusted code; the tests after it
    find the process as it was."""
    with code_guard():
        yield


def test_a_keras_file_loads_its_saved_model_only_once_trusted(
        window: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        guarded: None) -> None:
    import keras  # the window's loader has imported it already

    inputs = keras.Input((4,))
    saved = tmp_path / "encoder"
    keras.Model(inputs, keras.layers.Dense(3)(inputs)).export(str(saved), verbose=False)
    x = keras.Input((4,), name="x")
    encoder = keras.layers.TFSMLayer(str(saved), name="encoder")
    keras.Model(x, keras.layers.Dense(2)(encoder(x))).save(tmp_path / "m.keras")
    asked: list[list[str]] = []
    answer = False

    def ask_trust(parent: Any, name: str, code: list[str]) -> bool:
        asked.append(code)
        return answer

    monkeypatch.setattr(files, "ask_trust", ask_trust)
    monkeypatch.setattr(files, "choose_open_path", lambda parent: str(tmp_path / "m.keras"))
    click_menu(qtbot, window, "File", "Open…")
    qtbot.waitUntil(lambda: bool(window.view.canvas_scene.nodes))
    assert asked == [[f"encoder: SavedModel {saved}"]]
    window.session.analyze()
    graph = window.session.doc.graph
    (node,) = [n.id for n in graph.nodes.values() if n.kind == "call"
               and graph.layer_of(n.id).class_name == "TFSMLayer"]
    assert window.session.engine().shapes()[node].outputs is None
    assert any(d.target == node and d.code == UNTRUSTED_CODE for d in window.session.diagnostics)
    answer = True
    click_menu(qtbot, window, "File", "Trust Project Code…")
    window.session.analyze()
    assert window.session.engine().shapes()[node].outputs == ((None, 3),)
