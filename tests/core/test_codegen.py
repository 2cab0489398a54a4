"""Generated code: clean, stable, and no user string can inject code."""

from __future__ import annotations

import ast
import builtins
import contextlib
import json
from dataclasses import replace

import numpy as np
import pytest

from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.codegen.loader import build_model, load_generated
from layerforge.core.codegen.model_code import generate
from layerforge.core.codegen.python import LINE_WIDTH, Namespace
from layerforge.core.document import records
from layerforge.core.editing import edits
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io import project
from layerforge.core.io.export import export_python
from layerforge.core.io.templates import load_template, template_names
from layerforge.core.schema.errors import ParameterError

SENTINEL = "lf_sentinel"
TRIPLE = "'" * 3
# Strings that create SENTINEL or set builtins.LF_PWNED if any of them ever runs as code.
HOSTILE = [
    f"x'); open('{SENTINEL}', 'w'); ('",
    f'x"); open("{SENTINEL}", "w"); ("',
    f'x"""; open("{SENTINEL}", "w"); """',
    f"x{TRIPLE}; open('{SENTINEL}', 'w'); {TRIPLE}",
    f"new\nline = open('{SENTINEL}', 'w')",
    f"carriage\ropen('{SENTINEL}', 'w')",
    "__import__('builtins').__setattr__('LF_PWNED', 1)",
    "class",
    "print",
    "build_model",
    "keras",
    "名前",
    "",
    "1st",
    "a" * 10_000,
    "tab\there",
    "#comment",
    "\\",
    "\\'",
    "nul\x00byte",
    "line\u2028separator",
    "ünïcödé",
]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder, so a SENTINEL file would show that injected code ran."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not (tmp_path / SENTINEL).exists(), "injected code ran"
    assert not hasattr(builtins, "LF_PWNED"), "injected code ran"


def tiny(doc, stack, name: str, title: str = "") -> None:
    doc.meta.title = title
    x = stack.push(edits.add_input(doc, [4], name=f"in {name}")).node.id
    layer = stack.push(edits.add_layer(doc, "Dense", {"units": 2},
                                       name=name or "unnamed")).node.id
    out = stack.push(edits.add_output(doc, name=f"out {name}")).node.id
    stack.push(edits.connect(doc, x, layer))
    stack.push(edits.connect(doc, layer, out))


def hostile_doc(doc, stack, name: str) -> None:
    """``name`` everywhere a user types text: title, description, section, input, layer,
    block, output, loss and metric."""
    doc.meta.title = doc.meta.description = doc.meta.section = name
    x = stack.push(edits.add_input(doc, [4], name=f"in {name}")).node.id
    dense = stack.push(edits.add_layer(doc, "Dense", {"units": 3}, name=name or "unnamed"))
    inner = stack.push(edits.add_layer(doc, "Dense", {"units": 2}, name=f"inner {name}"))
    out = stack.push(edits.add_output(doc, name=f"out {name}", loss=name, metrics=[name]))
    stack.push(edits.connect(doc, x, dense.node.id))
    stack.push(edits.connect(doc, dense.node.id, inner.node.id))
    stack.push(edits.connect(doc, inner.node.id, out.node.id))
    stack.push(edits.group_into_block(doc, [inner.node.id], f"block {name}", [(3,)]))
    # Connecting names an output after its layer; a file written elsewhere can name it
    # otherwise, which the code keeps through an Identity layer: the name reaches code too.
    output = doc.graph.node(out.node.id)
    doc.graph.replace_node(replace(output, name=f"out {name}"), "name")


