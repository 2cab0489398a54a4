"""The palette lists every catalog layer by category, filters by search, and drags/activates
layers by their catalog class name."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from layerforge.core.catalog import get_catalog
from layerforge.gui.palette import CLASS_ROLE, LAYER_MIME, Palette


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
    assert listed == {entry.class_name: entry.category for entry in catalog}
    assert str(len(catalog)) in palette.status.text()


def test_search_filters_layers(palette: Palette, qtbot: Any) -> None:
    QTest.keyClicks(palette.search, "conv2d")
    visible = palette.visible_layers()
    assert "Conv2D" in visible and "Conv2DTranspose" in visible
    assert "Dense" not in visible and "LSTM" not in visible
    palette.search.clear()
    assert len(palette.visible_layers()) == len(get_catalog())


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
