"""Losses, metrics and optimizers are offered and accepted exactly as Keras resolves their
names (aliases included), read from the installed Keras into the cached catalog; a name
Keras does not resolve is refused with a message naming the expected names."""

from __future__ import annotations

import re

import numpy as np
import pytest

from layerforge.core.catalog.catalog import Catalog
from layerforge.core.catalog.registries import offered_names, registry_error, snake_case
from layerforge.core.codegen.data_plan import label_mode, target_kind
from layerforge.core.codegen.loader import load_generated
from layerforge.core.codegen.model_code import generate
from layerforge.core.document.search_space import Dimension
from layerforge.core.document.space_checks import dimension_error
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.settings_commands import SetCompileSettings, SetSetting
from layerforge.core.io.templates import load_template
from layerforge.core.schema.errors import LayerForgeError
from layerforge.core.schema.settings import CompileSettings, DataSource, TrainingSettings
from layerforge.core.training.fit import train

keras = pytest.importorskip("keras")

# Spellings a person may try: Keras resolves some (the short aliases), refuses others.
TRIED = ("mse", "mae", "mape", "msle", "bce", "kld", "acc", "ce", "crossentropy", "lamb",
         "logcosh", "rmse", "adam_w", "nesterov")


def keras_resolves(kind: str, name: str) -> bool:
    """Whether Keras itself takes ``name`` for ``kind``: the registry's ``get`` builds
    something that computes (not an abstract base class) or ``compile`` resolves it before
    the registry (see the test of those names below)."""
    if name in COMPILE_ONLY.get(kind, ()):
        return True
    module = {"loss": keras.losses, "optimizer": keras.optimizers, "metric": keras.metrics}[kind]
    try:
        obj = module.get(name)
    except (ValueError, KeyError, TypeError):
        return False
    base = {"loss": keras.losses.Loss, "optimizer": keras.optimizers.Optimizer,
            "metric": keras.metrics.Metric}[kind]
    return obj is not None and (obj if isinstance(obj, type) else type(obj)) is not base


COMPILE_ONLY = {"metric": ("acc",), "loss": ("ce", "crossentropy")}


def test_compile_resolves_its_own_names() -> None:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="ce", metrics=["acc"])
    logs = model.evaluate(np.zeros((4, 3)), np.array([0, 1, 0, 1]), verbose=0,
                          return_dict=True)
    assert set(logs) == {"loss", "acc"}
    with pytest.raises(ValueError):
        keras.metrics.get("acc")  # the registries alone do not know them
    with pytest.raises(ValueError):
        keras.losses.get("ce")


def tried_names(module) -> set[str]:
    names = {n for n in dir(module) if not n.startswith("_")} | set(TRIED)
    names |= {snake_case(n) for n in dir(module) if n[:1].isupper()}
    names |= {n.lower() for n in dir(module) if n[:1].isupper()}
    return {n for n in names if n == n.lower() and n not in ("get", "serialize", "deserialize")}


@pytest.mark.parametrize("kind,module", [("loss", "losses"), ("optimizer", "optimizers"),
                                         ("metric", "metrics")])
def test_the_offered_names_are_those_keras_resolves(catalog: Catalog, kind: str,
                                                    module: str) -> None:
    offered = set(offered_names(catalog.registries[kind]))
    tried = tried_names(getattr(keras, module))
    assert {n for n in tried if keras_resolves(kind, n)} == offered & tried
    assert all(keras_resolves(kind, n) for n in offered - tried)  # aliases found beyond


def test_the_usual_names_and_their_aliases_are_offered(catalog: Catalog) -> None:
    r = catalog.registries
    assert {"adam", "rmsprop", "sgd", "adamw", "nadam", "lion", "ftrl"} <= set(r["optimizer"])
    assert {"sparse_categorical_crossentropy", "mse", "mae", "bce", "huber"} <= set(r["loss"])
    assert {"accuracy", "acc", "auc", "precision", "recall", "mae"} <= set(r["metric"])
    assert "lamb" not in r["optimizer"]  # a public class, but keras.optimizers.get refuses it
    assert r["optimizer"]["adamw"] == "AdamW" and r["loss"]["mse"] == "mean_squared_error"


