"""Journey: open a project whose Lambda would create a file. The app asks before any of its
code runs, naming the layer and its expression. Declined: nothing runs, the shapes after the
Lambda stay unknown and the node warns; Train, exporting a model and File → Trust Project Code…
ask again. Accepted: the shapes appear, and the same file opens later without asking."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import user_steps as steps
from code_projects import lambda_project
from user_steps import click_dock_tab, click_menu, node_titled

from layerforge.core.schema.trust import code_guard
from layerforge.gui import files

SENTINEL = "PWNED"
# Whether a payload had run when the question showed (the working folder is the test's).
ran_before_answer: list[bool] = []
# Each test writes its own file name: Keras' answers are cached by the code's text.
PAYLOAD = "__import__('pathlib').Path('{}').touch() or ops.concatenate([x, x], axis=-1)"


@pytest.fixture(autouse=True)
def guarded() -> Iterator[None]:
    """The window guards this process when it opens untrusted code; the tests after it
    find the process as it was."""
    with code_guard():
        yield


def lambda_file(path: Path, sentinel: str) -> Path:
    """A Lambda project whose file claims it runs no code (the claim changes nothing)."""
    return lambda_project(path, PAYLOAD.format(sentinel), runs_code=False)


def answer_prompt(button: str, seen: list[str]) -> None:
    """Answer the question, noting whether the payload had run before the answer."""
    steps.answer_prompt(button, seen, on_show=lambda: ran_before_answer.append(
        any(Path(SENTINEL + suffix).exists() for suffix in ("", "2"))))


def lambda_output_label(window: Any) -> Callable[[], str]:
    lam = node_titled(window, "payload", kind="Lambda")
    edge = window.session.doc.graph.out_edges(lam)[0]
    return lambda: window.view.canvas_scene.edges[edge.id].label


def open_through_the_menu(window: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch,
                          path: Path, button: str | None) -> list[str]:
    """File → Open…; ``button`` answers the question if one shows."""
    monkeypatch.setattr(files, "choose_open_path", lambda parent: str(path))
    seen: list[str] = []
    if button is not None:
        answer_prompt(button, seen)
    click_menu(qtbot, window, "File", "Open…")
    qtbot.waitUntil(lambda: window.session.path == path, timeout=5000)
    qtbot.waitUntil(lambda: bool(window.view.canvas_scene.nodes))
    return seen


def test_opening_asks_before_running_code_and_accepting_shows_shapes(
        window: Any, qtbot: Any, isolated: SimpleNamespace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(isolated.path)
    path = lambda_file(isolated.path / "lambda.json", SENTINEL)
    seen = open_through_the_menu(window, qtbot, monkeypatch, path, "Trust and Run")
    assert len(seen) == 1 and "lambda.json" in seen[0] and ran_before_answer[-1] is False
    assert "payload: " + PAYLOAD.format(SENTINEL) in seen[0]
    label = lambda_output_label(window)
    qtbot.waitUntil(lambda: label() == "(None, 8)", timeout=10000)
    assert (isolated.path / SENTINEL).exists()  # the code the user trusted ran
    assert not window.act_trust.isEnabled()

    click_menu(qtbot, window, "File", "New")
    open_through_the_menu(window, qtbot, monkeypatch, path, None)  # a question would block
    qtbot.waitUntil(lambda: lambda_output_label(window)() == "(None, 8)", timeout=10000)
    assert not window.act_trust.isEnabled()  # the same bytes: remembered, not asked again


def test_declining_runs_nothing_until_the_user_trusts_the_project(
        window: Any, qtbot: Any, isolated: SimpleNamespace,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(isolated.path)
    path = lambda_file(isolated.path / "lambda.json", SENTINEL + "2")
    seen = open_through_the_menu(window, qtbot, monkeypatch, path, "Don't Run")
    assert len(seen) == 1 and ran_before_answer[-1] is False
    click_dock_tab(qtbot, window, "Diagnostics")
    shown = window.diagnostics.list
    qtbot.waitUntil(lambda: shown.count() == 1)
    assert "not run until you trust this project" in shown.item(0).text()
    label = lambda_output_label(window)
    qtbot.wait(200)
    assert label() == "?" and not (isolated.path / (SENTINEL + "2")).exists()  # shape unknown

    seen = []
    answer_prompt("Don't Run", seen)
    click_menu(qtbot, window, "Train", "Train")
    qtbot.waitUntil(lambda: len(seen) == 1)  # training builds the model: asked again
    qtbot.wait(100)
    assert not window.act_stop.isEnabled()  # no run started

    target = isolated.path / "model.keras"
    monkeypatch.setattr(files, "choose_save_path", lambda *args: str(target))
    seen = []
    answer_prompt("Don't Run", seen)
    click_menu(qtbot, window, "File", "Export", "Export .keras model…")
    qtbot.waitUntil(lambda: len(seen) == 1)  # exporting a model builds it: asked again
    qtbot.wait(100)
    assert not target.exists() and not (isolated.path / (SENTINEL + "2")).exists()

    seen = []
    answer_prompt("Trust and Run", seen)
    click_menu(qtbot, window, "File", "Trust Project Code…")
    qtbot.waitUntil(lambda: len(seen) == 1)
    assert PAYLOAD.format(SENTINEL + "2") in seen[0]
    qtbot.waitUntil(lambda: label() == "(None, 8)", timeout=10000)
    qtbot.waitUntil(lambda: shown.count() == 0)
    assert (isolated.path / (SENTINEL + "2")).exists()


def test_the_keras_check_process_runs_no_untrusted_code(
        isolated: SimpleNamespace, keras_loaded: dict, check_worker: Any, qtbot: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The full check builds the model in another process: it, too, waits for the trust.
    (The file named by absolute path: that process has its own working folder.)"""
    from layerforge.gui.main_window import MainWindow

    window = MainWindow(check_worker=check_worker)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.session.keras_ready, timeout=20_000)
    sentinel = isolated.path / "PWNED3"
    path = lambda_file(isolated.path / "lambda.json", str(sentinel))
    open_through_the_menu(window, qtbot, monkeypatch, path, "Don't Run")
    qtbot.waitUntil(lambda: window.check_label.text().startswith("Keras check: not built"),
                    timeout=120_000)
    assert "not trusted" in window.check_label.toolTip() and not sentinel.exists()

    answer_prompt("Trust and Run", [])
    click_menu(qtbot, window, "File", "Trust Project Code…")
    qtbot.waitUntil(lambda: window.check_label.text().startswith("Checked by Keras"),
                    timeout=60_000)
    assert "Keras builds the model" in window.check_label.toolTip() and sentinel.exists()
    window.close()
