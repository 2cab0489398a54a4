"""The Preview dock: clicking a node shows its output on the sample batch, computed in the
warm worker process and drawn for its rank, with the stats the core computes; an edit
downstream does not recompute it; an input of pictures shows the pictures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from user_steps import click, click_dock_tab, node_point, node_titled

from layerforge.core.codegen.loader import build_model
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.schema.records import CallNode
from layerforge.core.training.preview import HISTOGRAM_BINS, Previewer, TensorStats
from layerforge.gui.panels.warm_worker import WarmWorker, install_warm_worker
from layerforge.gui.preview_dock import ERROR_COLOUR, MAX_MAPS, stats_text

TIMEOUT = 30_000  # the first request waits for the worker to import Keras


@pytest.fixture(scope="module")
def warm(qapp: Any) -> Iterator[WarmWorker]:
    """One worker process for the module's windows, started ahead as the app starts it."""
    worker = WarmWorker()
    worker.start()
    yield worker
    worker.shutdown()


@pytest.fixture
def dock(window: Any, warm: WarmWorker) -> Any:
    install_warm_worker(window, warm)
    return window.preview


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
        qtbot: Any, window: Any, dock: Any) -> None:
    assert window.open_template("separable-convnet")
    conv = select(qtbot, window, "separable_conv2d_2", wait=False)
    qtbot.wait(50)
    assert dock.result is None and dock._request_id is None  # behind the Summary tab
    sparklines: list[dict[str, list[float]]] = []
    dock.sparklines_changed.connect(sparklines.append)
    click_dock_tab(qtbot, window, "Preview")
    wait_for_preview(qtbot, window, conv)
    # Untrained weights are drawn from a seed: this process's Previewer sees the same numbers.
    expected = Previewer(window.session.doc).preview(conv)
    np.testing.assert_allclose(dock.preview.tensors[0], expected.tensors[0], atol=1e-5)
    shown, want = dock.preview.stats[0], expected.stats[0]
    assert (shown.mean, shown.std) == pytest.approx((want.mean, want.std), rel=1e-4)
    assert dock.stats.text() == stats_text(shown) and f"mean {shown.mean:.4g}" in \
        dock.stats.text()
    channels = dock.preview.tensors[0].shape[-1]
    assert dock.channel.isVisibleTo(dock) and dock.channel.maximum() == channels - 1
    assert dock.image_axes() == min(MAX_MAPS, channels)
    assert dock.canvas.bars == shown.histogram  # the histogram's bars
    assert dock.canvas.titles()[:2] == ["0", "1"]
    painted = dock.canvas.grab().toImage()
    assert len({painted.pixel(x, y) for x in range(0, painted.width(), 7)
                for y in range(0, painted.height(), 7)}) > 10  # maps, not a blank widget
    dock.channel.setValue(channels - 4)  # the last four channels
    assert dock.image_axes() == 4
    assert dock.canvas.titles() == [str(c) for c in range(channels - 4, channels)]

    # Every call node's sparkline follows the first preview.
    qtbot.waitUntil(lambda: bool(sparklines), timeout=TIMEOUT)
    calls = {n.id for n in window.session.doc.graph.calls()}
    assert set(sparklines[-1]) == calls
    assert all(len(b) == HISTOGRAM_BINS and max(b) == 1.0 and min(b) >= 0.0
               for b in sparklines[-1].values())

    dense = select(qtbot, window, "dense")
    assert dock.preview.tensors[0].ndim == 2 and not dock.channel.isVisibleTo(dock)
    assert dock.image_axes() == 1  # one batch × units heatmap

    # Change the last layer's units: the selected Dense lies upstream of it.
    runs = dock.result.runs
    doc = window.session.doc
    predictions = next(n for n in doc.graph.calls() if isinstance(n, CallNode)
                       and doc.graph.layer(n.layer_id).name == "predictions")
    assert window.session.push(SetParam(predictions.layer_id, "units", 7))
    window.session.analyze()
    wait_for_preview(qtbot, window, dense)
    assert not dock.result.computed and dock.result.runs == runs  # served from the cache
    # An edit upstream of it recomputes it.
    conv_layer = doc.graph.node(conv).layer_id
    assert window.session.push(SetParam(conv_layer, "activation", "tanh"))
    window.session.analyze()
    wait_for_preview(qtbot, window, dense)
    assert dock.result.computed and dock.result.runs > runs


