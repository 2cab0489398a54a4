"""Text from a folder: a string input, TextVectorization adapted on the bound text folder
(in the run, or saved with the project by the Adapt action), the exported code using the same
vocabulary, and a classifier that tells held-out files apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from text_projects import held_out, text_classifier, write_texts

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.codegen.loader import load_generated
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.keras_import.files import import_file
from layerforge.core.io.project import dumps, loads
from layerforge.core.schema.settings import DataSource
from layerforge.core.training.adapt import AdaptError, adapt_all, adapt_layer
from layerforge.core.training.fit import train
from layerforge.core.training.runs import load_run_model

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_texts(tmp_path_factory.mktemp("reviews") / "train", 100, seed=1)


def accuracy(model: object, root: Path) -> float:
    texts, labels = held_out(root)
    scores = model.predict(tf.constant(texts), verbose=0)[:, 0]  # type: ignore[attr-defined]
    return float(np.mean((scores > 0.5) == np.asarray(labels)))


def vocabulary_of(model: object) -> list[str]:
    layer = model.get_layer("text_vectorization")  # type: ignore[attr-defined]
    return [str(t) for t in layer.get_vocabulary(include_special_tokens=False)]


def test_a_text_folder_classifier_tells_held_out_files_apart(folder: Path, tmp_path: Path
                                                              ) -> None:
    """The acceptance test: project -> text folder -> train (the core run), no vocabulary
    saved, so the run adapts one on the folder's training subset first."""
    doc = text_classifier(folder)
    result = train(doc, doc.training, run_dir=tmp_path / "run")
    assert result.status == "completed", result.message
    model = load_run_model(tmp_path / "run")
    assert {"great", "awful", "the"} <= set(vocabulary_of(model))
    assert accuracy(model, tmp_path / "held") >= 0.85


def test_adapted_vocabulary_is_saved_with_the_project_and_undone(folder: Path) -> None:
    doc = text_classifier(folder)
    stack = UndoStack(doc)
    [adapted] = adapt_all(doc)
    assert adapted.source == "text folder train"
    assert adapted.size == len(adapted.vocabulary) + 2  # padding and [UNK] come first
    assert {"great", "awful", "the", "movie"} <= set(adapted.vocabulary)
    assert "" not in adapted.vocabulary
    stack.push(adapted.edit())
    layer = next(lay for lay in doc.graph.layers.values()
                 if lay.class_name == "TextVectorization")
    again = loads(dumps(doc))
    assert again.graph.layer(layer.id).params["vocabulary"] == adapted.vocabulary
    assert f"vocabulary={adapted.vocabulary[:1]!r}"[:-1] in generate(again).source
    assert adapt_all(doc) == [], "nothing left to adapt"
    stack.undo()
    assert "vocabulary" not in doc.graph.layer(layer.id).params


def test_exported_code_trains_with_the_same_vocabulary(folder: Path, tmp_path: Path) -> None:
    """Saved vocabulary: the code builds the layer with it. None saved: the code adapts on
    the same training subset as the app and gets the same words in the same order."""
    doc = text_classifier(folder, epochs=1)
    expected = adapt_layer(doc, next(iter(doc.graph.layers))).vocabulary
    source = generate(doc).source
    assert "model.get_layer('text_vectorization').adapt(train_ds.map(lambda x, y: x))" in source
    load_generated(generate(doc), "text_export_adapts").main(str(tmp_path / "adapts"))
    assert vocabulary_of(keras.saving.load_model(tmp_path / "adapts" / "best.keras")) == expected

    UndoStack(doc).push(adapt_all(doc)[0].edit())
    code = generate(doc)
    assert ".adapt(" not in code.source
    load_generated(code, "text_export_saved").main(str(tmp_path / "saved"))
    assert vocabulary_of(keras.saving.load_model(tmp_path / "saved" / "best.keras")) == expected


def test_strings_from_an_array_file_adapt_a_string_lookup(tmp_path: Path) -> None:
    doc = Document(get_catalog())
    stack = UndoStack(doc)
    colour = stack.push(edits.add_input(doc, [1], name="colour", dtype="string")).node
    lookup = stack.push(edits.add_layer(doc, "StringLookup")).node
    stack.push(edits.connect(doc, colour.id, lookup.id))
    np.save(tmp_path / "colours.npy", np.array([["red"], ["blue"], ["red"], ["green"]]))
    doc.training.data = {"colour": DataSource("npy", {"path": str(tmp_path / "colours.npy")})}
    adapted = adapt_layer(doc, lookup.layer_id)
    assert adapted.vocabulary == ["red", "green", "blue"]  # by count, then reverse order
    assert adapted.size == 4


