"""Fixtures (installed by conftest.py) for tests of one widget on a bare session with Keras
loaded (no window): the session, a canvas view and an inspector on it; and ``add``, which
pushes an edit that adds a node."""

from __future__ import annotations

from typing import Any

import pytest

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.document.document import Document
from layerforge.gui.canvas.view import CanvasView
from layerforge.gui.inspector import Inspector
from layerforge.gui.session import EditorSession


@pytest.fixture
def session(keras_loaded: dict[str, Any], qtbot: Any) -> EditorSession:
    session = EditorSession(Document(get_catalog()))
    session.set_keras_ready()
    return session


@pytest.fixture
def view(session: EditorSession, qtbot: Any) -> CanvasView:
    widget = CanvasView(session)
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    return widget


@pytest.fixture
def inspector(session: EditorSession, qtbot: Any) -> Inspector:
    widget = Inspector(session)
    qtbot.addWidget(widget)
    widget.show()
    return widget


def add(session: EditorSession, command: Any) -> str:
    """Push an edit that adds a node; its node id."""
    assert session.push(command)
    return command.node.id