def assert_only_definitions(source: str) -> ast.Module:
    """The module imports, defines functions and ends with the two-line __main__ guard calling
    main(); nothing but main (run only by the guard) opens files, imports or evaluates, and
    nothing anywhere evaluates text."""
    tree = ast.parse(source)
    kinds = {type(stmt).__name__ for stmt in tree.body}
    assert kinds <= {"Import", "ImportFrom", "FunctionDef", "ClassDef", "If"}
    assert source.endswith('\n\n\nif __name__ == "__main__":\n    main()\n')
    definitions = [stmt for stmt in tree.body if not isinstance(stmt, ast.If)
                   and getattr(stmt, "name", "") != "main"]
    assert not _called(definitions) & {"open", "system", "__import__", "__setattr__", "eval",
                                       "exec"}
    names = {n.id for stmt in definitions for n in ast.walk(stmt) if isinstance(n, ast.Name)}
    assert not names & {"os", "open", "__import__", "builtins"}
    # The training script in main makes its run folder (os), and nothing more.
    assert not _called(tree.body) & {"system", "__import__", "__setattr__", "eval", "exec"}
    return tree


def _called(statements: list[ast.stmt]) -> set[str]:
    return {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", "")
            for stmt in statements for n in ast.walk(stmt) if isinstance(n, ast.Call)}


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_names_stay_literals(doc, stack, name, in_tmp):
    hostile_doc(doc, stack, name)
    code = generate(doc)
    tree = assert_only_definitions(code.source)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert {name or "unnamed", f"in {name}", f"out {name}", f"block {name}"} <= strings
    module = load_generated(code)
    model = module.build_model()
    assert [layer.name for layer in model.layers] == [f"in {name}", name or "unnamed",
                                                      f"block {name}", f"out {name}"]
    assert model.output_names == [f"out {name}"]
    assert model.count_params() == 4 * 3 + 3 + 3 * 2 + 2
    # Keras refuses a loss or metric it does not know; it never runs it
    with contextlib.suppress(ValueError):
        module.compile_model(model)


@pytest.mark.parametrize("name", [*HOSTILE[:7], "名前", "a" * 200], ids=range(9))
def test_hostile_export_paths(doc, stack, name, in_tmp):
    """Any file name works as an export target, and it never reaches the code."""
    tiny(doc, stack, "dense")
    target = in_tmp / (name.replace("/", "_") + ".py")
    code = export_python(doc, target)
    assert target.read_text(encoding="utf-8") == code.source == generate(doc).source
    assert name not in code.source


# Single expressions, however odd: each becomes exactly one lambda (canonical form).
LAMBDA_ACCEPTED = {
    f"x  # '); open('{SENTINEL}', 'w'); ('": "lambda x: x",
    "(x\n * 2)": "lambda x: x * 2",
    'x if """ else x """ else x': "lambda x: x if ' else x ' else x",
    "x * len('名前')": "lambda x: x * len('名前')",
    "x, x": "lambda x: (x, x)",
    "x + len('" + "a" * 10_000 + "')": "lambda x: x + len('" + "a" * 10_000 + "')",
}
# Text that would add statements or arguments to the module: refused.
LAMBDA_REFUSED = [
    f"x)\nopen('{SENTINEL}', 'w')\n(x",
    f"x; open('{SENTINEL}', 'w')",
    f"x), open('{SENTINEL}', 'w'), (x",
    f"x, name=open('{SENTINEL}', 'w')",
    "import os",
    f"y = open('{SENTINEL}', 'w')",
    f"lambda: 0\nopen('{SENTINEL}', 'w')",
    "await x",
    "",
    "x\x00",
    "x" + " + 0" * 2_500,
]


def lambda_doc(doc, stack, text: str):
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    add = stack.push(edits.add_layer(doc, "Lambda", {"expression": text}))
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, add.node.id))
    stack.push(edits.connect(doc, add.node.id, out))
    return add.layer


