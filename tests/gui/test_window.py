"""The main window driven like a user: gallery, palette drops, inspector edits shown on the
canvas, shortcuts, diagnostics, panels, layout memory and the screenshot command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
)
from PySide6.QtTest import QTest

from layerforge.core.editing import edits
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.templates import list_templates

TEMPLATES = [info.name for info in list_templates()]



def layers_named(win: Any, class_name: str) -> list[Any]:
    return [lay for lay in win.session.doc.graph.layers.values() if lay.class_name == class_name]


def node_of(win: Any, layer: Any) -> str:
    return win.session.doc.graph.calls_of(layer.id)[0].id


def drop(win: Any, class_name: str, pos: QPoint) -> None:
    """What a drag from the palette delivers to the canvas: the palette's own mime data."""
    item = win.palette.item_for(class_name)
    mime: QMimeData = win.palette.tree.mimeData([item])
    viewport = win.view.viewport()
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier)
    QGuiApplication.sendEvent(viewport, QDragEnterEvent(pos, *args))
    QGuiApplication.sendEvent(viewport, QDragMoveEvent(pos, *args))
    QGuiApplication.sendEvent(viewport, QDropEvent(QPointF(pos), *args))


def test_start_page_gallery_opens_a_template(window: Any, qtbot: Any) -> None:
    assert window.stack.currentWidget() is window.start_page
    assert set(window.start_page.cards) == set(TEMPLATES)
    card = window.start_page.cards["inception-module"]
    QTest.mouseClick(card, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.editor_page
    assert window.session.doc.meta.title == "Inception module"
    assert len(window.view.canvas_scene.nodes) == len(window.session.doc.graph.nodes)


@pytest.mark.parametrize("width", [1000, 1400, 1900])
def test_start_page_shows_every_card_whole_at_any_width(window: Any, qtbot: Any,
                                                        width: int) -> None:
    """No column of templates hides behind a horizontal scrollbar: the cards reflow."""
    window.resize(width, 800)
    page = window.start_page
    qtbot.waitUntil(lambda: page.scroll.viewport().width() > 0)
    qtbot.wait(50)
    viewport = page.scroll.viewport()
    assert not page.scroll.horizontalScrollBar().isVisible()
    for card in page.cards.values():
        right = card.mapTo(viewport, QPoint(card.width(), 0)).x()
        assert right <= viewport.width(), f"{card.name} is cut at {right} > {viewport.width()}"
    assert 1 <= page.visible_columns() <= 3


@pytest.mark.parametrize("name", TEMPLATES)
def test_each_template_opens_without_diagnostics(window: Any, name: str) -> None:
    assert window.open_template(name)
    window.session.analyze()
    assert window.session.diagnostics == [], [d.message for d in window.session.diagnostics]
    assert window.diagnostics.header.text() == "No problems"
    total = window.session.total_params()
    assert total is not None and total > 0
    assert window.params_label.text() == f"Params: {total:,}"
    assert window.summary.total.text() == f"Total params: {total:,}"


def test_drop_from_palette_adds_the_layer_where_it_lands(window: Any) -> None:
    window.new_project()
    before = window.session.undo_stack.count()
    drop(window, "Conv2D", QPoint(200, 150))
    conv = layers_named(window, "Conv2D")
    assert len(conv) == 1
    assert window.session.undo_stack.count() == before + 1
    node = window.session.doc.graph.node(node_of(window, conv[0]))
    landed = window.view.mapFromScene(QPointF(*node.position))
    assert abs(landed.x() - 200) < 120 and abs(landed.y() - 150) < 120
    assert window.view.selected_node_ids() == [node.id]
    assert window.inspector.node_id == node.id, "the dropped layer is shown in the inspector"


def test_double_click_in_palette_inserts_after_the_selection(window: Any) -> None:
    window.open_template("sequential-mlp")
    graph = window.session.doc.graph
    last_dense = layers_named(window, "Dense")[-1]
    window.view.select_nodes([node_of(window, last_dense)])
    window.palette.layer_activated.emit("Dropout")
    dropout = layers_named(window, "Dropout")
    assert len(dropout) == 1
    fed = [e.src for e in graph.in_edges(node_of(window, dropout[0]))]
    assert fed == [node_of(window, last_dense)]


def test_inspector_edit_changes_the_edge_shape_on_the_canvas(window: Any, qtbot: Any) -> None:
    window.open_template("sequential-mlp")
    window.session.analyze()
    first = layers_named(window, "Dense")[0]
    node_id = node_of(window, first)
    out_edge = window.session.doc.graph.out_edges(node_id)[0]
    label = window.view.canvas_scene.edges[out_edge.id]
    assert label.label.replace(" ", "") == "(None,32)"
    window.view.select_nodes([node_id])
    units = window.inspector.editors["units"].lineEdit()
    units.setFocus()
    units.selectAll()
    QTest.keyClicks(units, "48")
    QTest.keyClick(units, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: label.label.replace(" ", "") == "(None,48)", timeout=3000)
    assert first.id in window.session.doc.graph.layers
    assert window.session.doc.graph.layer(first.id).params["units"] == 48


def test_undo_redo_shortcuts(window: Any, qtbot: Any) -> None:
    window.open_template("sequential-mlp")
    layer = layers_named(window, "Dense")[0]
    window.session.push(SetParam(layer.id, "units", 5))
    window.view.setFocus()
    QTest.keySequence(window, QKeySequence(QKeySequence.StandardKey.Undo))
    assert window.session.doc.graph.layer(layer.id).params["units"] == 32
    QTest.keySequence(window, QKeySequence("Ctrl+Shift+Z"))
    assert window.session.doc.graph.layer(layer.id).params["units"] == 5
    assert [window.history.model().index(i, 0).data() for i in range(2)][1].startswith("Set")


def test_duplicate_delete_and_select_all_shortcuts(window: Any) -> None:
    window.open_template("sequential-mlp")
    graph = window.session.doc.graph
    count = len(graph.nodes)
    window.view.setFocus()
    window.view.select_nodes([node_of(window, layers_named(window, "Dense")[0])])
    QTest.keySequence(window, QKeySequence("Ctrl+D"))
    assert len(graph.nodes) == count + 1
    QTest.keySequence(window, QKeySequence(QKeySequence.StandardKey.Delete))
    assert len(graph.nodes) == count
    QTest.keySequence(window, QKeySequence(QKeySequence.StandardKey.SelectAll))
    assert len(window.view.selected_node_ids()) == count


def test_diagnostic_click_selects_and_fix_applies(window: Any, qtbot: Any) -> None:
    window.new_project()
    doc = window.session.doc
    add_in = edits.add_input(doc, (16,))
    add_lstm = edits.add_layer(doc, "LSTM", {"units": 4})
    add_out = edits.add_output(doc)
    for command in (add_in, add_lstm, add_out):
        window.session.push(command)
    window.session.push(edits.connect(doc, add_in.node.id, add_lstm.node.id))
    window.session.push(edits.connect(doc, add_lstm.node.id, add_out.node.id))
    window.session.analyze()
    problems = window.diagnostics.diagnostics()
    target = next(d for d in problems if d.target == add_lstm.node.id)
    assert target.fix is not None and target.fix.class_name == "Reshape"
    item = window.diagnostics.list.item(problems.index(target))
    rect = window.diagnostics.list.visualItemRect(item)
    QTest.mouseClick(window.diagnostics.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=rect.center())
    assert window.view.selected_node_ids() == [add_lstm.node.id]
    assert window.inspector.node_id == add_lstm.node.id
    assert window.diagnostics.fix_button.isEnabled()
    QTest.mouseClick(window.diagnostics.fix_button, Qt.MouseButton.LeftButton)
    window.session.analyze()
    assert len(layers_named(window, "Reshape")) == 1
    assert window.session.diagnostics == []
    assert window.diagnostics.header.text() == "No problems"


def test_code_panel_follows_edits_and_copies(window: Any, qtbot: Any) -> None:
    window.open_template("sequential-mlp")
    window.code.regenerate()
    assert "Dense(32" in window.code.source().replace(" ", "").replace("units=", "")
    layer = layers_named(window, "Dense")[0]
    window.session.push(SetParam(layer.id, "units", 77))
    qtbot.waitUntil(lambda: "77" in window.code.source(), timeout=3000)
    QTest.mouseClick(window.code.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == window.code.source()


def test_status_bar_shows_keras_device_and_params(window: Any) -> None:
    window.open_template("residual-identity")
    window.session.analyze()
    assert window.keras_label.text().startswith("Keras ")
    assert window.device_label.text() in ("Device: CPU",) or \
        window.device_label.text().startswith("Device: GPU")
    assert window.params_label.text() == f"Params: {window.session.total_params():,}"


def test_bottom_docks_leave_the_inspector_its_height(window: Any, qtbot: Any) -> None:
    """Diagnostics shows several rows, and raising the training plots narrows the canvas,
    not the inspector column."""
    window.resize(1400, 900)
    assert window.open_template("inception-module")
    qtbot.wait(50)
    assert window.docks["diagnostics"].height() >= 140
    inspector = window.docks["inspector"].height()
    window.docks["training"].raise_()
    qtbot.waitUntil(lambda: window.docks["training"].height() >= 300)
    assert window.docks["inspector"].height() >= inspector - 5


def test_dock_layout_is_remembered(window: Any, qtbot: Any) -> None:
    from layerforge.gui.main_window import MainWindow

    window.docks["diagnostics"].toggleViewAction().trigger()
    assert window.docks["diagnostics"].isHidden()
    window.close()
    again = MainWindow(load_keras=False)
    qtbot.addWidget(again)
    again.show()
    assert again.docks["diagnostics"].isHidden()
    assert not again.docks["palette"].isHidden()


def test_group_into_block_opens_in_place_and_back(window: Any) -> None:
    window.open_template("sequential-mlp")
    doc = window.session.doc
    window.session.analyze()  # grouping needs the shapes entering the selection
    window.view.setFocus()
    first_two = layers_named(window, "Dense")[:2]
    window.view.select_nodes([node_of(window, layer) for layer in first_two])
    QTest.keySequence(window, QKeySequence("Ctrl+G"))
    assert len(doc.blocks) == 1
    block = next(iter(doc.blocks.values()))
    assert len(block.graph.calls()) == 2
    window.show_graph(block.id)
    assert window.view.graph_key == block.id
    assert window.block_bar.isVisible() and block.name in window.breadcrumb.text()
    QTest.mouseClick(window.back_button, Qt.MouseButton.LeftButton)
    assert window.view.graph_key == "main" and not window.block_bar.isVisible()


def test_screenshot_in_process(window: Any, isolated: SimpleNamespace) -> None:
    from layerforge.gui.app import SCREENSHOT_SIZE, take_screenshot

    window.open_template("inception-module")
    target = isolated.path / "shots" / "inception.png"
    assert take_screenshot(window, target) == 0
    image = QImage(str(target))
    assert (image.width(), image.height()) == SCREENSHOT_SIZE
    labels = [e.label for e in window.view.canvas_scene.edges.values()]
    assert labels and all(labels), "every edge shows its shape in the screenshot"


@pytest.mark.slow
def test_screenshot_command_writes_a_png(tmp_path: Path) -> None:
    target = tmp_path / "mlp.png"
    layerforge = Path(sys.executable).parent / "layerforge"
    out = subprocess.run([str(layerforge), "gui", "--template", "sequential-mlp",
                          "--screenshot", str(target)], capture_output=True, text=True,
                         timeout=300, env={**__import__("os").environ,
                                           "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert QImage(str(target)).width() == 1400


def test_palette_follows_the_system_colour_scheme(qapp: Any) -> None:
    from layerforge.gui.theme import apply_theme

    apply_theme(qapp)
    hints = QGuiApplication.styleHints()
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert qapp.palette().window().color().lightness() < 80
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Light)
    assert qapp.palette().window().color().lightness() > 200


def test_a_long_template_opens_readable_from_its_inputs(window: Any, qtbot: Any) -> None:
    """separable-convnet's 14 nodes do not fit a 1400x900 window at a zoom that draws their
    text: it opens readable, its input at the top of the canvas, rather than as grey boxes."""
    from layerforge.gui.canvas.style import TEXT_LOD

    window.resize(1400, 900)
    window.show()
    assert window.open_template("separable-convnet")
    view = window.view
    qtbot.waitUntil(lambda: view.zoom() > TEXT_LOD, timeout=3000)
    [source] = window.session.doc.graph.inputs()
    item = view.canvas_scene.nodes[source.id]
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert shown.contains(item.sceneBoundingRect())
    assert item.shows_text(view.zoom())