def test_adapt_without_data_or_without_an_input_says_what_it_expected(folder: Path) -> None:
    doc = text_classifier(None)
    layer_id = next(iter(doc.graph.layers))
    with pytest.raises(AdaptError, match=r"expected input 'text' bound to a text folder.*"
                                         r"received synthetic data"):
        adapt_layer(doc, layer_id)
    doc.training.data = {"text": DataSource("text_dir", {"path": str(folder / "nowhere")})}
    with pytest.raises(AdaptError, match=r"input 'text' \(text folder nowhere\)"):
        adapt_layer(doc, layer_id)


def adapted_model() -> object:
    """A functional model with the three vocabulary layers adapted (vocabularies in assets)."""
    text = keras.Input(shape=(), dtype="string", name="text")
    vectorize = keras.layers.TextVectorization(max_tokens=20, name="words")
    vectorize.adapt(["a b c", "a b", "d"])
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(20, 4)(vectorize(text)))
    tag = keras.Input(shape=(1,), dtype="string", name="tag")
    tags = keras.layers.StringLookup(name="tags")
    tags.adapt(np.array([["x"], ["y"], ["x"]]))
    ids = keras.Input(shape=(1,), dtype="int64", name="ids")
    codes = keras.layers.IntegerLookup(name="codes")
    codes.adapt(np.array([[3], [4], [3]]))
    return keras.Model([text, tag, ids], [keras.layers.Dense(1)(pooled), tags(tag), codes(ids)])


def test_a_keras_model_with_vocabularies_imports_and_round_trips(tmp_path: Path) -> None:
    model = adapted_model()
    model.save(tmp_path / "model.keras")
    result = import_file(tmp_path / "model.keras")
    assert result.warnings == []
    doc = loads(dumps(result.doc))
    params = {layer.name: layer.params for layer in doc.graph.layers.values()}
    assert params["words"]["vocabulary"] == ["b", "a", "d", "c"]
    assert params["tags"]["vocabulary"] == ["x", "y"]
    assert params["codes"]["vocabulary"] == [3, 4]
    rebuilt = load_generated(generate(doc), "text_round_trip").build_model()
    for layer in model.layers:
        rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
        if hasattr(layer, "get_vocabulary"):
            got = rebuilt.get_layer(layer.name).get_vocabulary()
            assert [str(t) for t in got] == [str(t) for t in layer.get_vocabulary()]
    batch = [tf.constant(["a b", "d c zz"]), tf.constant([["x"], ["q"]]),
             tf.constant([[3], [9]], dtype="int64")]
    for want, got in zip(model.predict(batch, verbose=0), rebuilt.predict(batch, verbose=0),
                         strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_an_embedding_too_small_for_the_vocabulary_is_named(folder: Path, tmp_path: Path
                                                             ) -> None:
    doc = text_classifier(folder, epochs=1)
    embedding = next(lay for lay in doc.graph.layers.values() if lay.class_name == "Embedding")
    UndoStack(doc).push(SetParam(embedding.id, "input_dim", 10))
    adapted = adapt_all(doc)[0]
    assert adapted.problem == (
        f"layer 'text_vectorization' gives token ids 0-{adapted.size - 1}: expected Embedding "
        f"'embedding' to have an input_dim of at least {adapted.size}; received 10 (raise "
        "input_dim, or lower max_tokens)")
    result = train(doc, doc.training, run_dir=tmp_path / "run")
    assert result.status == "failed" and adapted.problem in result.message


def test_a_text_folder_feeds_an_input_of_shape_one(folder: Path, tmp_path: Path) -> None:
    """keras.Input(shape=(1,), dtype="string"): one string a row, as the folder gives."""
    doc = text_classifier(folder, epochs=1)
    [text] = doc.graph.inputs()
    text.shape = (1,)
    assert "shape=(1,), dtype='string'" in generate(doc).source
    assert adapt_all(doc)[0].vocabulary == adapt_all(text_classifier(folder))[0].vocabulary
    result = train(doc, doc.training, run_dir=tmp_path / "run")
    assert result.status == "completed", result.message