@pytest.mark.parametrize("text", list(LAMBDA_ACCEPTED), ids=range(len(LAMBDA_ACCEPTED)))
def test_lambda_text_becomes_one_lambda(doc, stack, text, in_tmp):
    lam = lambda_doc(doc, stack, text)
    source = generate(doc).source
    tree = assert_only_definitions(source)
    lambdas = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
    assert len(lambdas) == 1 and ast.unparse(lambdas[0]) == LAMBDA_ACCEPTED[text]
    assert "from keras import layers, ops" in source
    assert records.code_layers(doc) == [lam.name]
    if text != "x, x":  # a tuple is two tensors, which this one-output graph does not take
        assert build_model(doc).output_shape == (None, 4)


@pytest.mark.parametrize("text", LAMBDA_REFUSED, ids=range(len(LAMBDA_REFUSED)))
def test_lambda_text_that_is_not_one_expression_is_refused(doc, stack, text, in_tmp):
    with pytest.raises(ParameterError, match="expected a single Python expression in x"):
        stack.push(edits.add_layer(doc, "Lambda", {"expression": text}))
    lam = lambda_doc(doc, stack, "x")
    with pytest.raises(ParameterError, match="expected a single Python expression in x"):
        stack.push(SetParam(lam.id, "expression", text))
    assert doc.graph.layer(lam.id).params == {"expression": "x"}


def test_lambda_runs_only_when_the_model_is_built(doc, stack, in_tmp):
    """Building a Lambda runs the user's expression (why files are marked); generating or
    loading the module does not."""
    lambda_doc(doc, stack, f"open('{SENTINEL}', 'w').close() or x")
    module = load_generated(generate(doc))
    assert not (in_tmp / SENTINEL).exists()
    module.build_model()
    assert (in_tmp / SENTINEL).exists()
    (in_tmp / SENTINEL).unlink()


def test_lambda_layer_shapes_and_output(doc, stack):
    lam = lambda_doc(doc, stack, "ops.concatenate([x, x * 2], axis=-1)")
    engine = ShapeEngine(doc)
    call = doc.graph.calls_of(lam.id)[0]
    assert engine.shapes()[call.id].outputs == ((None, 8),)
    assert engine.total_params() == 0
    model = build_model(doc)
    batch = np.arange(8, dtype="float32").reshape(2, 4)
    np.testing.assert_array_equal(model(batch), np.concatenate([batch, batch * 2], axis=-1))


def test_lambda_marks_project_files(doc, stack, tmp_path):
    lambda_doc(doc, stack, "x * 2")
    assert json.loads(project.dumps(doc))["runs_code"] is True
    path = tmp_path / "p.json"
    project.save(doc, path)
    assert records.code_layers(project.load(path)) == ["lambda"]
    assert "runs_code" not in project.dumps(load_template("sequential-mlp"))


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
    assert "import os\n\nimport keras\nimport numpy as np\nfrom keras import layers\n" in source
    assert "lstm_layer = layers.LSTM(32, name='lstm')" in source
    assert "lstm_1 = lstm_layer(left)" in source and "lstm_2 = lstm_layer(right)" in source
    assert "def build_model():" in source and "def compile_model(model):" in source


def test_output_named_otherwise_in_a_file_is_renamed_through_identity(doc, stack):
    tiny(doc, stack, "dense_a")
    output = doc.graph.outputs()[0]
    assert output.name == "dense_a"
    doc.graph.replace_node(replace(output, name="out dense_a"), "name")
    text = project.dumps(doc)
    source = generate(project.loads(text)).source
    assert "out_dense_a = layers.Identity(name='out dense_a')(dense_a)" in source
    model = load_generated(generate(project.loads(text))).build_model()
    assert model.output_names == ["out dense_a"]


def test_multi_output_compile_uses_dicts_keyed_by_output_name():
    source = generate(load_template("social-media-multi-output")).source
    assert "loss={'age': 'mse', 'income': 'categorical_crossentropy', " \
           "'gender': 'binary_crossentropy'}" in source
    assert "loss_weights={'age': 0.25, 'income': 1.0, 'gender': 10.0}" in source


