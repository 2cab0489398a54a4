"""Acceptance: the live pass flags exactly the nodes Keras flags.

For every template and random single-parameter edits of it (a layer, one of its catalog
parameters, a legal value of that parameter's kind), the nodes the window marks within a
second (validation + the shape engine) equal those ``layerforge validate`` marks on the
saved file (validation + building the whole model in Keras). A difference is a bug in the
live pass.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from layerforge.core.analysis.check import full_check
from layerforge.core.analysis.shapes import ShapeEngine
from layerforge.core.analysis.validation import validate
from layerforge.core.catalog.params import ParamSpec
from layerforge.core.document.document import Document
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io.project import dumps, loads
from layerforge.core.io.templates import load_template, template_names
from layerforge.core.schema.diagnostics import Diagnostic
from layerforge.core.schema.records import LayerSpec

QUICK_EDITS = 15
SLOW_EDITS = 200
# Free text has no legal value to draw without knowing the layer (a Lambda expression).
FREE_KINDS = {"str", "any", "expression"}
# 'imagenet' downloads weights, and this machine has no network.
NEEDS_NETWORK = {"weights"}
SIZES = (1, 2, 3, 5, 8, 16, 64, 128)
CHOICE_KINDS = {"choice", "activation", "initializer", "regularizer", "constraint"}

Flags = set[tuple[str, str, str]]


def random_value(spec: ParamSpec, current: Any, rng: random.Random) -> Any:
    """A legal value of the parameter's kind (one the inspector would accept)."""
    if spec.kind == "int":
        return rng.randint(-4, 3) if spec.name == "axis" else rng.choice(SIZES)
    if spec.kind == "int_or_tuple":
        if spec.arity is None or rng.random() < 0.5:
            return rng.randint(1, 4)
        return [rng.randint(1, 4) for _ in range(spec.arity)]
    if spec.kind in CHOICE_KINDS:
        return rng.choice(spec.choices)
    if spec.kind == "bool":
        return rng.random() < 0.5
    if spec.kind == "float":
        return round(rng.random(), 2)
    length = spec.arity or len(current or spec.default or [1])
    return [rng.randint(1, 4) for _ in range(length)]  # "tuple"


def editable(spec: ParamSpec) -> bool:
    return spec.kind not in FREE_KINDS and spec.name not in NEEDS_NETWORK


def random_edit(doc: Document, rng: random.Random) -> tuple[LayerSpec, str, Any]:
    layers = [la for la in doc.graph.layers.values() if not la.is_block
              and any(editable(p) for p in doc.catalog.get(la.class_name).params)]
    layer = rng.choice(layers)
    spec = rng.choice([p for p in doc.catalog.get(layer.class_name).params if editable(p)])
    return layer, spec.name, random_value(spec, layer.params.get(spec.name), rng)


def flags(diagnostics: list[Diagnostic]) -> Flags:
    return {(d.graph_key, d.target, d.severity) for d in diagnostics}


def live_flags(doc: Document, engines: dict[str, ShapeEngine]) -> Flags:
    """What the window shows within a second of the edit (EditorSession.analyze): validation
    and the shape engines, which have followed every edit since the template opened."""
    found = validate(doc)
    for key, _graph in doc.graphs():
        found += engines[key].diagnostics()
    return flags(found)


def keras_flags(doc: Document) -> Flags:
    """What ``layerforge validate`` finds on the saved file (ids survive saving)."""
    return flags(full_check(loads(dumps(doc))).diagnostics)


def check_edits(name: str, count: int) -> None:
    """Each edit is made on the template, compared, then undone (as a user would try it)."""
    rng = random.Random(f"{name}/{count}")
    doc = load_template(name)
    engines = {key: ShapeEngine(doc, key) for key, _graph in doc.graphs()}
    assert live_flags(doc, engines) == keras_flags(doc)
    disagreements = []
    for _ in range(count):
        layer, param, value = random_edit(doc, rng)
        edit = SetParam(layer.id, param, value)
        edit.redo(doc)
        live, keras = live_flags(doc, engines), keras_flags(doc)
        if live != keras:
            disagreements.append(f"{layer.name}.{param} = {value!r}: live {sorted(live)}, "
                                 f"Keras {sorted(keras)}")
        edit.undo(doc)
    assert not disagreements, "\n".join(disagreements)


@pytest.mark.parametrize("name", template_names())
def test_live_pass_flags_the_nodes_keras_flags(name: str) -> None:
    check_edits(name, QUICK_EDITS)


@pytest.mark.slow
@pytest.mark.parametrize("name", template_names())
def test_live_pass_flags_the_nodes_keras_flags_over_200_edits(name: str) -> None:
    check_edits(name, SLOW_EDITS)


def test_an_edit_keras_refuses_is_flagged_on_the_same_node_by_both() -> None:
    """The test can fail: Inception with branch_a's strides 2 -> 1 is refused by both."""
    doc = load_template("inception-module")
    branch_a = next(la for la in doc.graph.layers.values() if la.name == "branch_a")
    SetParam(branch_a.id, "strides", 1).redo(doc)
    concat = next(n.id for n in doc.graph.calls()
                  if doc.graph.layer(n.layer_id).class_name == "Concatenate")
    engines = {"main": ShapeEngine(doc)}
    assert live_flags(doc, engines) == keras_flags(doc) == {("main", concat, "error")}
