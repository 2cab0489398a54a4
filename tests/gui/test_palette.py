"""The palette lists every catalog layer by category, filters by search, and drags/activates
layers by their catalog class name."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from layerforge.core.catalog.catalog import get_catalog
from layerforge.gui.canvas.clipboard import INPUT_KEY, LAYER_MIME, OUTPUT_KEY
from layerforge.gui.palette import CLASS_ROLE, IO_CATEGORY, Palette


@pytest.fixture
def palette(qtbot: Any) -> Palette:
    widget = Palette()
    qtbot.addWidget(widget)
    widget.set_catalog(get_catalog())
    widget.show()
    return widget


def test_every_catalog_layer_is_listed_under_its_category(palette: Palette) -> None:
    catalog = get_catalog()
    tree = palette.tree
    listed = {}
    for i in range(tree.topLevelItemCount()):
        category = tree.topLevelItem(i)
        for j in range(category.childCount()):
            listed[category.child(j).data(0, CLASS_ROLE)] = category.text(0)
    assert listed == {INPUT_KEY: IO_CATEGORY, OUTPUT_KEY: IO_CATEGORY,
                      **{entry.class_name: entry.category for entry in catalog}}
    assert str(len(catalog)) in palette.status.text()


def test_inputs_and_outputs_come_first_even_before_the_catalog(qtbot: Any) -> None:
    empty = Palette()
    qtbot.addWidget(empty)
    top = empty.tree.topLevelItem(0)
    assert top.text(0) == IO_CATEGORY and top.isExpanded()
    assert [top.child(j).text(0) for j in range(top.childCount())] == ["Input", "Output"]
    assert empty.layer_items() == [], "the window loads the catalog while no layer is listed"
    empty.set_catalog(get_catalog())
    assert empty.tree.topLevelItem(0).text(0) == IO_CATEGORY
    assert empty.visible_layers()[:2] == [INPUT_KEY, OUTPUT_KEY]


@pytest.mark.parametrize(("typed", "key"), [("input", INPUT_KEY), ("in", INPUT_KEY),
                                            ("Input", INPUT_KEY), ("output", OUTPUT_KEY),
                                            ("outp", OUTPUT_KEY)])
def test_search_and_enter_pick_input_or_output(palette: Palette, qtbot: Any, typed: str,
                                              key: str) -> None:
    with qtbot.waitSignal(palette.layer_activated) as blocker:
        QTest.keyClicks(palette.search, typed)
        QTest.keyClick(palette.search, Qt.Key.Key_Return)
    assert blocker.args == [key]
    assert key in palette.visible_layers()


def test_input_and_output_drag_and_double_click_like_layers(palette: Palette,
                                                           qtbot: Any) -> None:
    mime = palette.tree.mimeData([palette.item_for(OUTPUT_KEY)])
    assert bytes(mime.data(LAYER_MIME)).decode("utf-8") == OUTPUT_KEY
    rect = palette.tree.visualItemRect(palette.item_for(INPUT_KEY))
    with qtbot.waitSignal(palette.layer_activated) as blocker:
        double_click(palette.tree.viewport(), rect.center())
    assert blocker.args == [INPUT_KEY]


def test_search_filters_layers(palette: Palette, qtbot: Any) -> None:
    QTest.keyClicks(palette.search, "conv2d")
    visible = palette.visible_layers()
    assert "Conv2D" in visible and "Conv2DTranspose" in visible
    assert "Dense" not in visible and "LSTM" not in visible
    palette.search.clear()
    assert len(palette.visible_layers()) == len(get_catalog()) + 2  # with Input and Output


def test_drag_payload_is_the_class_name(palette: Palette) -> None:
    item = palette.item_for("Dense")
    mime = palette.tree.mimeData([item])
    assert mime.hasFormat(LAYER_MIME)
    assert bytes(mime.data(LAYER_MIME)).decode("utf-8") == "Dense"


def double_click(widget: Any, pos: Any) -> None:
    """A real double-click's events: Qt 6's QTest.mouseDClick sends only the second press."""
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)
    QTest.mouseDClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def test_double_click_and_enter_activate_a_layer(palette: Palette, qtbot: Any) -> None:
    item = palette.item_for("Flatten")
    palette.tree.scrollToItem(item)
    rect = palette.tree.visualItemRect(item)
    with qtbot.waitSignal(palette.layer_activated) as blocker:
        double_click(palette.tree.viewport(), rect.center())
    assert blocker.args == ["Flatten"]
    with qtbot.waitSignal(palette.layer_activated) as blocker:
        QTest.keyClicks(palette.search, "dense")
        QTest.keyClick(palette.search, Qt.Key.Key_Return)
    assert blocker.args == ["Dense"], "an exact name wins over DenseNet121 and others"


def test_search_by_name_before_description(palette: Palette, qtbot: Any) -> None:
    """"input" shows Input, not every layer whose docs mention inputs; a word found only in
    descriptions still finds the layers that describe it."""
    qtbot.keyClicks(palette.search, "input")
    assert palette.visible_layers() == [INPUT_KEY, OUTPUT_KEY]  # their category: "Inputs & …"
    palette.search.clear()
    qtbot.keyClicks(palette.search, "sequence")
    shown = palette.visible_layers()
    assert shown and all("sequence" in palette.item_for(k).toolTip(0).lower() for k in shown)