def test_variables_never_shadow_block_functions(doc, stack):
    """A layer named like a block's builder function still calls that function."""
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    first = stack.push(edits.add_layer(doc, "Dense", {"units": 3}, name="build_enc")).node.id
    inner = stack.push(edits.add_layer(doc, "Dense", {"units": 2}, name="inner")).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, first))
    stack.push(edits.connect(doc, first, inner))
    stack.push(edits.connect(doc, inner, out))
    stack.push(edits.group_into_block(doc, [inner], "enc", [(3,)]))
    source = generate(doc).source
    assert "def build_enc(name='enc'):" in source
    assert "build_enc_1 = layers.Dense(3, name='build_enc')(x)" in source
    assert build_model(doc).count_params() == 4 * 3 + 3 + 3 * 2 + 2


def test_block_with_two_outputs_is_indexed(doc, stack):
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    a = stack.push(edits.add_layer(doc, "Dense", {"units": 3}, name="a")).node.id
    b = stack.push(edits.add_layer(doc, "Dense", {"units": 5}, name="b")).node.id
    outs = [stack.push(edits.add_output(doc, name=n)).node.id for n in ("ya", "yb")]
    for layer, out in ((a, outs[0]), (b, outs[1])):
        stack.push(edits.connect(doc, x, layer))
        stack.push(edits.connect(doc, layer, out))
    stack.push(edits.group_into_block(doc, [a, b], "pair", [(4,)]))
    source = generate(doc).source
    # Outputs 'a' and 'b' (named after their Dense layers) now come from the block: the first
    # takes the block's name; the second keeps its own through an Identity (Keras would name
    # both after the block).
    assert source.count("layers.Identity") == 1
    assert "b = layers.Identity(name='b')(pair[1])" in source
    assert "outputs=[pair[0], b]" in source
    model = build_model(doc)
    assert model.output_names == ["pair", "b"]
    assert [tuple(o.shape) for o in model.outputs] == [(None, 3), (None, 5)]


def test_only_non_default_arguments(doc, stack):
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    dense = stack.push(edits.add_layer(doc, "Dense", {"units": 8, "use_bias": True,
                                                      "activation": None})).node.id
    out = stack.push(edits.add_output(doc, name="dense")).node.id
    stack.push(edits.connect(doc, x, dense))
    stack.push(edits.connect(doc, dense, out))
    assert "    dense = layers.Dense(8, name='dense')(x)\n" in generate(doc).source


@pytest.mark.parametrize("name", template_names())
def test_template_code_is_stable_and_fits_the_line_width(name):
    doc = load_template(name)
    source = generate(doc).source
    assert generate(project.loads(project.dumps(doc))).source == source
    assert max(len(line) for line in source.splitlines()) <= LINE_WIDTH


@pytest.mark.parametrize("block_name", ["model", "Model", "build_model"])
def test_block_functions_never_replace_build_model(doc, stack, block_name):
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    inner = stack.push(edits.add_layer(doc, "Dense", {"units": 2}, name="inner")).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, inner))
    stack.push(edits.connect(doc, inner, out))
    stack.push(edits.group_into_block(doc, [inner], block_name, [(4,)]))
    source = generate(doc).source
    assert source.count("def build_model():") == 1
    model = build_model(doc)
    assert [layer.name for layer in model.layers] == ["x", block_name]
    assert model.output_names == [block_name]


# ------------------------------------------------ output names are layer names (issue 10)
def test_a_drawn_model_exports_exactly_the_layers_drawn(doc, stack):
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    dense = stack.push(edits.add_layer(doc, "Dense", {"units": 2}, name="dense")).node.id
    out = stack.push(edits.add_output(doc)).node.id
    stack.push(edits.connect(doc, x, dense))
    stack.push(edits.connect(doc, dense, out))
    source = generate(doc).source
    assert "Identity" not in source
    model = load_generated(generate(doc)).build_model()
    assert model.output_names == ["dense"]
    assert [layer.name for layer in model.layers] == ["x", "dense"]


