"""The two-phase fine-tuning plan (``TrainingSettings.fine_tune``) as code.

:func:`freeze_layer` and :func:`unfreeze_top` are *portable*: the app's run calls them and
the exported module holds their exact source, so both freeze and unfreeze the same layers.
:func:`phase_two_statements` writes the exported ``main``'s second phase.

BatchNormalization: the top layers of a base often hold BatchNormalization layers. As in
Keras' transfer-learning guide they stay frozen in phase 2 (a frozen BatchNormalization
runs in inference mode, with its moving mean and variance kept), so a few batches of new
data do not overwrite statistics the base learned on far more data. They count among the
``top`` layers but are not unfrozen.
"""

from __future__ import annotations

import inspect
import re
import textwrap

from ..schema.settings import FineTune
from .helper_source import LOCAL_IMPORT
from .python import literal

RECOMPILE_NOTE = "Keras applies a change of trainable when the model is compiled"


def freeze_layer(model, name):  # type: ignore[no-untyped-def]
    """Phase 1: the layer ``name`` of ``model`` (a block or a keras.applications model used
    as a layer) is frozen whole."""
    model.get_layer(name).trainable = False


def unfreeze_top(model, name, count):  # type: ignore[no-untyped-def]
    """Phase 2: the top ``count`` layers of the layer ``name`` become trainable and the rest
    of it stays frozen; BatchNormalization layers stay frozen (inference mode). Returns the
    names of the layers made trainable. Compile the model again afterwards."""
    base = model.get_layer(name)
    layers = list(base.layers)
    if not 0 < count <= len(layers):
        raise ValueError(f"fine-tune: expected 1 to {len(layers)} top layers of '{name}' "
                         f"(it has {len(layers)}); received {count}")
    top = layers[len(layers) - count:]
    base.trainable = True
    for layer in layers:
        layer.trainable = any(layer is chosen for chosen in top)
    for layer in top:
        keep_batch_norm_frozen(layer)
    return [layer.name for layer in top if layer.trainable]


def keep_batch_norm_frozen(layer):  # type: ignore[no-untyped-def]
    """Freeze ``layer`` if it is a BatchNormalization, and every one nested inside it."""
    import keras  # lazy: this module is imported without Keras (the export reads its source)

    if isinstance(layer, keras.layers.BatchNormalization):
        layer.trainable = False
    for inner in getattr(layer, "layers", ()):
        keep_batch_norm_frozen(inner)


PORTABLE = (freeze_layer, unfreeze_top, keep_batch_norm_frozen)


def portable_sources() -> list[str]:
    """The functions as the exported module holds them: no type-checker comments, no
    imports the module makes at its top."""
    sources = []
    for fn in PORTABLE:
        source = textwrap.dedent(inspect.getsource(fn))
        source = re.sub(r"  # type: ignore\[[^\]]*\]", "", source)
        sources.append(LOCAL_IMPORT.sub("", source))
    return sources


def phase_one_statements(plan: FineTune | None) -> list[str]:
    """Build (freezing the plan's base) and compile: ``model`` ready for phase 1."""
    if plan is None:
        return ["model = compile_model(build_model())"]
    return ["model = build_model()",
            f"freeze_layer(model, {literal(plan.layer)})  # phase 1: the base frozen",
            "model = compile_model(model)"]


def phase_two_statements(plan: FineTune) -> list[str]:
    """Unfreeze the top layers and compile again at the plan's learning rate."""
    return [f"# Phase 2: the top {int(plan.top)} layer(s) of the base trainable, at a lower "
            "learning rate.",
            f"unfreeze_top(model, {literal(plan.layer)}, {literal(plan.top)})",
            f"model = compile_model(model)  # {RECOMPILE_NOTE}",
            f"model.optimizer.learning_rate = {literal(float(plan.learning_rate))}"]
