"""The node-editor canvas driven with real mouse and key events; assertions on the document."""

from __future__ import annotations

import pytest
import shiboken6
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.project import dumps
from layerforge.core.io.templates import load_template
from layerforge.gui.canvas.clipboard import INPUT_KEY, LAYER_MIME, OUTPUT_KEY
from layerforge.gui.canvas.items import NodeItem
from layerforge.gui.canvas.view import CanvasView
from layerforge.gui.session import EditorSession

LEFT = Qt.MouseButton.LeftButton
NONE = Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture(scope="module")
def catalog():
    return get_catalog()


@pytest.fixture
def session(catalog, qtbot):
    return EditorSession(Document(catalog))


@pytest.fixture
def view(session, qtbot):
    widget = CanvasView(session)
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    return widget


def add(session, factory, *args, **kwargs):
    command = factory(session.doc, *args, **kwargs)
    assert session.push(command)
    return command.node.id


def port_point(view, node_id, output, key=0):
    item = view.canvas_scene.nodes[node_id]
    port = item.output_port(key) if output else item.input_port(key)
    return view.mapFromScene(port.scenePos())


def drag(view, start: QPoint, end: QPoint, during=None):
    viewport = view.viewport()
    QTest.mousePress(viewport, LEFT, NONE, start)
    for step in (0.3, 0.7, 1.0):
        QTest.mouseMove(viewport, start + (end - start) * step)
    if during is not None:
        during()
    QTest.mouseRelease(viewport, LEFT, NONE, end)


def chain(session, *classes):
    """x(8) -> classes..., stacked downwards; returns the node ids."""
    ids = [add(session, edits.add_input, [8], name="x", position=(0.0, 0.0))]
    for i, class_name in enumerate(classes, start=1):
        ids.append(add(session, edits.add_layer, class_name, position=(0.0, 150.0 * i)))
        session.push(edits.connect(session.doc, ids[-2], ids[-1]))
    return ids


def overlapping(view):
    """Pairs of nodes whose boxes overlap on the canvas."""
    items = list(view.canvas_scene.nodes.values())
    rects = [i.rect.translated(i.pos()) for i in items]
    return [(a.node_id, b.node_id) for i, a in enumerate(items) for j, b in enumerate(items)
            if i < j and rects[i].intersects(rects[j])]


def shapes_ready(session):
    session.set_keras_ready()
    session.analyze()


def test_drag_from_output_to_input_connects_with_undo(session, view):
    x = add(session, edits.add_input, [8], name="x", position=(0.0, 0.0))
    dense = add(session, edits.add_layer, "Dense", position=(0.0, 200.0))
    drag(view, port_point(view, x, True), port_point(view, dense, False))
    assert [(e.src, e.dst) for e in session.doc.graph.edges.values()] == [(x, dense)]
    assert len(view.canvas_scene.edges) == 1
    session.undo_stack.undo()
    assert not session.doc.graph.edges and not view.canvas_scene.edges
    session.undo_stack.redo()
    assert [(e.src, e.dst) for e in session.doc.graph.edges.values()] == [(x, dense)]


def test_dragging_into_a_cycle_is_refused_with_the_reason(session, view, qtbot):
    _x, merge, dense = chain(session, "Add", "Dense")
    before = dumps(session.doc)
    free = view.canvas_scene.nodes[merge].input_port(1)
    seen = {}

    def look():
        seen["state"] = free.state
        seen["reason"] = view.canvas_scene.controller.drag.item.reason

    with qtbot.waitSignal(session.edit_refused) as refused:
        drag(view, port_point(view, dense, True), port_point(view, merge, False, 1), look)
    assert seen["state"] == "illegal" and "cycle" in seen["reason"]
    assert "cycle" in refused.args[0]
    assert dumps(session.doc) == before
    assert free.state == "normal", "highlights are cleared after the drop"
    session.undo_stack.undo()  # the last edit (the chain's connect) is still what undo undoes
    assert len(session.doc.graph.edges) == 1


