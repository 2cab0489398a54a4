"""Exports: a Python module, a saved .keras model, DOT text and Graphviz drawings."""

from __future__ import annotations

import os
import shutil
import stat

import numpy as np
import pydot
import pytest

from layerforge.core.codegen.model_code import generate
from layerforge.core.editing import edits
from layerforge.core.io.export import (
    ExportError,
    export_diagram,
    export_keras,
    export_python,
    to_dot,
)
from layerforge.core.io.templates import load_template

keras = pytest.importorskip("keras")


def dense_doc(doc, stack, name: str = "dense", input_name: str = "x", loss: str = "mse"):
    x = stack.push(edits.add_input(doc, [4], name=input_name)).node.id
    dense = stack.push(edits.add_layer(doc, "Dense", {"units": 3}, name=name))
    out = stack.push(edits.add_output(doc, name="y", loss=loss)).node.id
    stack.push(edits.connect(doc, x, dense.node.id))
    stack.push(edits.connect(doc, dense.node.id, out))
    return dense.layer


BATCH = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)


# ------------------------------------------------------------------ python / keras
def test_export_python_writes_the_generated_module(doc, stack, tmp_path):
    dense_doc(doc, stack)
    target = tmp_path / "model.py"
    code = export_python(doc, target)
    assert target.read_text(encoding="utf-8") == code.source == generate(doc).source


def test_export_keras_saves_the_compiled_model(doc, stack, tmp_path):
    dense_doc(doc, stack)
    target = tmp_path / "model.keras"
    model = export_keras(doc, target)
    loaded = keras.saving.load_model(target)
    assert loaded.count_params() == model.count_params() == 4 * 3 + 3
    # The output is named after the layer that produces it: no extra Identity layer.
    assert loaded.output_names == ["dense"] and loaded.inputs[0].name == "x"
    assert [layer.name for layer in loaded.layers] == ["x", "dense"]
    np.testing.assert_allclose(loaded(BATCH), model(BATCH), rtol=0, atol=0)
    assert loaded.optimizer.__class__.__name__ == "RMSprop"
    assert loaded.loss == "mse"


def test_export_keras_applies_the_document_weights(doc, stack, tmp_path):
    pytest.importorskip("layerforge.core.io.weights")
    layer = dense_doc(doc, stack)
    kernel = np.arange(12, dtype="float32").reshape(4, 3) / 10
    bias = np.array([1.0, -1.0, 0.5], dtype="float32")
    doc.weights = {layer.id: [kernel, bias]}
    export_keras(doc, tmp_path / "trained.keras")
    loaded = keras.saving.load_model(tmp_path / "trained.keras")
    np.testing.assert_allclose(loaded(BATCH), BATCH @ kernel + bias, rtol=1e-6)


def test_export_keras_of_a_lambda_layer(doc, stack, tmp_path):
    """Keras reloads a lambda's bytecode with its own module's globals, so only expressions
    in x, operators and builtins survive a .keras file (not ``ops``/``keras`` names)."""
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    lam = stack.push(edits.add_layer(doc, "Lambda", {"expression": "abs(x) * 3"})).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, lam))
    stack.push(edits.connect(doc, lam, out))
    export_keras(doc, tmp_path / "lambda.keras")
    loaded = keras.saving.load_model(tmp_path / "lambda.keras", safe_mode=False)
    np.testing.assert_allclose(loaded(BATCH), np.abs(BATCH) * 3)


def test_export_keras_needs_the_keras_suffix(doc, stack, tmp_path):
    dense_doc(doc, stack)
    with pytest.raises(ExportError, match=r"expected a file name ending in \.keras; "
                                          r"received '.*model\.h5'"):
        export_keras(doc, tmp_path / "model.h5")
    assert list(tmp_path.iterdir()) == []


def test_export_keras_of_a_broken_graph_says_so(doc, stack, tmp_path):
    x = stack.push(edits.add_input(doc, [8], name="x")).node.id
    conv = stack.push(edits.add_layer(doc, "Conv2D", {"filters": 4})).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, conv))
    stack.push(edits.connect(doc, conv, out))
    with pytest.raises(ExportError, match=r"expected a model that builds.*ndim"):
        export_keras(doc, tmp_path / "broken.keras")
    assert not (tmp_path / "broken.keras").exists()


