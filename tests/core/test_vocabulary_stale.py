"""A vocabulary adapted in the app keeps what it was adapted with; changing one of those
settings (or the data bound to its input) puts a warning on the node until it is adapted
again. Projects without such a record are saved as before."""

from __future__ import annotations

from pathlib import Path

import pytest
from text_projects import text_classifier, write_texts

from layerforge.core.analysis.validation import validate
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.project import dumps, loads
from layerforge.core.schema.settings import DataSource
from layerforge.core.training.adapt import adapt_all

pytest.importorskip("keras")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("texts")
    return write_texts(root / "a", 30, seed=1), write_texts(root / "b", 30, seed=2)


def warnings(doc: object) -> list[str]:
    return [d.message for d in validate(doc) if d.code == "vocabulary-stale"]  # type: ignore[arg-type]


@pytest.mark.parametrize(("param", "value"), [
    ("max_tokens", 32), ("standardize", "lower"), ("split", "character"), ("ngrams", 2)])
def test_a_changed_setting_warns_until_adapted_again(folders: tuple[Path, Path], param: str,
                                                     value: object) -> None:
    doc = text_classifier(folders[0])
    stack = UndoStack(doc)
    stack.push(adapt_all(doc)[0].edit())
    assert warnings(doc) == []
    layer = next(lay for lay in doc.graph.layers.values()
                 if lay.class_name == "TextVectorization")
    stack.push(SetParam(layer.id, param, value))
    [message] = warnings(doc)
    assert message == f"vocabulary adapted before {param} changed; Adapt vocabulary again"
    [diagnostic] = [d for d in validate(doc) if d.code == "vocabulary-stale"]
    assert diagnostic.target == doc.graph.calls_of(layer.id)[0].id
    assert diagnostic.severity == "warning"
    again = loads(dumps(doc))
    assert warnings(again) == [message], "the record is saved with the project"
    stack.push(adapt_all(doc, only_missing=False)[0].edit())
    assert warnings(doc) == []
    stack.undo()
    assert warnings(doc) == [message]


def test_a_new_data_binding_warns_and_undo_removes_the_record(folders: tuple[Path, Path]
                                                              ) -> None:
    doc = text_classifier(folders[0])
    before = dumps(doc)
    stack = UndoStack(doc)
    stack.push(adapt_all(doc)[0].edit())
    assert '"vocabularies"' in dumps(doc)
    doc.training.data = {"text": DataSource("text_dir", {"path": str(folders[1])})}
    assert warnings(doc) == ["vocabulary adapted before the data bound to input 'text' changed;"
                             " Adapt vocabulary again"]
    stack.undo()
    assert warnings(doc) == []
    doc.training.data = {"text": DataSource("text_dir", {"path": str(folders[0])})}
    assert dumps(doc) == before, "no record left: the file is as before adapting"


def test_a_vocabulary_without_a_record_never_warns() -> None:
    """Imported or typed vocabularies: nothing says what they were adapted on."""
    doc = text_classifier(None)
    layer = next(iter(doc.graph.layers.values()))
    stack = UndoStack(doc)
    stack.push(SetParam(layer.id, "vocabulary", ["a", "b"]))
    stack.push(SetParam(layer.id, "max_tokens", 8))
    assert warnings(doc) == []