def test_move_by_dragging_snaps_and_undoes(session, view):
    x = add(session, edits.add_input, [8], name="x", position=(0.0, 0.0))
    start = view.mapFromScene(QPointF(0.0, 0.0))
    drag(view, start, start + QPoint(103, 47))
    moved = session.doc.graph.node(x).position
    zoom = view.transform().m11()
    assert moved == (round(103 / zoom / 10) * 10.0, round(47 / zoom / 10) * 10.0)
    assert session.undo_stack.count() == 2
    session.undo_stack.undo()
    assert session.doc.graph.node(x).position == (0.0, 0.0)
    assert view.canvas_scene.nodes[x].pos() == QPointF(0.0, 0.0)


def test_delete_key_removes_the_selection(session, view):
    x, dense = chain(session, "Dense")
    view.select_nodes([dense])
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert list(session.doc.graph.nodes) == [x] and not session.doc.graph.edges
    assert list(view.canvas_scene.nodes) == [x]
    session.undo_stack.undo()
    assert dense in session.doc.graph.nodes and len(view.canvas_scene.edges) == 1
    (edge,) = view.canvas_scene.edges.values()
    view.select_nodes([])
    edge.setSelected(True)
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert not session.doc.graph.edges and len(session.doc.graph.nodes) == 2


def test_a_closed_view_no_longer_follows_the_document(session, catalog):
    view = CanvasView(session)
    scene = view.canvas_scene
    shiboken6.delete(view)
    assert not shiboken6.isValid(scene)
    add(session, edits.add_input, [8], name="x")  # must not touch the deleted scene
    assert "x" in session.doc.graph.names_in_use()


def test_copy_paste_keys_copy_the_inner_edges(session, view):
    _, a, b = chain(session, "Dense", "Dense")
    view.select_nodes([a, b])
    QTest.keyClick(view, Qt.Key.Key_C, CTRL)
    QTest.keyClick(view, Qt.Key.Key_V, CTRL)
    graph = session.doc.graph
    new = view.selected_node_ids()
    assert len(new) == 2 and not set(new) & {a, b}
    assert [(e.src, e.dst) for e in graph.in_edges(new[1])] == [(new[0], new[1])]
    assert not overlapping(view), "the copies land beside the originals"
    assert graph.node(new[0]).position[1] - graph.node(new[1]).position[1] == -150.0
    assert len(graph.layers) == 4
    session.undo_stack.undo()
    assert len(graph.nodes) == 3
    view.select_nodes([b])
    QTest.keyClick(view, Qt.Key.Key_D, CTRL)
    (copy,) = view.selected_node_ids()
    assert copy != b and graph.layer_of(copy).class_name == "Dense" and len(graph.nodes) == 4


def test_group_into_a_block_open_it_and_use_it_again(session, view, qtbot):
    _, a, b = chain(session, "Dense", "Dense")
    out = add(session, edits.add_output, name="y", position=(0.0, 450.0))
    session.push(edits.connect(session.doc, b, out))
    shapes_ready(session)
    refusals = []
    session.edit_refused.connect(refusals.append)
    view.select_nodes([a, b])
    view.group_selection("mlp")
    assert refusals == []
    (block,) = session.doc.blocks.values()
    assert sorted(lay.class_name for lay in block.graph.layers.values()) == ["Dense", "Dense"]
    call = next(n.id for n in session.doc.graph.calls())
    assert view.canvas_scene.nodes[call].text.title == "Block mlp"
    with qtbot.waitSignal(view.open_block_requested) as opened:
        QTest.mouseDClick(view.viewport(), LEFT, NONE, view.mapFromScene(
            view.canvas_scene.nodes[call].scenePos()))
    assert opened.args == [block.id]
    view.set_graph_key(block.id)
    assert set(view.canvas_scene.nodes) == set(block.graph.nodes)
    view.set_graph_key("main")
    view.insert_block(block.id, QPointF(300.0, 300.0))
    uses = [lay for lay in session.doc.graph.layers.values() if lay.block_id == block.id]
    assert len(uses) == 2 and uses[0].id != uses[1].id


def test_parameter_edit_updates_the_edge_label(session, view):
    _x, dense, drop = chain(session, "Dense", "Dropout")
    shapes_ready(session)
    edge = session.doc.graph.in_edges(drop)[0]
    assert view.canvas_scene.edges[edge.id].label == "(None, 32)"
    session.push(SetParam(session.doc.graph.layer_of(dense).id, "units", 5))
    session.analyze()
    assert view.canvas_scene.edges[edge.id].label == "(None, 5)"
    session.undo_stack.undo()
    session.analyze()
    assert view.canvas_scene.edges[edge.id].label == "(None, 32)"


