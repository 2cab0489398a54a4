"""The layer catalog: what it offers, its parameter kinds, a Keras round trip of every
layer, and its disk cache."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from layerforge.core.catalog import catalog as catalog_module
from layerforge.core.catalog.catalog import Catalog, LayerEntry, cache_path, get_catalog
from layerforge.core.catalog.params import ParamSpec
from layerforge.core.codegen.loader import build_model
from layerforge.core.document.document import Document
from layerforge.core.editing import edits
from layerforge.core.editing.commands import UndoStack
from layerforge.core.io.project import dumps, loads
from layerforge.core.schema.errors import LayerForgeError, UnknownLayerError

keras = pytest.importorskip("keras")

ESSENTIAL = ["Dense", "Conv1D", "Conv2D", "SeparableConv2D", "MaxPooling2D", "GlobalMaxPooling1D",
             "LSTM", "GRU", "Embedding", "BatchNormalization", "Dropout", "Concatenate", "Add",
             "MultiHeadAttention", "Flatten", "Reshape", "LayerNormalization", "Rescaling"]
CATEGORIES = ["Core", "Convolution", "Pooling", "Recurrent", "Normalization", "Regularization",
              "Attention", "Reshaping", "Merging", "Activation", "Preprocessing"]

# Lambda is built from its expression text by keras_bridge (tested in test_codegen.py);
# TFSMLayer needs a SavedModel to build (tested in test_catalog_entries.py).
LAYERS = [entry for entry in get_catalog()
          if not entry.is_application and entry.class_name not in ("Lambda", "TFSMLayer")]

# The whole account of the public keras.layers classes that are not catalog entries.
# Left out, at most 3: they run on another backend than this app's TensorFlow.
EXCLUDED = {
    "JaxLayer": "another backend than this app's TensorFlow",
    "FlaxLayer": "another backend than this app's TensorFlow",
    "TorchModuleWrapper": "another backend than this app's TensorFlow",
}
# Covered otherwise: no layer of their own a user could place.
COVERED = {
    "InputLayer": "made by an input node (keras.Input)",
    "Layer": "the base class of layers, with no call of its own",
    "Wrapper": "the base class of wrappers, with no call of its own",
}


# ------------------------------------------------------------------ content
def test_catalog_size_and_essentials(catalog: Catalog) -> None:
    assert len(catalog) >= 100
    missing = [name for name in ESSENTIAL if name not in catalog]
    assert missing == []
    assert catalog.get("Conv2D").category == "Convolution"
    assert catalog.get("LSTM").category == "Recurrent"
    assert catalog.get("MaxPooling2D").category == "Pooling"
    assert catalog.get("Rescaling").category == "Preprocessing"


def test_categories(catalog: Catalog) -> None:
    groups = catalog.categories()
    assert set(CATEGORIES) <= set(groups)
    for entries in groups.values():
        names = [e.class_name for e in entries]
        assert names == sorted(names)
    assert sum(len(v) for v in groups.values()) == len(catalog)


def public_layer_classes() -> set[str]:
    """Every public class of keras.layers, as the catalog walks them: classes that subclass
    keras.layers.Layer, aliases (Convolution2D for Conv2D) folded into their class."""
    return {name for name in dir(keras.layers)
            if inspect.isclass(getattr(keras.layers, name))
            and issubclass(getattr(keras.layers, name), keras.layers.Layer)
            and getattr(keras.layers, name).__name__ == name}


def test_every_public_keras_layer_is_in_the_catalog_or_accounted_for(catalog: Catalog
                                                                     ) -> None:
    public = public_layer_classes()
    assert len(EXCLUDED) <= 3
    accounted = set(catalog.entries) | set(catalog.nested) | set(EXCLUDED) | set(COVERED)
    assert public - accounted == set(), "public classes neither placed nor accounted for"
    assert set(catalog.excluded) == set(EXCLUDED) | set(COVERED), "nothing else is left out"
    for name, why in {**EXCLUDED, **COVERED}.items():
        assert name in public and name not in catalog, name
        assert why in catalog.excluded[name], name
    for name in ("HashedCrossing", "STFTSpectrogram", "TFSMLayer", "Lambda",
                 "TextVectorization", "StringLookup", "Bidirectional", "RNN"):
        assert name in catalog, name


def test_the_input_node_makes_the_input_layer(doc: Document) -> None:
    stack = UndoStack(doc)
    x = stack.push(edits.add_input(doc, [4], name="x")).node.id
    dense = stack.push(edits.add_layer(doc, "Dense")).node.id
    stack.push(edits.connect(doc, x, dense))
    stack.push(edits.connect(doc, dense, stack.push(edits.add_output(doc)).node.id))
    model = build_model(doc)
    assert isinstance(model.get_layer("x"), keras.layers.InputLayer)


def test_the_base_classes_have_no_call_of_their_own() -> None:
    """Layer and Wrapper place nothing: a custom module's layers subclass Layer, the wrappers
    TimeDistributed and SpectralNormalization subclass Wrapper."""
    tensor = keras.Input((4,))
    with pytest.raises(NotImplementedError):
        keras.layers.Layer()(tensor)
    wrapper = keras.layers.Wrapper(keras.layers.Dense(2))
    wrapper.build((None, 4))
    with pytest.raises(NotImplementedError, match="Wrapper does not have a `call`"):
        wrapper(tensor)
    for wrapper in ("TimeDistributed", "SpectralNormalization"):
        assert issubclass(getattr(keras.layers, wrapper), keras.layers.Wrapper)


@pytest.mark.parametrize("name", [*EXCLUDED, *COVERED])
def test_excluded_classes_are_explained(catalog: Catalog, doc: Document, name: str) -> None:
    """The reason is shown wherever a class left out is named: the catalog, a project file."""
    with pytest.raises(UnknownLayerError, match=name) as info:
        catalog.get(name)
    assert catalog.excluded[name] in str(info.value)
    stack = UndoStack(doc)
    stack.push(edits.add_layer(doc, "Dense"))
    text = dumps(doc).replace('"class_name": "Dense"', f'"class_name": "{name}"')
    with pytest.raises(LayerForgeError) as opened:
        loads(text)
    assert f"'{name}'" in str(opened.value) and catalog.excluded[name] in str(opened.value)


def test_an_unknown_class_says_what_was_expected(catalog: Catalog) -> None:
    with pytest.raises(UnknownLayerError, match=r"expected a Keras layer class.*'Nope'"):
        catalog.get("Nope")


def test_applications_are_marked(catalog: Catalog) -> None:
    apps = [e for e in catalog if e.is_application]
    assert apps and all(e.category == "Applications" for e in apps)
    assert "applications.ResNet50" in catalog


def test_merge_layers_take_lists(catalog: Catalog) -> None:
    for name in ("Concatenate", "Add", "Average", "Maximum", "Minimum", "Multiply"):
        ports = catalog.get(name).ports
        assert (ports.kind, ports.min) == ("list", 2), name
        assert ports.max is None
    assert catalog.get("Subtract").ports.max == 2
    merging = catalog.categories()["Merging"]
    assert all(e.ports.kind == "list" and e.ports.min >= 2 for e in merging)


def test_attention_ports(catalog: Catalog) -> None:
    ports = catalog.get("MultiHeadAttention").ports
    assert ports.kind == "named"
    assert ports.names == ("query", "value", "key")
    assert ports.required == ("query", "value")
    assert ports.slot_error("query") is None
    assert "foo" in (ports.slot_error("foo") or "")
    assert catalog.get("Dense").ports.kind == "single"


def test_dense_params(catalog: Catalog) -> None:
    dense = catalog.get("Dense")
    units = dense.param("units")
    assert (units.kind, units.required) == ("int", True)
    activation = dense.param("activation")
    assert activation.kind == "activation"
    assert {None, "relu", "softmax", "sigmoid"} <= set(activation.choices)
    assert dense.param("use_bias").kind == "bool"
    assert dense.param("kernel_initializer").kind == "initializer"
    assert dense.initial_params() == {"units": 32}
    assert dense.key_params()[:2] == ["units", "activation"]
    with pytest.raises(KeyError, match="Dense has no parameter 'unitz'"):
        dense.param("unitz")
    assert not dense.has_param("name") and not dense.has_param("kwargs")


def test_conv_params(catalog: Catalog) -> None:
    conv = catalog.get("Conv2D")
    kernel = conv.param("kernel_size")
    assert (kernel.kind, kernel.arity, kernel.required) == ("int_or_tuple", 2, True)
    assert conv.param("strides").arity == 2
    assert catalog.get("Conv1D").param("kernel_size").arity == 1
    padding = conv.param("padding")
    assert padding.kind == "choice" and set(padding.choices) == {"valid", "same"}
    assert "causal" in catalog.get("Conv1D").param("padding").choices
    assert kernel.to_keras([3, 5]) == (3, 5) and kernel.to_keras(3) == 3


# -------------------------------------------------------------- value checks
@pytest.mark.parametrize(("layer", "param", "good", "bad"), [
    ("Dense", "units", [1, 64], ["64", 2.0, True, None]),
    ("Dense", "use_bias", [True, False], [1, "true", None]),
    ("Dense", "activation", [None, "relu", "tanh"], ["wiggle", 1]),
    ("Dropout", "rate", [0.5, 1], ["half", None, [0.5]]),
    ("Conv2D", "kernel_size", [3, [3, 3], (1, 5)], [[3, 3, 3], "3", [3.0, 3.0], 2.5]),
    ("Conv2D", "padding", ["valid", "same"], ["causal", None, 0]),
    ("Reshape", "target_shape", [[-1, 1], [4, 2]], ["4,2", [4.0]]),
    ("Embedding", "input_dim", [10], [10.5]),
])
def test_value_error(catalog: Catalog, layer: str, param: str, good: list[Any],
                     bad: list[Any]) -> None:
    spec = catalog.get(layer).param(param)
    for value in good:
        assert spec.value_error(value) is None, value
    for value in bad:
        problem = spec.value_error(value)
        assert problem is not None, value
        assert f"'{param}' expected" in problem and "received" in problem
        assert repr(value) in problem


def test_value_error_message_names_kind() -> None:
    spec = ParamSpec("units", "int", 32, True)
    assert spec.value_error("x") == "'units' expected an integer; received 'x' (str)"
    any_spec = ParamSpec("whatever", "any", None)
    assert any_spec.value_error({"a": [1, None]}) is None
    assert "a JSON value" in (any_spec.value_error(object()) or "")


# ------------------------------------------------- names Keras resolves
def keras_activation_names() -> set[str]:
    """Every function of the public ``keras.activations`` that ``keras.activations.get``
    resolves by its name."""
    names = set()
    for name, _fn in inspect.getmembers(keras.activations, inspect.isfunction):
        try:
            keras.activations.get(name)
        except ValueError:
            continue
        names.add(name)
    return names


@pytest.mark.parametrize(("layer", "param"), [
    ("Dense", "activation"), ("Activation", "activation"), ("Conv2D", "activation"),
    ("LSTM", "recurrent_activation"),
])
def test_every_activation_keras_resolves_is_offered_and_accepted(
        catalog: Catalog, layer: str, param: str) -> None:
    expected = keras_activation_names()
    assert {"hard_silu", "hard_swish", "silu", "swish", "relu"} <= expected, "aliases included"
    spec = catalog.get(layer).param(param)
    assert set(spec.choices) - {None} == expected
    for name in sorted(expected):
        assert spec.value_error(name) is None, name


def test_an_activation_keras_refuses_is_refused_with_the_names_expected(catalog: Catalog
                                                                        ) -> None:
    with pytest.raises(ValueError):
        keras.activations.get("hard_swishy")
    problem = catalog.get("Dense").param("activation").value_error("hard_swishy")
    assert problem is not None
    assert "'activation' expected one of" in problem and "received 'hard_swishy'" in problem
    assert "'hard_silu'" in problem and "'swish'" in problem


@pytest.mark.parametrize(("param", "module"), [
    ("kernel_initializer", "initializers"), ("kernel_regularizer", "regularizers"),
    ("kernel_constraint", "constraints"),
])
def test_initializer_regularizer_constraint_names_are_the_ones_keras_resolves(
        catalog: Catalog, param: str, module: str) -> None:
    registry = getattr(keras, module)
    spec = catalog.get("Dense").param(param)
    offered = [c for c in spec.choices if c is not None]
    assert offered
    for name in offered:
        assert registry.get(name) is not None, name
    snake_names = {name for name in dir(registry) if name == name.lower() and
                   not name.startswith("_") and name not in ("get", "serialize", "deserialize")}
    resolved = set()
    for name in snake_names:
        try:
            registry.get(name)
        except (ValueError, KeyError, TypeError):
            continue
        resolved.add(name)
    assert set(offered) == resolved
    assert spec.value_error("not_a_" + module) is not None


# ------------------------------------------------------ Keras round trip
def build(entry: LayerEntry) -> Any:
    """The layer built with its starting params and called on its example inputs."""
    kwargs = {k: entry.param(k).to_keras(v) for k, v in entry.initial_params().items()}
    layer = getattr(keras.layers, entry.class_name)(**kwargs)
    dtype = entry.example["dtype"]
    inputs = entry.example["inputs"]
    if entry.ports.kind == "named":
        layer(**{k: keras.KerasTensor(tuple(s), dtype=dtype) for k, s in inputs.items()})
    else:
        tensors = [keras.KerasTensor(tuple(s), dtype=dtype) for s in inputs]
        layer(tensors if entry.ports.kind == "list" else tensors[0])
    return layer


@pytest.mark.parametrize("entry", LAYERS, ids=[e.class_name for e in LAYERS])
def test_layer_builds_and_config_round_trips(entry: LayerEntry) -> None:
    assert entry.example, "every catalog layer has an input that builds it"
    for name, value in entry.initial_params().items():
        assert entry.param(name).value_error(value) is None, name
    layer = build(entry)
    assert layer.built
    config = layer.get_config()
    # a copy: a wrapper's from_config pops its layer out of the dict it is given
    assert type(layer).from_config(dict(config)).get_config() == config


@pytest.mark.parametrize("entry", LAYERS, ids=[e.class_name for e in LAYERS])
def test_new_layer_is_named_like_keras(entry: LayerEntry, doc: Document) -> None:
    """A layer added in the app gets the name Keras would give it (Conv2D -> conv2d)."""
    kwargs = {k: entry.param(k).to_keras(v) for k, v in entry.initial_params().items()}
    keras_name = getattr(keras.layers, entry.class_name)(**kwargs).name
    command = edits.add_layer(doc, entry.class_name)
    assert command.layer is not None
    assert command.layer.name == re.sub(r"_\d+$", "", keras_name)


# ------------------------------------------------------------------ caching
def test_catalog_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYERFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(catalog_module, "_CATALOG", None)
    assert get_catalog() is get_catalog(), "kept in memory"
    built = get_catalog(refresh=True)
    path = cache_path()
    assert path.exists() and path.parent == tmp_path / "cache"
    assert built.keras_version in path.name
    assert json.loads(path.read_text()) == json.loads(json.dumps(built.to_json()))

    def no_rebuild() -> Catalog:
        raise AssertionError("the catalog was rebuilt instead of read from the cache")

    monkeypatch.setattr(catalog_module, "build_catalog", no_rebuild)
    monkeypatch.setattr(catalog_module, "_CATALOG", None)
    cached = get_catalog()
    assert cached is not built
    assert cached.to_json() == built.to_json()
    assert len(cached) == len(built)
    assert cached.get("MultiHeadAttention").ports == built.get("MultiHeadAttention").ports
    assert cached.get("Conv2D").param("padding") == built.get("Conv2D").param("padding")


def test_damaged_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYERFORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(catalog_module, "_CATALOG", None)
    cache_path().write_text('{"schema": 4, "entries": [{"class_name": ')
    rebuilt = get_catalog()
    assert "Dense" in rebuilt
    assert json.loads(cache_path().read_text())["keras_version"] == rebuilt.keras_version


@pytest.mark.parametrize("entry", list(get_catalog()), ids=[e.class_name for e in get_catalog()])
def test_every_default_is_an_accepted_value(entry: LayerEntry) -> None:
    """A parameter's own default passes its check (so SetParam can set it back, and a file
    holding it loads)."""
    refused = {spec.name: spec.value_error(spec.default) for spec in entry.params
               if spec.value_error(spec.default) is not None}
    assert refused == {}
