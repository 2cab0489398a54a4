"""The model an export writes (built from the project's code, with its weights) and the
samples its check runs: from the project's data source, else synthetic and seeded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..codegen import data_plan
from ..document.document import Document
from ..io.export import compiled_model
from ..io.weights import apply_weights
from ..schema.settings import DataSource, TrainingSettings
from ..training.data import TrainData, load_training_data, model_io
from .formats import CHECK_SAMPLES

# validation samples the accuracy of a quantised export is measured on, at most
ACCURACY_SAMPLES = 2048
CLASSIFICATION_LOSSES = ("categoricalcrossentropy", "sparsecategoricalcrossentropy",
                         "binarycrossentropy")


@dataclass
class Samples:
    """Inputs by name (and targets by output name, for the accuracy) and where they came
    from. ``x`` runs through Keras and the export; ``val_x``/``val_y`` measure accuracy."""

    x: dict[str, np.ndarray]
    source: str
    val_x: dict[str, np.ndarray] = field(default_factory=dict)
    val_y: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(next(iter(self.x.values())))


def deploy_model(doc: Document) -> Any:
    """The project's Keras model with its weights (imported, trained or a run's best, as the
    document holds them); freshly initialised when it holds none."""
    model = compiled_model(doc)
    if doc.weights:
        apply_weights(model, doc)
    return model


def check_samples(doc: Document, model: Any, count: int = CHECK_SAMPLES) -> Samples:
    """``count`` samples for the check. With a real data source: its validation part (else
    its training part), and the validation data for the accuracy; else synthetic arrays
    shaped from the model, drawn from the project's seed (0 without one)."""
    settings = doc.training
    io = model_io(doc, model)
    names = [t.name for t in io.inputs + io.outputs]
    if data_plan.all_synthetic(names, settings.data):
        data = load_training_data(doc, model, _synthetic(settings, names, count))
        return Samples(_first(data.x, count), "synthetic, seeded")
    # The same samples on every check: a project without a seed splits with seed 0.
    data = load_training_data(doc, model, dataclasses.replace(settings,
                                                              seed=settings.seed or 0))
    x, y = _arrays(data, validation=data.has_validation)
    part = "validation" if data.has_validation else "training"
    samples = Samples(_first(x, count), f"the project's {part} data")
    if data.has_validation:
        samples.val_x, samples.val_y = _first(x, ACCURACY_SAMPLES), _first(y, ACCURACY_SAMPLES)
    return samples


def _synthetic(settings: TrainingSettings, names: list[str], count: int) -> TrainingSettings:
    bindings = {name: DataSource("synthetic", {**settings.source_of(name).params,
                                               "samples": count}) for name in names}
    return dataclasses.replace(settings, data=bindings, validation_data={},
                               validation_split=0.0, seed=settings.seed or 0)


def _arrays(data: TrainData, validation: bool
            ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    if data.dataset is None:
        return (data.val_x, data.val_y) if validation else (data.x, data.y)
    dataset = data.val_dataset if validation else data.dataset
    xs, ys = [], []
    for batch_x, batch_y in dataset:  # a folder: batches until there are enough samples
        xs.append(np.asarray(batch_x))
        ys.append(np.asarray(batch_y))
        if sum(len(b) for b in xs) >= ACCURACY_SAMPLES:
            break
    return {data.inputs[0]: np.concatenate(xs)}, {data.outputs[0]: np.concatenate(ys)}


def _first(arrays: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
    return {name: array[:count] for name, array in arrays.items()}


# ------------------------------------------------------------ accuracy
def accuracy(doc: Document, name: str, predicted: np.ndarray, target: np.ndarray
             ) -> float | None:
    """The share of samples classified right, for an output with a classification loss."""
    losses = {o.name: (o.loss or "").lower().replace("_", "") for o in doc.graph.outputs()}
    loss = losses.get(name, "")
    if loss not in CLASSIFICATION_LOSSES:
        return None
    predicted, target = np.asarray(predicted), np.asarray(target)
    if loss == "binarycrossentropy":
        got = (predicted.reshape(len(predicted), -1) > 0.5).astype(int)
        return float(np.mean(got == target.reshape(len(target), -1).astype(int)))
    got = predicted.reshape(len(predicted), -1).argmax(axis=-1)
    want = target.reshape(len(target)) if loss == "sparsecategoricalcrossentropy" \
        else target.reshape(len(target), -1).argmax(axis=-1)
    return float(np.mean(got == want.astype(int)))
