"""The headless CLI as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from layerforge.core.io.templates import template_names

TEMPLATES = template_names()


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "layerforge.core.cli.main", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_lists_commands_without_loading_tensorflow():
    probe = ("import sys; from layerforge.core.cli import main as cli\n"
             "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print('tensorflow' in sys.modules, 'keras' in sys.modules, 'PySide6' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "summary" in out.stdout and "validate" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "False False False"


def test_templates_lists_every_template_with_its_section():
    out = run("templates")
    assert out.returncode == 0
    for name in TEMPLATES:
        assert name in out.stdout
    assert "7.1.4" in out.stdout


def test_summary_json_of_every_template():
    """One process for all templates keeps TensorFlow's import to one."""
    script = ("import json, sys\nfrom layerforge.core.analysis.summary import summarize\n"
              "from layerforge.core.io.templates import load_template\n"
              f"names = {TEMPLATES!r}\n"
              "print(json.dumps({n: summarize(load_template(n)) for n in names "
              "if n != 'dual-camera-xception'}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=600)
    data = json.loads(out.stdout)
    for name, summary in data.items():
        assert isinstance(summary["params"], int) and summary["params"] > 0, name
        assert summary["diagnostics"] == [], (name, summary["diagnostics"])
        assert all({"name", "shape"} <= set(i) for i in summary["inputs"] + summary["outputs"])
        assert all({"name", "class_name", "output_shapes", "params"} <= set(row)
                   for row in summary["layers"])
    qa = data["question-answering"]
    assert [i["name"] for i in qa["inputs"]] == ["text", "question"]
    assert qa["inputs"][0]["shape"] == [None, None]
    social = data["social-media-multi-output"]
    assert [o["name"] for o in social["outputs"]] == ["age", "income", "gender"]
    assert social["outputs"][1]["shape"] == [None, 10]


def test_summary_cli_json_matches_keras_reference():
    import keras
    from keras import layers

    out = run("summary", "residual-projection", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    x = keras.Input((32, 32, 64))
    y = layers.Conv2D(128, 3, activation="relu", padding="same")(x)
    y = layers.Conv2D(128, 3, activation="relu", padding="same")(y)
    y = layers.MaxPooling2D(2)(y)
    r = layers.Conv2D(128, 1, strides=2, padding="same")(x)
    reference = keras.Model(x, layers.add([y, r]))
    assert data["params"] == reference.count_params()
    assert data["outputs"][0]["shape"] == [None, 16, 16, 128]


def test_validate_exit_codes_and_messages(tmp_path):
    from layerforge.core.document.document import Document
    from layerforge.core.editing import edits
    from layerforge.core.io import project

    doc = Document()
    x = edits.add_input(doc, [8], name="x")
    x.redo(doc)
    conv = edits.add_layer(doc, "Conv2D", {"filters": 4})
    conv.redo(doc)
    edits.connect(doc, x.node.id, conv.node.id).redo(doc)
    out = edits.add_output(doc, name="y")
    out.redo(doc)
    edits.connect(doc, conv.node.id, out.node.id).redo(doc)
    bad = tmp_path / "bad.json"
    project.save(doc, bad)
    result = run("validate", str(bad))
    assert result.returncode == 1
    assert "Conv2D 'conv2d'" in result.stdout
    assert "expected min_ndim=4, found ndim=2" in result.stdout
    good = run("validate", "sequential-mlp")
    assert good.returncode == 0 and good.stdout.startswith("valid:")


@pytest.mark.parametrize("content, expected", [
    ('{"format": "layerforge-project", "format_version": 1, "graph": {"lay', "not valid JSON"),
    ('{"format": "layerforge-project", "format_version": 99, "graph": {}}', "update LayerForge"),
    ('[1, 2]', "expected a JSON object"),
])
def test_malformed_files_give_one_clear_error_and_no_traceback(tmp_path, content, expected):
    path = tmp_path / "broken.json"
    path.write_text(content)
    result = run("summary", str(path))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("layerforge: error:") == 1


def test_unknown_template_names_the_choices():
    result = run("summary", "no-such-template")
    assert result.returncode == 2
    assert "sequential-mlp" in result.stderr and "no-such-template" in result.stderr


def test_export_py_writes_runnable_code(tmp_path):
    target = tmp_path / "model.py"
    result = run("export", "siamese-lstm", "--format", "py", "-o", str(target))
    assert result.returncode == 0, result.stderr
    namespace: dict = {}
    exec(compile(target.read_text(), str(target), "exec"), namespace)
    model = namespace["compile_model"](namespace["build_model"]())
    assert len(model.layers) == 5  # two inputs, one shared LSTM, concatenate, dense
    assert model.count_params() == 4 * (128 * 32 + 32 * 32 + 32) + 65


# ----------------------------------------------- export, in process (one TensorFlow import)
def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from layerforge.core.cli.main import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_py_and_dot_go_to_stdout(capsys):
    from layerforge.core.codegen.model_code import generate
    from layerforge.core.io.templates import load_template

    code, out, err = cli(capsys, "export", "sequential-mlp")
    assert (code, err) == (0, "")
    assert out == generate(load_template("sequential-mlp")).source
    code, out, _ = cli(capsys, "export", "inception-module", "--format", "dot")
    assert code == 0 and out.startswith("digraph model {")
    assert '"branch_a\\nConv2D\\n(None, 16, 16, 128)"' in out
    assert 'label="(None, 16, 16, 512)"' in out


def test_export_dot_to_a_file(capsys, tmp_path):
    target = tmp_path / "model.dot"
    code, out, _ = cli(capsys, "export", "siamese-lstm", "--format", "dot", "-o", str(target))
    assert (code, out) == (0, "")
    assert target.read_text(encoding="utf-8").count("LSTM") == 2


@pytest.mark.parametrize("fmt", ["keras", "png", "svg"])
def test_binary_formats_need_an_output_file(capsys, fmt):
    code, out, err = cli(capsys, "export", "sequential-mlp", "--format", fmt)
    assert code == 2 and out == ""
    assert f"--format {fmt} writes a binary file: expected -o OUT" in err


def test_export_keras_file(capsys, tmp_path):
    import keras

    target = tmp_path / "mlp.keras"
    code, _, err = cli(capsys, "export", "sequential-mlp", "--format", "keras", "-o", str(target))
    assert code == 0, err
    model = keras.saving.load_model(target)
    assert model.count_params() == 64 * 32 + 32 + 32 * 32 + 32 + 32 * 10 + 10
    assert model.loss == "categorical_crossentropy"


def test_export_png_without_graphviz_says_what_to_install(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    code, _, err = cli(capsys, "export", "sequential-mlp", "--format", "png", "-o",
                       str(tmp_path / "m.png"))
    assert code == 2
    assert "apt-get install graphviz" in err and "Traceback" not in err
    assert err.count("layerforge: error:") == 1
    assert not (tmp_path / "m.png").exists()


def test_unknown_export_format_lists_the_choices(capsys):
    with pytest.raises(SystemExit) as info:
        cli(capsys, "export", "sequential-mlp", "--format", "pdf")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'pdf'" in err and "{py,keras,dot,png,svg,savedmodel,tflite,onnx}" in err


def test_commands_warn_before_opening_a_project_that_runs_code(capsys, tmp_path):
    from layerforge.core.document.document import Document
    from layerforge.core.editing import edits
    from layerforge.core.io import project

    doc = Document()
    x = edits.add_input(doc, [4], name="x")
    x.redo(doc)
    lam = edits.add_layer(doc, "Lambda", {"expression": "x * 2"}, name="double")
    lam.redo(doc)
    edits.connect(doc, x.node.id, lam.node.id).redo(doc)
    out = edits.add_output(doc, name="y")
    out.redo(doc)
    edits.connect(doc, lam.node.id, out.node.id).redo(doc)
    path = tmp_path / "lambda.json"
    project.save(doc, path)
    for command, exit_code in ((["summary"], 0), (["validate"], 1), (["export"], 0)):
        code, stdout, err = cli(capsys, *command, str(path))
        assert code == exit_code, err
        assert "warning:" in err and "not run until you trust" in err and "'double'" in err
        assert "--trust" in err
    assert "layers.Lambda(lambda x: x * 2, name='double')" in stdout
    _, _, err = cli(capsys, "validate", "sequential-mlp")
    assert "warning" not in err


@pytest.mark.parametrize("content, received", [
    (bytes(range(200, 256)) * 20, "received binary data, not text"),
    (b"hello, this is not json\n", "received text that is not valid JSON (line 1, column 1"),
    (b"", "received an empty file"),
])
def test_a_file_that_is_no_project_names_its_path_once(tmp_path, content, received):
    path = tmp_path / "garbage.json"
    path.write_bytes(content)
    result = run("validate", str(path))
    assert result.returncode == 2
    assert result.stderr.count(str(path)) == 1
    assert "expected a LayerForge project file (JSON text)" in result.stderr
    assert received in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_refuses_an_empty_project(tmp_path):
    from layerforge.core.document.document import Document
    from layerforge.core.io import project

    path = tmp_path / "empty.json"
    project.save(Document(), path)
    result = run("validate", str(path))
    assert result.returncode == 1
    assert "the model is empty" in result.stdout and "valid:" not in result.stdout
