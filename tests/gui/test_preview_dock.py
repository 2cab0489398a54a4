"""The Preview dock: clicking a node shows its output on the sample batch, drawn for its rank,
with the stats the core computes; an edit downstream does not recompute it."""

from __future__ import annotations

from typing import Any

import numpy as np
from user_steps import click, click_dock_tab, node_point, node_titled

from layerforge.core.codegen.loader import build_model
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.schema.records import CallNode
from layerforge.core.training.preview import Previewer, TensorStats
from layerforge.gui.preview_dock import ERROR_COLOUR, MAX_MAPS, stats_text

TIMEOUT = 20_000


def select(qtbot: Any, window: Any, name: str, wait: bool = True) -> str:
    node_id = node_titled(window, name)
    window.view.ensureVisible(window.view.canvas_scene.nodes[node_id])
    click(window.view.viewport(), node_point(window, node_id))
    if wait:
        wait_for_preview(qtbot, window, node_id)
    return node_id


def wait_for_preview(qtbot: Any, window: Any, node_id: str) -> None:
    qtbot.waitUntil(lambda: window.preview.preview is not None
                    and window.preview.preview.node_id == node_id, timeout=TIMEOUT)


def test_clicking_nodes_shows_their_output_and_a_downstream_edit_recomputes_nothing(
        qtbot: Any, window: Any) -> None:
    assert window.open_template("separable-convnet")
    dock = window.preview
    conv = select(qtbot, window, "separable_conv2d_2", wait=False)
    qtbot.wait(50)
    assert dock.previewer is None  # behind the Summary tab, nothing runs
    click_dock_tab(qtbot, window, "Preview")
    wait_for_preview(qtbot, window, conv)
    # A fresh build draws new untrained weights: the test's Previewer takes the dock's.
    mine = Previewer(window.session.doc)
    mine.model.set_weights(dock.previewer.model.get_weights())
    assert (mine.batch.keys() == dock.previewer.batch.keys()
            and all((mine.batch[k] == dock.previewer.batch[k]).all() for k in mine.batch))
    expected = mine.preview(conv).stats[0]
    assert dock.preview.stats[0] == expected
    assert dock.stats.text() == stats_text(expected)
    assert f"mean {expected.mean:.4g}" in dock.stats.text()
    channels = dock.preview.tensors[0].shape[-1]
    assert dock.channel.isVisibleTo(dock) and dock.channel.maximum() == channels - 1
    assert dock.image_axes() == min(MAX_MAPS, channels)
    assert dock.figure.axes[-1].patches  # the histogram's bars
    dock.channel.setValue(channels - 4)  # the last four channels
    assert dock.image_axes() == 4

    dense = select(qtbot, window, "dense")
    assert dock.preview.tensors[0].ndim == 2 and not dock.channel.isVisibleTo(dock)
    assert dock.image_axes() == 1  # one batch × units heatmap

    # Change the last layer's units: the selected Dense lies upstream of it.
    runs = dock.previewer.runs
    doc = window.session.doc
    predictions = next(n for n in doc.graph.calls() if isinstance(n, CallNode)
                       and doc.graph.layer(n.layer_id).name == "predictions")
    assert window.session.push(SetParam(predictions.layer_id, "units", 7))
    window.session.analyze()
    # The preview shown before the edit already is the Dense's: wait for the update itself.
    qtbot.waitUntil(lambda: dock.previewer.model.get_layer("predictions").units == 7,
                    timeout=TIMEOUT)
    qtbot.waitUntil(lambda: dock.preview is not None and dock.preview.node_id == dense,
                    timeout=TIMEOUT)
    assert dock.previewer.runs == runs


def test_nan_and_inf_counts_show_in_red_only_when_there_are_any() -> None:
    clean = TensorStats(0.5, 0.1, 0.0, 1.0, 10.0, 0, 0, (1,) * 16)
    assert ERROR_COLOUR not in stats_text(clean) and "NaN 0 · Inf 0" in stats_text(clean)
    assert f'color:{ERROR_COLOUR}">NaN 3 · Inf 0' in stats_text(
        TensorStats(0.5, 0.1, 0.0, 1.0, 10.0, 3, 0, (1,) * 16))


def test_a_model_that_cannot_be_built_says_why(qtbot: Any, window: Any) -> None:
    assert window.open_template("separable-convnet")
    click_dock_tab(qtbot, window, "Preview")
    dock = window.preview
    assert "Select a node" in dock.message.text()
    conv = select(qtbot, window, "separable_conv2d_2")
    layer_id = window.session.doc.graph.node(conv).layer_id
    assert window.session.push(SetParam(layer_id, "kernel_size", 200))  # larger than its input
    window.session.analyze()
    qtbot.waitUntil(lambda: "cannot be built" in dock.message.text(), timeout=TIMEOUT)
    assert "Traceback" not in dock.message.text() and not dock.stats.isVisibleTo(dock)
    window.session.undo_stack.undo()
    window.session.analyze()
    wait_for_preview(qtbot, window, conv)
    assert dock.stats.isVisibleTo(dock)


def test_an_embedding_shows_a_sequence_heatmap_and_a_string_input_says_why_not(
        qtbot: Any, window: Any) -> None:
    assert window.open_template("text-classifier")
    click_dock_tab(qtbot, window, "Preview")
    dock = window.preview
    embedding = next(n for n in window.session.doc.graph.calls()
                     if window.session.doc.graph.layer(n.layer_id).class_name == "Embedding")
    select(qtbot, window, window.session.doc.graph.layer(embedding.layer_id).name)
    assert dock.preview.tensors[0].ndim == 3 and not dock.channel.isVisibleTo(dock)
    assert dock.image_axes() == 1
    assert "sequence" in dock.figure.axes[0].get_title()

    select(qtbot, window, "text")
    assert "tensor of strings" in dock.message.text() and not dock.stats.isVisibleTo(dock)


def test_a_layer_with_nan_weights_shows_its_nan_count_in_red(qtbot: Any, window: Any) -> None:
    assert window.open_template("sequential-mlp")
    doc = window.session.doc
    dense = next(n for n in doc.graph.topological_order()
                 if isinstance(doc.graph.node(n), CallNode)
                 and doc.graph.layer_of(n).class_name == "Dense")
    layer = doc.graph.layer_of(dense)
    kernel, bias = build_model(doc).get_layer(layer.name).get_weights()
    doc.weights[layer.id] = [np.full_like(kernel, np.nan), bias]  # as a weights file might hold
    click_dock_tab(qtbot, window, "Preview")
    select(qtbot, window, layer.name)
    assert f'color:{ERROR_COLOUR}">NaN {kernel.shape[1] * 4} · Inf 0' in \
        window.preview.stats.text()
