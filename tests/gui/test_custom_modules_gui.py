"""File → Add Custom Layer Module…: a Python file of the user's is asked about, then its layer
classes appear in the palette under Custom and go on the canvas like any layer; a module that
cannot be used is named in one message and the canvas stays as it was."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from user_steps import answer_prompt, click_menu, type_into

from layerforge.core.schema.trust import code_guard
from layerforge.gui import files

MODULE = '''
import keras


class Doubling(keras.layers.Layer):
    """Multiplies its input by a factor."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
'''


@pytest.fixture(autouse=True)
def guarded() -> Any:
    with code_guard():
        yield


def add_module(window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch, path: Path,
               button: str | None) -> list[str]:
    monkeypatch.setattr(files, "choose_module_path", lambda parent: str(path))
    seen: list[str] = []
    if button is not None:
        answer_prompt(button, seen)
    click_menu(qtbot, window, "File", "Add Custom Layer Module…")
    return seen


def custom_entries(window: Any) -> list[str]:
    tree = window.palette.tree
    for i in range(tree.topLevelItemCount()):
        category = tree.topLevelItem(i)
        if category.text(0) == "Custom":
            return [category.child(j).text(0) for j in range(category.childCount())]
    return []


def test_a_trusted_module_puts_its_layers_in_the_palette(window: Any, qtbot: Any,
                                                         isolated: SimpleNamespace,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    path = isolated.path / "gui_doubling.py"
    path.write_text(MODULE, encoding="utf-8")
    seen = add_module(window, qtbot, monkeypatch, path, "Trust and Add")
    qtbot.waitUntil(lambda: custom_entries(window) == ["Doubling"], timeout=5000)
    assert "gui_doubling.py" in seen[0]
    type_into(window.palette.search, "Doubling")
    qtbot.waitUntil(lambda: any(item.text.title == "Doubling"
                                for item in window.view.canvas_scene.nodes.values()))
    # Undo takes the layer away, then the module: the palette has no Custom section again.
    window.session.undo_stack.undo()
    window.session.undo_stack.undo()
    qtbot.waitUntil(lambda: custom_entries(window) == [])
    # The same bytes are not asked about again.
    assert add_module(window, qtbot, monkeypatch, path, None) == []
    qtbot.waitUntil(lambda: custom_entries(window) == ["Doubling"], timeout=5000)


def test_declining_or_a_broken_module_changes_nothing(window: Any, qtbot: Any,
                                                      isolated: SimpleNamespace,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    click_menu(qtbot, window, "File", "New from template", "7.1.1  Sequential MLP")
    qtbot.waitUntil(lambda: bool(window.view.canvas_scene.nodes))
    nodes = set(window.view.canvas_scene.nodes)
    declined = isolated.path / "gui_declined.py"
    declined.write_text(MODULE.replace("Doubling", "Declined") + "\nraise SystemExit(3)\n",
                        encoding="utf-8")
    add_module(window, qtbot, monkeypatch, declined, "Don't Add")
    broken = isolated.path / "gui_broken.py"
    broken.write_text("def broken(:\n", encoding="utf-8")
    add_module(window, qtbot, monkeypatch, broken, "Trust and Add")
    qtbot.waitUntil(lambda: bool(isolated.notes), timeout=5000)
    title, text = isolated.notes[-1]
    assert title == "Cannot add the custom layer module"
    assert str(broken) in text and "SyntaxError" in text
    assert set(window.view.canvas_scene.nodes) == nodes
    assert custom_entries(window) == []
    assert window.session.doc.custom_modules == ()


def open_project(window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch, path: Path,
                 button: str | None) -> list[str]:
    monkeypatch.setattr(files, "choose_open_path", lambda parent: str(path))
    seen: list[str] = []
    if button is not None:
        answer_prompt(button, seen)
    click_menu(qtbot, window, "File", "Open…")
    qtbot.waitUntil(lambda: window.session.path == path, timeout=5000)
    return seen


def test_a_project_asks_about_its_module_once_per_content(window: Any, qtbot: Any,
                                                          isolated: SimpleNamespace,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from layerforge.core.io import project

    module = isolated.path / "gui_once.py"
    module.write_text(MODULE, encoding="utf-8")
    add_module(window, qtbot, monkeypatch, module, "Trust and Add")
    qtbot.waitUntil(lambda: custom_entries(window) == ["Doubling"], timeout=5000)
    type_into(window.palette.search, "Doubling")
    qtbot.waitUntil(lambda: bool(window.view.canvas_scene.nodes))
    saved = isolated.path / "once.json"
    project.save(window.session.doc, saved)
    # The module's bytes were trusted when it was added: the project opens without asking.
    assert open_project(window, qtbot, monkeypatch, saved, None) == []
    assert custom_entries(window) == ["Doubling"]
    # Changed, the module is asked about again, by name; declined, it runs nothing.
    module.write_text(MODULE + "\n# changed\n", encoding="utf-8")
    window.session.set_path(None)
    seen = open_project(window, qtbot, monkeypatch, saved, "Don't Run")
    assert "Doubling from gui_once.py" in seen[0]
    assert window.session.untrusted_code() == ["doubling: Doubling from gui_once.py"]
    # File → Trust Project Code… runs it after all.
    answer_prompt("Trust and Run", seen)
    click_menu(qtbot, window, "File", "Trust Project Code…")
    qtbot.waitUntil(lambda: window.session.untrusted_code() == [], timeout=5000)
    assert "Doubling from gui_once.py" in seen[-1]


def test_a_module_edited_while_its_project_is_open_is_asked_about_again(
        window: Any, qtbot: Any, isolated: SimpleNamespace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    module = isolated.path / "gui_edited.py"
    module.write_text(MODULE, encoding="utf-8")
    add_module(window, qtbot, monkeypatch, module, "Trust and Add")
    qtbot.waitUntil(lambda: custom_entries(window) == ["Doubling"], timeout=5000)
    type_into(window.palette.search, "Doubling")
    qtbot.waitUntil(lambda: bool(window.view.canvas_scene.nodes))
    assert not window.act_trust.isEnabled()
    # The file changes on disk: the next pass stops running it and offers to trust it again.
    module.write_text(MODULE + "\n# edited\n", encoding="utf-8")
    window.session.schedule_analysis()
    qtbot.waitUntil(window.act_trust.isEnabled, timeout=5000)
    assert window.session.untrusted_code() == ["doubling: Doubling from gui_edited.py"]
    seen: list[str] = []
    answer_prompt("Trust and Run", seen)
    click_menu(qtbot, window, "File", "Trust Project Code…")
    qtbot.waitUntil(lambda: window.session.untrusted_code() == [], timeout=5000)
    assert "Doubling from gui_edited.py" in seen[-1]
    assert not window.act_trust.isEnabled()