def test_one_tensor_as_two_outputs_keeps_exactly_one_identity(doc, stack):
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    dense = stack.push(edits.add_layer(doc, "Dense", {"units": 2}, name="dense")).node.id
    stack.push(edits.connect(doc, x, dense))
    for name in ("first", "second"):
        out = stack.push(edits.add_output(doc, name=name, loss="mse")).node.id
        stack.push(edits.connect(doc, dense, out))
    source = generate(doc).source
    assert source.count("layers.Identity") == 1
    assert "second = layers.Identity(name='second')(dense)" in source
    assert "loss={'dense': 'mse', 'second': 'mse'}" in source
    module = load_generated(generate(doc))
    model = module.compile_model(module.build_model())
    assert model.output_names == ["dense", "second"]
    batch, target = np.ones((2, 4), dtype="float32"), np.ones((2, 2), dtype="float32")
    model.train_on_batch(batch, {"dense": target, "second": target})


def test_an_output_straight_from_an_input_needs_no_identity(doc, stack):
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    dense = stack.push(edits.add_layer(doc, "Dense", {"units": 2})).node.id
    stack.push(edits.connect(doc, x, dense))
    for src in (x, dense):
        out = stack.push(edits.add_output(doc, loss="mse")).node.id
        stack.push(edits.connect(doc, src, out))
    source = generate(doc).source
    assert "Identity" not in source
    module = load_generated(generate(doc))
    model = module.compile_model(module.build_model())
    assert model.output_names == ["x", "dense"]
    batch = np.ones((2, 4), dtype="float32")
    model.train_on_batch(batch, {"x": batch, "dense": np.ones((2, 2), dtype="float32")})


def test_sequential_mlp_exports_a_short_module_with_a_main():
    source = generate(load_template("sequential-mlp")).source
    lines = source.splitlines()
    assert len(lines) <= 60
    assert 'def main(run_dir="run"):' in lines
    assert lines[-2:] == ['if __name__ == "__main__":', "    main()"]
    assert not any(line.startswith("    ") and "import" in line for line in lines)


def test_traceback_through_generated_code_shows_its_lines(doc, stack):
    """load_generated registers the source, so a failure inside it reads like any module's."""
    import traceback

    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    lam = stack.push(edits.add_layer(doc, "Lambda", {"expression": "x / undefined_name"}))
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, lam.node.id))
    stack.push(edits.connect(doc, lam.node.id, out))
    code = generate(doc)
    module = load_generated(code)
    with pytest.raises(Exception) as caught:  # Keras wraps the NameError in its own errors
        module.build_model()
    frames = [f for f in traceback.extract_tb(caught.value.__traceback__)
              if f.filename == "<layerforge_generated>"]
    lines = code.source.splitlines()
    assert frames and all(f.line == lines[f.lineno - 1].strip() for f in frames)
    assert any("lambda x: x / undefined_name" in f.line for f in frames)
    assert "lambda x: x / undefined_name" in "".join(traceback.format_exception(caught.value))


def test_a_value_nested_too_deep_for_code_is_refused_with_a_message(doc, stack):
    from layerforge.core.codegen.python import CodegenError, literal

    deep: object = "relu"
    for _ in range(900):
        deep = {"class_name": "x", "config": deep}
    with pytest.raises(CodegenError, match="nested at most 64 deep"):
        literal(deep)
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    dense = stack.push(edits.add_layer(doc, "Dense", {"units": 2})).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, dense))
    stack.push(edits.connect(doc, dense, out))
    doc.graph.layer_of(dense).params["activation"] = deep  # as a file written elsewhere has it
    with pytest.raises(CodegenError, match="nested at most 64 deep"):
        generate(doc)
    assert literal([[1, 2.5], {"a": None}]) == "[[1, 2.5], {'a': None}]"
