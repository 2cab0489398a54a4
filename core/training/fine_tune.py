"""The app's run of a two-phase plan (``TrainingSettings.fine_tune``): the same portable
functions as the exported module (:mod:`core.codegen.fine_tune_code`), so the app and the
export freeze and unfreeze the same layers. Which layers and why BatchNormalization stays
frozen: see that module."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from ..codegen.fine_tune_code import freeze_layer, unfreeze_top
from ..document.document import Document
from ..editing.settings_commands import fine_tune_error
from ..schema.errors import LayerForgeError
from ..schema.settings import FineTune


def check_plan(doc: Document, plan: FineTune | None, distributed: bool) -> None:
    """Refuse a plan whose layer is not in the graph (renamed or removed since), before
    anything is built."""
    if plan is None:
        return
    problem = fine_tune_error(doc, plan)
    if problem:
        raise LayerForgeError(problem)
    if distributed:
        raise LayerForgeError("a two-phase plan runs on one machine; expected no TF_CONFIG "
                              "(multi-worker training) with training.fine_tune")


def phase_one_model(module: ModuleType, plan: FineTune | None) -> Any:
    """The generated module's model, compiled; with a plan, its base frozen first (a change
    of ``trainable`` takes effect when the model is compiled)."""
    model = module.build_model()
    if plan is not None:
        freeze_layer(model, plan.layer)
    return module.compile_model(model)


def start_phase_two(model: Any, module: ModuleType, plan: FineTune) -> list[str]:
    """Unfreeze the plan's top layers and compile again at its learning rate; returns the
    names of the layers made trainable."""
    names = unfreeze_top(model, plan.layer, plan.top)
    module.compile_model(model)
    model.optimizer.learning_rate = plan.learning_rate
    return names


def phase_two_note(plan: FineTune, names: list[str]) -> str:
    shown = ", ".join(names) or "none (only BatchNormalization among them)"
    return (f"phase 2: {plan.epochs} epoch(s) at learning rate {plan.learning_rate:g} with "
            f"the top {plan.top} layer(s) of '{plan.layer}' trainable: {shown}")