def test_call_again_creates_a_shared_call_with_a_badge(session, view, qtbot):
    _, dense = chain(session, "Dense")
    view.select_nodes([dense])
    view.call_again()
    layer = session.doc.graph.layer_of(dense)
    calls = session.doc.graph.calls_of(layer.id)
    assert len(calls) == 2 and view.selected_node_ids() == [calls[1].id]
    items = [view.canvas_scene.nodes[c.id] for c in calls]
    qtbot.waitUntil(lambda: all(i.badge is not None for i in items))
    assert items[0].badge == items[1].badge and items[0].badge_count == 2
    view.make_unique()
    assert len(session.doc.graph.layers) == 2
    qtbot.waitUntil(lambda: all(i.badge is None for i in items))


def test_tab_search_inserts_a_layer_fed_by_the_selection(session, view):
    x = add(session, edits.add_input, [8], name="x")
    view.select_nodes([x])
    QTest.keyClick(view, Qt.Key.Key_Tab)
    popup = view.popup
    assert popup is not None and popup.isVisible()
    QTest.keyClicks(popup.edit, "dropo")
    QTest.keyClick(popup.edit, Qt.Key.Key_Return)
    (layer,) = session.doc.graph.layers.values()
    assert layer.class_name == "Dropout"
    new = session.doc.graph.calls()[0].id
    assert [e.src for e in session.doc.graph.in_edges(new)] == [x]


def test_palette_drop_inserts_a_layer_where_it_lands(session, view):
    mime = QMimeData()
    mime.setData(LAYER_MIME, b"Conv2D")
    where = QPointF(200.0, 150.0)
    enter = QDragEnterEvent(where.toPoint(), Qt.DropAction.CopyAction, mime, LEFT, NONE)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    drop = QDropEvent(where, Qt.DropAction.CopyAction, mime, LEFT, NONE)
    QApplication.sendEvent(view.viewport(), drop)
    (node,) = session.doc.graph.calls()
    assert session.doc.graph.layer(node.layer_id).class_name == "Conv2D"
    landed = view.mapToScene(where.toPoint())
    assert node.position == (landed.x(), landed.y())


def test_error_shown_on_the_node_and_fixed_in_one_click(session, view):
    x = add(session, edits.add_input, [4, 4], name="x")
    rep = add(session, edits.add_layer, "RepeatVector", {"n": 3}, position=(0.0, 150.0))
    session.push(edits.connect(session.doc, x, rep))
    shapes_ready(session)
    item = view.canvas_scene.nodes[rep]
    assert item.severity == "error" and "ndim" in item.toolTip()
    (problem,) = [d for d in session.diagnostics if d.target == rep and d.fix is not None]
    view.apply_fix(problem)
    session.analyze()
    flatten = [n for n in session.doc.graph.calls()
               if session.doc.graph.layer(n.layer_id).class_name == "Flatten"]
    assert len(flatten) == 1
    assert not [d for d in session.diagnostics if d.code == "shape"]
    assert "ndim" not in item.toolTip()
    label = view.canvas_scene.edges[session.doc.graph.in_edges(rep)[0].id].label
    assert label == "(None, 16)"


def test_render_is_readable(session, view, tmp_path):
    chain(session, "Dense", "Dropout")
    shapes_ready(session)
    view.fit_all()
    assert isinstance(next(iter(view.canvas_scene.nodes.values())), NodeItem)
    image = view.grab()
    assert image.save(str(tmp_path / "canvas.png"))
    assert image.width() == 900


def test_ungroup_restores_the_layers(session, view):
    _, a, b = chain(session, "Dense", "Dense")
    out = add(session, edits.add_output, name="y", position=(0.0, 450.0))
    session.push(edits.connect(session.doc, b, out))
    shapes_ready(session)
    view.select_nodes([a, b])
    view.group_selection()
    call = next(n.id for n in session.doc.graph.calls())
    view.select_nodes([call])
    view.ungroup_selection()
    assert sorted(lay.class_name for lay in session.doc.graph.layers.values()) == ["Dense"] * 2
    assert not session.doc.blocks
    assert len(view.canvas_scene.nodes) == 4 and len(view.canvas_scene.edges) == 3