def test_the_names_live_in_the_cached_catalog(catalog: Catalog) -> None:
    assert Catalog.from_json(catalog.to_json()).registries == catalog.registries


def test_every_offered_optimizer_is_written_as_its_keras_class(catalog: Catalog) -> None:
    doc = load_template("sequential-mlp", catalog)
    for name in offered_names(catalog.registries["optimizer"]):
        doc.compile = CompileSettings(name, 0.0025)
        module = load_generated(generate(doc))
        model = module.compile_model(module.build_model())
        expected = getattr(keras.optimizers, catalog.registries["optimizer"][name])
        assert type(model.optimizer) is expected, name
        assert float(model.optimizer.learning_rate) == pytest.approx(0.0025), name
    doc.compile = CompileSettings("nadam", None)
    assert "optimizer='nadam'," in generate(doc).source


def test_an_optimizer_keras_does_not_resolve_is_refused(doc) -> None:
    stack = UndoStack(doc)
    with pytest.raises(LayerForgeError) as caught:
        stack.push(SetCompileSettings(CompileSettings("adamm", 0.01)))
    message = str(caught.value)
    assert re.search(r"expected an optimizer name that keras.optimizers resolves, one of "
                     r".*'?adam'?.*; received 'adamm' \(did you mean 'adam'\?\)", message)
    assert "rmsprop" in message and "sgd" in message
    with pytest.raises(LayerForgeError, match="received 'Lamb'"):
        stack.push(SetSetting("optimizer", "Lamb"))
    assert doc.compile == CompileSettings() and not stack.can_undo
    stack.push(SetCompileSettings(CompileSettings("Adam", None)))  # Keras takes class names
    assert doc.compile.optimizer == "Adam"


def test_search_space_optimizers_are_checked_against_keras(doc) -> None:
    assert dimension_error(doc, Dimension("optimizer", "choice", choices=("adam", "lion"))) \
        is None
    problem = dimension_error(doc, Dimension("optimizer", "choice", choices=("adam", "fancy")))
    assert problem is not None and "expected optimizers among" in problem
    assert "adafactor" in problem and "received 'fancy'" in problem


def test_loss_and_metric_messages_name_the_expected_names(catalog: Catalog) -> None:
    message = registry_error(catalog.registries, "loss", "mean_squared_eror")
    assert message is not None
    assert message.startswith("expected a loss name that keras.losses resolves, one of bce, ")
    assert message.endswith("received 'mean_squared_eror' (did you mean 'mean_squared_error'?)")
    assert registry_error(catalog.registries, "metric", "auc") is None
    assert "received 'acuracy' (did you mean 'accuracy'?)" in \
        str(registry_error(catalog.registries, "metric", "acuracy"))


def test_a_run_with_an_unknown_loss_fails_naming_it(tmp_path) -> None:
    doc = load_template("sequential-mlp")
    output = doc.graph.outputs()[0]
    output.loss = "categorical_crossentropi"
    settings = TrainingSettings(batch_size=8, epochs=1, data={
        "features": DataSource("synthetic", {"samples": 16})})
    result = train(doc, settings, run_dir=tmp_path / "run")
    assert result.status == "failed"
    assert f"output '{output.name}': loss: expected a loss name that keras.losses resolves" \
        in result.message
    assert "did you mean 'categorical_crossentropy'?" in result.message


@pytest.mark.parametrize("loss,targets,mode", [
    ("bce", "binary", "binary"), ("binary_crossentropy", "binary", "binary"),
    ("ce", "sparse", "int"), ("crossentropy", "sparse", "int"),
    ("categorical_crossentropy", "onehot", "categorical"), ("mse", "floats", "int"),
])
def test_aliases_get_the_targets_and_folder_labels_of_their_loss(loss: str, targets: str,
                                                                  mode: str) -> None:
    """Synthetic targets and a folder's label mode follow the alias as Keras resolves it."""
    assert target_kind(loss) == targets
    assert label_mode(loss) == mode