def test_the_input_of_an_image_template_shows_the_pictures(qtbot: Any, window: Any,
                                                           dock: Any) -> None:
    assert window.open_template("separable-convnet")
    click_dock_tab(qtbot, window, "Preview")
    select(qtbot, window, "image")
    batch = dock.preview.tensors[0]
    assert batch.ndim == 4 and batch.shape[-1] == 3 and dock.shows_images()
    assert dock.image_axes() == batch.shape[0]  # one picture per sample, not 3 channel maps
    assert not dock.channel.isVisibleTo(dock)
    assert dock.canvas.titles() == [f"sample {i}" for i in range(batch.shape[0])]
    # Each picture is the sample itself, its colours stretched over its range.
    sample = batch[0]
    scaled = (sample - sample.min()) / (sample.max() - sample.min())
    image = dock.canvas.tiles[0][1]
    assert (image.width(), image.height()) == (sample.shape[1], sample.shape[0])
    pixel = image.pixelColor(5, 7)
    assert (pixel.red(), pixel.green(), pixel.blue()) == tuple(
        int(v) for v in (scaled[7, 5] * 255).astype(np.uint8))


def test_nan_and_inf_counts_show_in_red_only_when_there_are_any() -> None:
    clean = TensorStats(0.5, 0.1, 0.0, 1.0, 10.0, 0, 0, (1,) * 16)
    assert ERROR_COLOUR not in stats_text(clean) and "NaN 0 · Inf 0" in stats_text(clean)
    assert f'color:{ERROR_COLOUR}">NaN 3 · Inf 0' in stats_text(
        TensorStats(0.5, 0.1, 0.0, 1.0, 10.0, 3, 0, (1,) * 16))


def test_a_model_that_cannot_be_built_says_why(qtbot: Any, window: Any, dock: Any) -> None:
    assert window.open_template("separable-convnet")
    click_dock_tab(qtbot, window, "Preview")
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


def test_texts_show_as_words_and_an_embedding_as_a_sequence_heatmap(
        qtbot: Any, window: Any, dock: Any) -> None:
    assert window.open_template("text-classifier")
    click_dock_tab(qtbot, window, "Preview")
    graph = window.session.doc.graph
    embedding = next(n for n in graph.calls()
                     if graph.layer(n.layer_id).class_name == "Embedding")
    select(qtbot, window, graph.layer(embedding.layer_id).name)
    assert dock.preview.tensors[0].ndim == 3 and not dock.channel.isVisibleTo(dock)
    assert dock.image_axes() == 1
    assert dock.canvas.heading.startswith("sequence × features")

    select(qtbot, window, "text")  # the raw texts of the string input
    texts = [str(t[0], "utf-8") if isinstance(t[0], bytes) else str(t[0])
             for t in dock.preview.tensors[0]]
    assert "Raw texts" in dock.message.text() and dock.words.isVisibleTo(dock)
    assert dock.words.text().splitlines() == [f"{i}: {t}" for i, t in enumerate(texts)]

    vectorize = next(n for n in graph.calls()
                     if graph.layer(n.layer_id).class_name == "TextVectorization")
    select(qtbot, window, graph.layer(vectorize.layer_id).name)  # token ids, read back
    shown = dock.words.text().splitlines()
    assert dock.words.isVisibleTo(dock) and len(shown) == len(texts)
    for line, text in zip(shown, texts, strict=True):
        words = line.split(": ", 1)[1].split()
        assert words and set(words) <= set(text.lower().split()) | {"[UNK]"}


def test_a_layer_with_nan_weights_shows_its_nan_count_in_red(qtbot: Any, window: Any,
                                                             dock: Any) -> None:
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
    assert f'color:{ERROR_COLOUR}">NaN {kernel.shape[1] * dock.result.samples} · Inf 0' in \
        dock.stats.text()


def test_a_worker_that_died_is_restarted_and_answers(qtbot: Any, window: Any,
                                                     dock: Any, warm: WarmWorker) -> None:
    assert window.open_template("sequential-mlp")
    click_dock_tab(qtbot, window, "Preview")
    warm.process._process.kill()  # as a crash would
    warm.process._process.join(5)
    restarts = warm.process.restarts
    dense = next(n for n in window.session.doc.graph.calls()
                 if window.session.doc.graph.layer(n.layer_id).class_name == "Dense")
    select(qtbot, window, window.session.doc.graph.layer(dense.layer_id).name)
    assert warm.process.restarts == restarts + 1 and dock.stats.isVisibleTo(dock)
