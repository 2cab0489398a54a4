"""Property: for random valid graphs, the exported code builds the same model as calling
Keras directly on the document's graph (equal configs, identical outputs)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_random_graphs import Builder  # tests/core is on sys.path (rootdir imports)

from layerforge.core.catalog.catalog import get_catalog
from layerforge.core.codegen.loader import load_generated
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.schema.records import CallNode, InputNode

keras = pytest.importorskip("keras")

# Only edits that build: merges, branches and shared layers (call_again).
GROWTH = ["input", "dense", "dense", "dropout", "activation", "add", "concatenate",
          "call_again", "call_again"]


def random_document(data: st.DataObject) -> Document:
    """Random layers on 1-3 inputs; every tensor nothing consumes becomes an output, plus
    sometimes a second output of an inner tensor (multi-output models)."""
    doc = Document(get_catalog())
    builder = Builder(data, doc, UndoStack(doc))
    builder.do_input()
    for action in data.draw(st.lists(st.sampled_from(GROWTH), min_size=1, max_size=10),
                            label="actions"):
        builder.step(action)
    if not builder.tensors():
        builder.do_input()
    graph = doc.graph
    sinks = [nid for nid in builder.tensors() if not graph.out_edges(nid)]
    extra = data.draw(st.lists(st.sampled_from(builder.tensors()), max_size=1), label="extra")
    for src in sinks + extra:
        out = edits.add_output(doc)
        builder.push(out)
        builder.feed(src, out.node.id)
    return doc


def build_directly(doc: Document) -> Any:
    """The model from Keras layers called on the graph's tensors, without the code generator.
    Keras names an output after its layer: an output named otherwise goes through an
    Identity layer of its name."""
    graph = doc.graph
    tensors: dict[str, Any] = {}
    made: dict[str, Any] = {}
    outputs = []
    for node_id in graph.topological_order():
        node = graph.nodes[node_id]
        if isinstance(node, InputNode):
            tensors[node_id] = keras.Input(shape=node.shape, dtype=node.dtype, name=node.name)
            continue
        edges = sorted(graph.in_edges(node_id), key=lambda e: int(e.dst_slot))
        args = [tensors[e.src] for e in edges]
        if isinstance(node, CallNode):
            layer = graph.layer(node.layer_id)
            if layer.id not in made:
                made[layer.id] = getattr(keras.layers, layer.class_name)(name=layer.name,
                                                                         **layer.params)
            ports = doc.port_spec_of(layer).kind
            tensors[node_id] = made[layer.id](args if ports == "list" else args[0])
        elif node.name == graph.tensor_name(edges[0].src):
            outputs.append(args[0])
        else:
            outputs.append(keras.layers.Identity(name=node.name)(args[0]))
    inputs = [tensors[n.id] for n in graph.inputs()]
    return keras.Model(inputs=inputs[0] if len(inputs) == 1 else inputs,
                       outputs=outputs[0] if len(outputs) == 1 else outputs, name="model")


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_exported_code_builds_the_model_keras_builds(data: st.DataObject) -> None:
    doc = random_document(data)
    exported = load_generated(generate(doc)).build_model()
    direct = build_directly(doc)
    assert exported.get_config() == direct.get_config()
    for layer in exported.layers:
        direct.get_layer(layer.name).set_weights(layer.get_weights())
    rng = np.random.default_rng(0)
    batch = [rng.normal(size=(3, *n.shape)).astype("float32") for n in doc.graph.inputs()]
    batch = batch[0] if len(batch) == 1 else batch  # the structure the models take
    got = keras.tree.flatten(exported(batch, training=False))
    want = keras.tree.flatten(direct(batch, training=False))
    assert len(got) == len(want) == len(doc.graph.outputs())
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    graph = doc.graph
    event(f"outputs: {len(graph.outputs())}")
    event(f"shared layers: {any(len(graph.calls_of(lid)) > 1 for lid in graph.layers)}")
