"""A user gives a keras.applications node pretrained weights in the inspector: ImageNet
weights from the Keras cache, or a file chosen with the weights field's "Choose…" button.
Without the cached file the node says which file is missing and where it goes, and stays
editable. The weights files are written by the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QPushButton
from user_steps import shortcut, type_into

CTRL = Qt.KeyboardModifier.ControlModifier
CACHED_NAME = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"


def from_palette(window: Any, qtbot: Any, name: str) -> str:
    """Type the name in the palette's search box and press Enter: the new node is selected."""
    before = set(window.view.canvas_scene.nodes)
    type_into(window.palette.search, name)
    qtbot.waitUntil(lambda: len(set(window.view.canvas_scene.nodes) - before) == 1)
    (new,) = set(window.view.canvas_scene.nodes) - before
    qtbot.waitUntil(lambda: window.view.selected_node_ids() == [new])
    return new


def node_errors(window: Any, node_id: str) -> list[str]:
    """The errors the live pass shows on the node (it is not connected to an output yet: a
    warning, left out)."""
    window.session.analyze()
    return [d.message for d in window.session.diagnostics
            if d.target == node_id and d.severity == "error"]


def saved_base(path: Path) -> Any:
    import keras  # the window's loader has imported it already

    model = keras.applications.MobileNetV2(include_top=False, weights=None,
                                           input_shape=(96, 96, 3))
    model.save(path)  # .h5: the layout of keras.applications' own files
    return model


def test_weights_from_the_cache_or_a_chosen_file(window: Any, qtbot: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    (tmp_path / "keras_home" / "models").mkdir(parents=True)
    shortcut(window, Qt.Key.Key_N, CTRL)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.editor_page)
    from_palette(window, qtbot, "Input")
    type_into(window.inspector.editors["shape"], "96, 96, 3")
    app = from_palette(window, qtbot, "MobileNetV2")
    inspector = window.inspector
    qtbot.waitUntil(lambda: "weights_file" in inspector.editors)
    layer = lambda: window.session.doc.graph.layer_of(app)  # noqa: E731

    # ImageNet weights while the cache does not hold them: one message on the node.
    weights = inspector.editors["weights"]
    weights.setCurrentIndex(weights.findData("imagenet"))
    weights.activated.emit(weights.currentIndex())  # what choosing the item does
    assert layer().params["weights"] == "imagenet"
    (message,) = node_errors(window, app)
    assert CACHED_NAME in message and str(tmp_path / "keras_home" / "models") in message

    # The node stays editable; once the file is in the cache, the weights load.
    saved_base(tmp_path / "keras_home" / "models" / CACHED_NAME)
    type_into(inspector.editors["name"], "base")
    assert layer().name == "base"
    assert node_errors(window, app) == []

    # A file chosen with the button: its path is the parameter, the node has no problem.
    picked = tmp_path / "my_base.h5"
    saved_base(picked)
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args, **kwargs: (str(picked), "")))
    button = inspector.findChild(QPushButton, "choose_weights_file")
    assert button is not None
    qtbot.waitUntil(button.isVisible)
    button.click()
    assert layer().params["weights_file"] == str(picked)
    assert inspector.editors["weights_file"].text() == str(picked)
    assert node_errors(window, app) == []

    # A file of another architecture: one message naming it; undo goes back.
    wrong = tmp_path / "wrong.h5"
    import keras

    inputs = keras.Input((96, 96, 3))
    keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs)).save(wrong)
    type_into(inspector.editors["weights_file"], str(wrong))
    (message,) = node_errors(window, app)
    assert "wrong.h5" in message
    shortcut(window, Qt.Key.Key_Z, CTRL)
    assert layer().params["weights_file"] == str(picked)