def test_multi_output_layer_shows_a_port_per_output(session, view):
    x = add(session, edits.add_input, [5, 4], name="x")
    lstm = add(session, edits.add_layer, "LSTM", {"return_state": True}, position=(0.0, 150.0))
    dense = add(session, edits.add_layer, "Dense", position=(200.0, 300.0))
    session.push(edits.connect(session.doc, x, lstm))
    shapes_ready(session)
    assert [p.key for p in view.canvas_scene.nodes[lstm].outputs] == [0, 1, 2]
    drag(view, port_point(view, lstm, True, 2), port_point(view, dense, False))
    (edge,) = session.doc.graph.in_edges(dense)
    assert (edge.src, edge.src_index) == (lstm, 2)
    session.analyze()
    assert view.canvas_scene.edges[edge.id].label == "(None, 32)"


def test_rubber_band_selects_nodes_and_middle_drag_pans(session, view, qtbot):
    x, dense = chain(session, "Dense")
    far = add(session, edits.add_layer, "Dense", position=(2000.0, 2000.0))
    view.reset_zoom()
    view.centerOn(0.0, 75.0)
    with qtbot.waitSignal(view.selection_changed):
        drag(view, view.mapFromScene(QPointF(-150.0, -80.0)),
             view.mapFromScene(QPointF(150.0, 230.0)))
    assert view.selected_node_ids() == [x, dense]
    before = view.mapToScene(view.viewport().rect().center())
    viewport = view.viewport()
    QTest.mousePress(viewport, Qt.MouseButton.MiddleButton, NONE, QPoint(400, 300))
    QTest.mouseMove(viewport, QPoint(300, 250))
    QTest.mouseRelease(viewport, Qt.MouseButton.MiddleButton, NONE, QPoint(300, 250))
    after = view.mapToScene(view.viewport().rect().center())
    assert (after.x() - before.x(), after.y() - before.y()) == pytest.approx((100.0, 50.0), abs=1)
    assert far in session.doc.graph.nodes and view.selected_node_ids() == [x, dense]


def test_document_replaced_rebuilds_the_canvas(session, view, catalog):
    chain(session, "Dense")
    other = Document(catalog)
    edits.add_input(other, [3], name="z").redo(other)
    session.replace_document(other)
    assert [view.canvas_scene.nodes[n].text.lines[0] for n in other.graph.nodes] == ["z"]
    assert len(view.canvas_scene.nodes) == 1 and not view.canvas_scene.edges
    add(session, edits.add_layer, "Dense")
    assert len(view.canvas_scene.nodes) == 2


def test_auto_layout_is_one_undoable_step(session, view):
    ids = chain(session, "Dense", "Dense")
    for nid in ids:
        session.doc.graph.move_node(nid, (0.0, 0.0))
    view.auto_layout()
    ys = [session.doc.graph.node(nid).position[1] for nid in ids]
    assert ys == sorted(ys) and len(set(ys)) == 3
    assert [view.canvas_scene.nodes[n].pos().y() for n in ids] == ys
    session.undo_stack.undo()
    assert {session.doc.graph.node(nid).position for nid in ids} == {(0.0, 0.0)}


def test_double_click_on_empty_canvas_opens_the_search(session, view):
    add(session, edits.add_input, [8], name="x")
    spot = view.mapFromScene(QPointF(600.0, 600.0))
    QTest.mouseDClick(view.viewport(), LEFT, NONE, spot)
    assert view.popup is not None and view.popup.isVisible()
    QTest.keyClicks(view.popup.edit, "Dense")
    QTest.keyClick(view.popup.edit, Qt.Key.Key_Return)
    (node,) = session.doc.graph.calls()
    assert session.doc.graph.layer(node.layer_id).class_name == "Dense"
    assert node.position == pytest.approx((600.0, 600.0), abs=1)


