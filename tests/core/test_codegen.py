"""Generated code: clean, stable, and no user string can inject code."""

from __future__ import annotations

import ast

import pytest

from layerforge.core import edits
from layerforge.core.codegen import Namespace, generate
from layerforge.core.compile import build_model, load_generated
from layerforge.core.templates import load_template

HOSTILE = [
    "x'); import os; os.system('echo pwned'); ('",
    'quote"double',
    "new\nline = 1",
    "carriage\rreturn",
    "__import__('os').system('true')",
    "class",
    "print",
    "名前",
    "",
    "1st",
    "a" * 10_000,
    "tab\there",
    "#comment",
    "\\",
]


def tiny(doc, stack, name: str, title: str = "") -> None:
    doc.meta.title = title
    x = stack.push(edits.add_input(doc, [4], name=f"in {name}")).node.id
    layer = stack.push(edits.add_layer(doc, "Dense", {"units": 2},
                                       name=name or "unnamed")).node.id
    out = stack.push(edits.add_output(doc, name=f"out {name}")).node.id
    stack.push(edits.connect(doc, x, layer))
    stack.push(edits.connect(doc, layer, out))


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_stay_literals(doc, stack, name, capfd):
    tiny(doc, stack, name, title=name)
    source = generate(doc).source
    tree = ast.parse(source)
    calls = {node.func.attr for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    assert "system" not in calls
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "os" not in names and "__import__" not in names
    # the module only imports, defines functions and has the __main__ guard
    kinds = {type(stmt).__name__ for stmt in tree.body}
    assert kinds <= {"Import", "ImportFrom", "FunctionDef", "If"}
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert (name or "unnamed") in strings
    model = build_model(doc)
    assert [layer.name for layer in model.layers][1] == (name or "unnamed")
    assert "pwned" not in capfd.readouterr().out


def test_namespace_gives_unique_legal_identifiers():
    ns = Namespace()
    made = [ns.create(n) for n in ["class", "class", "print", "1x", "a b", "", "名前", "model"]]
    assert all(m.isidentifier() for m in made)
    assert len(set(made)) == len(made)
    assert made[:2] == ["class_", "class__1"]


def test_same_graph_gives_byte_identical_code():
    first = generate(load_template("inception-module")).source
    second = generate(load_template("inception-module")).source
    assert first == second


def test_generated_module_is_clean_keras():
    source = generate(load_template("siamese-lstm")).source
    assert "import keras\nfrom keras import layers" in source
    assert "lstm_layer = layers.LSTM(32, name='lstm')" in source
    assert "lstm_1 = lstm_layer(left)" in source and "lstm_2 = lstm_layer(right)" in source
    assert "def build_model():" in source and "def compile_model(model):" in source


def test_output_renamed_through_identity(doc, stack):
    tiny(doc, stack, "dense_a")
    model = load_generated(generate(doc)).build_model()
    assert model.output_names == ["out dense_a"]


def test_multi_output_compile_uses_dicts_keyed_by_output_name():
    source = generate(load_template("social-media-multi-output")).source
    assert "loss={'age': 'mse', 'income': 'categorical_crossentropy', " \
           "'gender': 'binary_crossentropy'}" in source
    assert "loss_weights={'age': 0.25, 'income': 1.0, 'gender': 10.0}" in source