# ------------------------------------------------------------------------- dot
def parsed(text: str) -> pydot.Dot:
    graphs = pydot.graph_from_dot_data(text)
    assert graphs is not None and len(graphs) == 1
    return graphs[0]


def labels(graph: pydot.Dot) -> list[str]:
    found = []
    for node in graph.get_nodes():
        label = node.get_attributes().get("label")
        if label is not None:
            found.append(label.strip('"').replace("\\n", "\n"))
    return found


def test_dot_of_a_shared_layer_template():
    doc = load_template("siamese-lstm")
    graph = parsed(to_dot(doc))
    nodes = [n for n in graph.get_nodes() if n.get_name() not in ("node", "edge")]
    assert len(nodes) == len(doc.graph.nodes)
    assert len(graph.get_edges()) == len(doc.graph.edges)
    texts = labels(graph)
    assert texts.count("lstm\nLSTM\n(None, 32)") == 2  # one node per call of the shared LSTM
    assert "left\nInput float32\n(None, None, 128)" in texts
    edge_labels = sorted(e.get_attributes().get("label", "") for e in graph.get_edges())
    assert '"(None, 32)"' in edge_labels and '"(None, None, 128)"' in edge_labels


def test_dot_shows_a_block_as_one_node(doc, stack):
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    a = stack.push(edits.add_layer(doc, "Dense", {"units": 3}, name="a")).node.id
    b = stack.push(edits.add_layer(doc, "Dense", {"units": 2}, name="b")).node.id
    out = stack.push(edits.add_output(doc, name="y")).node.id
    stack.push(edits.connect(doc, x, a))
    stack.push(edits.connect(doc, a, b))
    stack.push(edits.connect(doc, b, out))
    stack.push(edits.group_into_block(doc, [a, b], "encoder", [(4,)]))
    graph = parsed(to_dot(doc))
    assert "encoder\nBlock 'encoder'\n(None, 2)" in labels(graph)
    assert [n.get_attributes().get("shape") for n in graph.get_nodes()].count("box3d") == 1
    assert len(graph.get_edges()) == 2


@pytest.mark.parametrize("name", ['quote"d', "back\\", 'x"]; evil [label="', "new\nline",
                                  "brace } {", "名前", "<b>html</b>"])
def test_dot_quotes_every_name(doc, stack, name):
    """Hostile names stay inside their labels: the DOT parses into the same three nodes."""
    dense_doc(doc, stack, name=name, input_name=f"in {name}")
    graph = parsed(to_dot(doc))
    assert len([n for n in graph.get_nodes() if n.get_name() not in ("node", "edge")]) == 3
    assert len(graph.get_edges()) == 2
    assert all(n.get_attributes()["label"].startswith('"') for n in graph.get_nodes()
               if "label" in n.get_attributes())


# --------------------------------------------------------------------- diagrams
def test_diagram_without_graphviz_names_the_package(doc, stack, tmp_path, monkeypatch):
    dense_doc(doc, stack)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ExportError, match=r"Graphviz.*apt-get install graphviz"):
        export_diagram(doc, tmp_path / "model.png")
    assert not (tmp_path / "model.png").exists()


def test_diagram_refuses_other_formats(doc, stack, tmp_path):
    dense_doc(doc, stack)
    with pytest.raises(ExportError, match="expected a diagram format among png, svg; "
                                          "received 'pdf'"):
        export_diagram(doc, tmp_path / "model.pdf", "pdf")


def test_diagram_runs_dot_with_the_format(doc, stack, tmp_path, monkeypatch):
    """A stand-in `dot` that records its arguments and input: the DOT text goes in on stdin
    and the format and target on the command line."""
    dense_doc(doc, stack)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "dot"
    fake.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/args"\ncat > "$3"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    target = tmp_path / "out.svg"
    export_diagram(doc, target, "svg")
    assert (bin_dir / "args").read_text().split() == ["-Tsvg", "-o", str(target)]
    assert target.read_text() == to_dot(doc)


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz is not installed (apt-get install graphviz)")
@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG"), ("svg", b"<svg")])
def test_diagram_with_graphviz(doc, stack, tmp_path, fmt, magic):
    dense_doc(doc, stack, name='odd "name"')
    target = tmp_path / f"model.{fmt}"
    export_diagram(doc, target, fmt)
    data = target.read_bytes()
    assert data.startswith(magic) if fmt == "png" else magic in data
    if fmt == "svg":
        assert b"odd &quot;name&quot;" in data and b"(None, 3)" in data

