"""String inputs on synthetic data and on arrays of strings from files: the app's run and the
exported module feed them the same way (random texts from the vocabulary's words or made-up
ones; strings made tensors before fit)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from text_projects import text_classifier

from layerforge.core.analysis.check import full_check
from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.codegen.data_plan import TextPlan, text_plans
from layerforge.core.codegen.loader import load_generated
from layerforge.core.codegen.model_code import generate
from layerforge.core.codegen.portable import synthetic_texts, vocabulary_words
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.keras_import.files import import_file
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import CallbackSpec, DataSource
from layerforge.core.training.fit import train
from layerforge.core.training.runs import load_run_model

keras = pytest.importorskip("keras")


def strings_file(tmp_path: Path, count: int = 40) -> Path:
    rng = np.random.default_rng(3)
    words = np.array(["good", "bad", "movie", "plot", "fun", "dull"])
    texts = np.array([" ".join(rng.choice(words, 4)) for _ in range(count)])
    np.savez(tmp_path / "texts.npz", text=texts, label=rng.integers(0, 2, (count, 1)))
    return tmp_path / "texts.npz"


def bind_file(doc: object, path: Path) -> None:
    doc.training.data = {  # type: ignore[attr-defined]
        "text": DataSource("npz", {"path": str(path), "key": "text"}),
        "label": DataSource("npz", {"path": str(path), "key": "label"})}


def test_synthetic_texts_draw_from_the_saved_vocabulary_else_made_up_words() -> None:
    doc = text_classifier(None, epochs=1)
    layer = next(iter(doc.graph.layers.values()))
    UndoStack(doc).push(SetParam(layer.id, "vocabulary", ["alpha", "beta", "gamma"]))
    model = load_generated(generate(doc), "string_vocab_words").build_model()
    texts = synthetic_texts(np.random.default_rng(0), 50, (), model, layer.name, 8)
    assert texts.shape == (50,)
    assert {w for t in texts for w in t.split()} == {"alpha", "beta", "gamma"}
    assert max(len(t.split()) for t in texts) <= 8
    made_up = vocabulary_words(model, None)
    assert len(made_up) >= 10 and all(w.isalpha() for w in made_up)


@pytest.mark.parametrize("source", ["synthetic", "npz"])
def test_a_string_input_trains_in_the_app_and_in_the_exported_code(source: str, tmp_path: Path
                                                                   ) -> None:
    doc = text_classifier(None, epochs=1)
    if source == "npz":
        bind_file(doc, strings_file(tmp_path))
    result = train(doc, doc.training, run_dir=tmp_path / "app")
    assert result.status == "completed", result.message
    app_words = load_run_model(tmp_path / "app").get_layer("text_vectorization") \
        .get_vocabulary(include_special_tokens=False)
    code = generate(doc)
    assert ".astype('string')" not in code.source
    load_generated(code, f"string_export_{source}").main(str(tmp_path / "export"))
    exported = keras.saving.load_model(tmp_path / "export" / "best.keras")
    words = exported.get_layer("text_vectorization").get_vocabulary(include_special_tokens=False)
    assert [str(w) for w in words] == [str(w) for w in app_words]
    assert len(words) > 3


def test_the_text_template_opens_checks_and_trains_on_random_texts(tmp_path: Path) -> None:
    doc = load_template("text-classifier")
    [text] = doc.graph.inputs()
    assert (text.shape, text.dtype) == ((1,), "string")
    assert doc.training.data == {}, "synthetic data by default"
    check = full_check(doc)
    assert check.ok and check.diagnostics == [], check.diagnostics
    doc.training.epochs = 1
    result = train(doc, doc.training, run_dir=tmp_path / "run")
    assert result.status == "completed", result.message
    words = load_run_model(tmp_path / "run").get_layer("text_vectorization") \
        .get_vocabulary(include_special_tokens=False)
    assert set(words) <= set(vocabulary_words(None, None)) and len(words) > 3


def test_a_keras_file_with_a_vocabulary_layer_never_adapted_imports_without_one(
        tmp_path: Path) -> None:
    """Keras writes an un-adapted layer's asset with its special tokens only; an empty
    vocabulary would be refused by Keras when the code builds the layer."""
    text = keras.Input(shape=(1,), dtype="string", name="text")
    ids = keras.layers.TextVectorization(max_tokens=30, output_sequence_length=4)(text)
    model = keras.Model(text, keras.layers.Dense(1)(keras.layers.Embedding(30, 2)(ids)))
    model.save(tmp_path / "m.keras")
    result = import_file(tmp_path / "m.keras")
    vectorize = next(iter(result.doc.graph.layers.values()))
    assert "vocabulary" not in vectorize.params
    assert load_generated(generate(result.doc), "never_adapted").build_model() \
        .count_params() == model.count_params()


def test_validation_strings_from_a_file_and_the_activation_logger(tmp_path: Path) -> None:
    doc = text_classifier(None, epochs=1)
    bind_file(doc, strings_file(tmp_path))
    held = tmp_path / "held"
    held.mkdir()
    doc.training.validation_data = {
        "text": DataSource("npz", {"path": str(strings_file(held, 12)), "key": "text"}),
        "label": DataSource("npz", {"path": str(held / "texts.npz"), "key": "label"})}
    doc.training.callbacks = [CallbackSpec("ActivationLogger")]
    result = train(doc, doc.training, run_dir=tmp_path / "app")
    assert result.status == "completed", result.message
    assert "val_loss" in result.history
    code = generate(doc)
    assert "val_x = string_tensors(val_x)" in code.source
    load_generated(code, "string_export_validation").main(str(tmp_path / "export"))
    assert (tmp_path / "export" / "best.keras").exists()


def test_a_string_lookup_on_synthetic_data_gets_one_word_a_value(tmp_path: Path) -> None:
    doc = Document(get_catalog())
    stack = UndoStack(doc)
    chain = [stack.push(edits.add_input(doc, [1], name="colour", dtype="string")).node.id]
    for class_name, params in (("StringLookup", {"output_mode": "one_hot"}),
                               ("Dense", {"units": 1, "activation": "sigmoid"})):
        chain.append(stack.push(edits.add_layer(doc, class_name, params)).node.id)
    chain.append(stack.push(edits.add_output(doc, loss="binary_crossentropy")).node.id)
    for src, dst in itertools.pairwise(chain):
        stack.push(edits.connect(doc, src, dst))
    lookup = next(lay for lay in doc.graph.layers.values() if lay.class_name == "StringLookup")
    stack.push(SetParam(lookup.id, "vocabulary", ["red", "green", "blue"]))
    assert text_plans(doc) == {"colour": TextPlan(lookup.name, 1)}
    doc.training.epochs, doc.training.seed = 1, 2
    result = train(doc, doc.training, run_dir=tmp_path / "app")
    assert result.status == "completed", result.message
    model = load_generated(generate(doc), "string_lookup_synthetic").build_model()
    texts = synthetic_texts(np.random.default_rng(0), 20, (1,), model, lookup.name, 1)
    assert set(texts.reshape(-1)) <= {"red", "green", "blue"}
    load_generated(generate(doc), "string_lookup_export").main(str(tmp_path / "export"))
    assert (tmp_path / "export" / "best.keras").exists()
