"""Files from the window: save/reopen, title, discard prompt, autosave and recovery, recent
files, exports and .keras import."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from layerforge.core.document.records import to_records
from layerforge.core.editing import edits
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.project import load
from layerforge.core.io.templates import load_template
from layerforge.gui import files

DEAD_PID = 99_999_999  # above Linux's pid_max: never a running process



def save_to(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setattr(files, "choose_save_path", lambda *args: str(path))


def first_dense(win: Any) -> Any:
    return next(layer for layer in win.session.doc.graph.layers.values()
                if layer.class_name == "Dense")


def test_save_then_reopen_gives_an_identical_document(window: Any, isolated: SimpleNamespace,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert window.open_template("social-media-multi-output")
    target = isolated.path / "social.json"
    save_to(monkeypatch, target)
    assert window.files.save()
    expected = to_records(window.session.doc)
    assert to_records(load(target)) == expected
    assert window.new_project()
    assert window.session.doc.graph.nodes == {}
    assert window.open_path(str(target))
    assert to_records(window.session.doc) == expected
    assert window.windowTitle() == "social.json - LayerForge"
    assert window.files.recent.paths()[0] == str(target.resolve())
    assert window.recent_menu.actions()[0].toolTip() == str(target.resolve())


def test_title_shows_a_star_when_modified(window: Any) -> None:
    window.open_template("sequential-mlp")
    title = window.session.display_name()
    assert window.windowTitle() == f"{title} - LayerForge"
    layer = first_dense(window)
    assert window.session.push(SetParam(layer.id, "units", 7))
    assert window.windowTitle() == f"{title}* - LayerForge"
    window.session.undo_stack.undo()
    assert window.windowTitle() == f"{title} - LayerForge"


@pytest.mark.parametrize("answer", ["cancel", "discard", "save"])
def test_discard_prompt(window: Any, isolated: SimpleNamespace,
                        monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    window.open_template("sequential-mlp")
    layer = first_dense(window)
    window.session.push(SetParam(layer.id, "units", 7))
    asked: list[str] = []
    monkeypatch.setattr(files, "ask_save_changes",
                        lambda parent, name: asked.append(name) or answer)
    target = isolated.path / "kept.json"
    save_to(monkeypatch, target)
    name = window.session.display_name()
    replaced = window.open_template("residual-identity")
    assert asked == [name]
    assert replaced == (answer != "cancel")
    if answer == "cancel":
        assert first_dense(window).params["units"] == 7
        assert window.session.is_modified
    else:
        assert window.session.doc.meta.title == load_template("residual-identity").meta.title
    if answer == "save":
        assert next(lay for lay in load(target).graph.layers.values()
                    if lay.class_name == "Dense").params["units"] == 7


def test_close_asks_and_cancel_keeps_the_window(window: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    window.open_template("sequential-mlp")
    window.session.push(SetParam(first_dense(window).id, "units", 5))
    monkeypatch.setattr(files, "ask_save_changes", lambda parent, name: "cancel")
    assert not window.close()
    assert window.isVisible()
    monkeypatch.setattr(files, "ask_save_changes", lambda parent, name: "discard")
    assert window.close()


def test_autosave_only_when_modified_and_removed_on_save(
        window: Any, isolated: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    window.open_template("sequential-mlp")
    recovery = window.files.recovery_path
    assert recovery.parent == isolated.path / "recovery"
    assert not window.files.autosave()
    assert not recovery.exists()
    window.session.push(SetParam(first_dense(window).id, "units", 9))
    window.files.autosave_timer.timeout.emit()
    assert to_records(load(recovery)) == to_records(window.session.doc)
    save_to(monkeypatch, isolated.path / "saved.json")
    assert window.files.save()
    assert not recovery.exists()


def test_restore_an_autosave_left_by_a_crash(window: Any, isolated: SimpleNamespace,
                                             monkeypatch: pytest.MonkeyPatch,
                                             qtbot: Any) -> None:
    from layerforge.core.io.project import save
    from layerforge.gui.main_window import MainWindow

    crashed = load_template("imdb-conv1d")
    orphan = isolated.path / "recovery" / f"{files.RECOVERY_PREFIX}{DEAD_PID}.json"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    save(crashed, orphan)
    orphan.with_suffix(".origin").write_text(str(isolated.path / "imdb.json"))
    offered: list[str] = []
    monkeypatch.setattr(files, "ask_restore",
                        lambda parent, path, when, origin: offered.append(origin) or True)
    fresh = MainWindow(load_keras=False)
    qtbot.addWidget(fresh)
    assert fresh.files.offer_recovery()
    assert offered == [str(isolated.path / "imdb.json")]
    assert to_records(fresh.session.doc) == to_records(crashed)
    assert fresh.session.is_modified
    assert fresh.windowTitle() == "imdb.json* - LayerForge"
    assert not orphan.exists(), "an offered autosave is not offered twice"
    assert fresh.files.recovery_path.exists(), "the restored work is autosaved again at once"


def test_no_offer_for_a_running_process(isolated: SimpleNamespace, qapp: Any) -> None:
    from layerforge.core.io.project import save

    live = isolated.path / "recovery" / f"{files.RECOVERY_PREFIX}{os.getppid()}.json"
    live.parent.mkdir(parents=True, exist_ok=True)
    save(load_template("sequential-mlp"), live)
    dead = live.with_name(f"{files.RECOVERY_PREFIX}{DEAD_PID}.json")
    save(load_template("sequential-mlp"), dead)
    assert files.orphan_recovery_files() == [dead]


def test_export_python_and_dot(window: Any, isolated: SimpleNamespace,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    window.open_template("residual-projection")
    py = isolated.path / "model.py"
    save_to(monkeypatch, py)
    assert window.files.export("python")
    assert "def build_model" in py.read_text()
    dot = isolated.path / "model.dot"
    save_to(monkeypatch, dot)
    assert window.files.export("dot")
    assert dot.read_text().lstrip().startswith("digraph")


def test_png_export_without_graphviz_shows_why(window: Any, isolated: SimpleNamespace,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    window.open_template("sequential-mlp")
    monkeypatch.setenv("PATH", str(isolated.path))  # no `dot` program reachable
    png = isolated.path / "model.png"
    save_to(monkeypatch, png)
    assert not window.files.export("png")
    assert not png.exists()
    title, text = isolated.notes[-1]
    assert "PNG" in title and "Graphviz" in text


def test_open_a_keras_model_through_the_importer(window: Any, isolated: SimpleNamespace,
                                                 keras_loaded: dict[str, Any]) -> None:
    import keras

    inputs = keras.Input((6,), name="features")
    outputs = keras.layers.Dense(3, name="scores")(keras.layers.Dense(4, name="hidden")(inputs))
    path = isolated.path / "tiny.keras"
    keras.Model(inputs, outputs).save(path)
    assert window.open_path(str(path))
    graph = window.session.doc.graph
    assert sorted(layer.name for layer in graph.layers.values()) == ["hidden", "scores"]
    assert window.session.path is None, "an imported model is saved as a new project"
    window.session.analyze()
    assert window.session.total_params() == 6 * 4 + 4 + 4 * 3 + 3


def test_new_project_from_template_menu(window: Any) -> None:
    actions = {a.data(): a for a in window.template_menu.actions()}
    assert set(actions) == {info.name for info in __import__(
        "layerforge.core.io.templates", fromlist=["x"]).list_templates()}
    actions["siamese-lstm"].trigger()
    assert window.session.doc.meta.title == load_template("siamese-lstm").meta.title
    assert window.stack.currentWidget() is window.editor_page


def test_adding_layers_marks_the_document_modified(window: Any) -> None:
    window.new_project()
    assert not window.session.is_modified
    window.session.push(edits.add_input(window.session.doc, (4,)))
    assert window.session.is_modified