def test_nodes_show_kind_name_key_parameters_and_counts(session, view):
    x = add(session, edits.add_input, [28, 28, 1], name="image", dtype="float16")
    conv = add(session, edits.add_layer, "Conv2D", {"filters": 8, "activation": "relu"},
               position=(0.0, 150.0))
    act = add(session, edits.add_layer, "Activation", {"activation": "tanh"},
              position=(0.0, 300.0))
    out = add(session, edits.add_output, name="label", loss="mse", position=(0.0, 450.0))
    for a, b in ((x, conv), (conv, act), (act, out)):
        session.push(edits.connect(session.doc, a, b))
    nodes = view.canvas_scene.nodes
    assert nodes[x].text.lines == ("image", "shape (28, 28, 1)", "dtype float16")
    assert nodes[conv].text.lines == ("conv2d", "filters=8, k=3, relu", "params: …")
    assert nodes[act].text.lines[1] == "tanh"
    assert nodes[out].text.title == "Output" and nodes[out].text.lines[1] == "loss: mse"
    shapes_ready(session)
    counter = view.canvas_scene.counter
    while counter.queue:
        counter.run()
    assert nodes[conv].text.lines[2] == "params: 80"  # 3*3*1*8 + 8


def test_a_fitted_template_shows_its_edge_labels(session, view, catalog):
    """A reopened project is fitted to the window, often at 50-70 %: wherever node text is
    readable, the shapes on the edges are drawn too."""
    session.replace_document(load_template("batchnorm-convnet", catalog))
    shapes_ready(session)
    view.resize(700, 650)
    view.fit_all()
    zoom = view.zoom()
    assert 0.5 <= zoom < 0.7, f"the fitted zoom this test is about; got {zoom:.2f}"
    edges = [e for e in view.canvas_scene.edges.values() if e.label]
    assert edges and all(e.shows_label(zoom) for e in edges)
    for lod in (0.5, 0.6, 0.8, 1.5):
        assert all(n.shows_text(lod) for n in view.canvas_scene.nodes.values())
        assert all(e.shows_label(lod) for e in edges)


def screen_colour(view, scene_point):
    """The colour on screen (the window's backing store, not a fresh render) at a point."""
    shot = QApplication.primaryScreen().grabWindow(0).toImage()
    where = view.viewport().mapToGlobal(view.mapFromScene(scene_point))
    return QColor(shot.pixel(where.x(), where.y()))


def test_port_highlights_clear_when_a_drag_ends(session, view, qtbot):
    x, dense = chain(session, "Dense")
    free_add = add(session, edits.add_layer, "Add", position=(300.0, 150.0))
    scene = view.canvas_scene
    qtbot.waitExposed(view)
    target = scene.nodes[free_add].input_port(0)
    lit = {}

    def look():
        qtbot.wait(50)  # painted green on screen
        lit["colour"] = screen_colour(view, target.scenePos())

    start = port_point(view, dense, True)
    drag(view, start, start + QPoint(30, 250), look)  # dropped on empty space
    view.popup.close()
    assert lit["colour"] == scene.style.legal, "a legal target is green while dragging"
    assert all(p.state == "normal" and not p.hovered
               for n in scene.nodes.values() for p in n.inputs + n.outputs)
    qtbot.wait(50)
    assert screen_colour(view, target.scenePos()) == scene.style.node_fill, \
        "the free port is drawn plain again on screen"
    drag(view, port_point(view, dense, True), port_point(view, free_add, False, 1))
    assert all(p.state == "normal" for n in scene.nodes.values() for p in n.inputs + n.outputs)
    drag(view, port_point(view, x, True), port_point(view, x, True))  # onto itself: cancelled
    assert all(p.state == "normal" for n in scene.nodes.values() for p in n.inputs + n.outputs)


def drop_on(view, key: bytes, where: QPointF) -> None:
    mime = QMimeData()
    mime.setData(LAYER_MIME, key)
    enter = QDragEnterEvent(where.toPoint(), Qt.DropAction.CopyAction, mime, LEFT, NONE)
    QApplication.sendEvent(view.viewport(), enter)
    assert enter.isAccepted()
    QApplication.sendEvent(view.viewport(),
                           QDropEvent(where, Qt.DropAction.CopyAction, mime, LEFT, NONE))


def test_palette_drops_input_and_output_and_never_stacks(session, view):
    where = QPointF(300.0, 200.0)
    drop_on(view, INPUT_KEY.encode(), where)
    drop_on(view, OUTPUT_KEY.encode(), where)  # on top of the Input: lands beside it
    graph = session.doc.graph
    assert [n.kind for n in graph.nodes.values()] == ["input", "output"]
    assert graph.inputs()[0].shape == (None,) and not graph.edges, "a drop connects nothing"
    assert not overlapping(view)
    landed = view.mapToScene(where.toPoint())
    assert graph.inputs()[0].position == (landed.x(), landed.y())
