"""Ensembles of trained runs (book 7.3.3): evaluate, weight, combine, export as one model.

Members are run folders (any run or study trial) whose best checkpoints take the
same inputs and give the same outputs (names and shapes). Each is evaluated on
the validation data of the first member's run settings; the ensemble averages
the members' predictions, equally ("mean") or with weights found by Nelder-Mead
on the validation loss ("weighted"). Weights are ``|z| / sum |z|``: never
negative, summing to 1, and able to reach a single member exactly, so the search
starts from the mean and from every member alone and the weighted ensemble's
validation loss is never worse than its best member's.

The export is one Keras model: an input per member input, the members as nested
models ``member_1``... and, per output, ``Add`` of ``Rescaling(weight)`` layers
named after the output. Through the importer it is also a LayerForge project
(members as blocks) with generated code, so ``layerforge export`` works on it.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..codegen.data_plan import target_kind
from ..codegen.model_code import generate
from ..document.document import Document
from ..document.records import from_records
from ..io.keras_import.graph import import_model
from ..io.project import save
from ..schema.errors import LayerForgeError, first_line
from ..schema.settings import TrainingSettings
from ..training import runs
from ..training.data import load_training_data

METHODS = ("mean", "weighted")
FALLBACK_LOSS = "mse"


class EnsembleError(LayerForgeError):
    """Members that cannot be combined, or data to evaluate them that is missing."""


@dataclass
class Member:
    name: str  # member_1, member_2...
    run_dir: Path
    model: Any  # keras.Model of the run's best checkpoint
    doc: Document  # the run's project snapshot
    settings: TrainingSettings


@dataclass
class Score:
    name: str
    loss: float
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class Ensemble:
    members: list[Member]
    method: str
    weights: list[float]
    member_scores: list[Score]
    score: Score
    inputs: list[str]
    outputs: list[str]
    losses: dict[str, tuple[str, float]]  # output -> (loss name, loss weight)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)  # on validation data

    @property
    def best_member(self) -> Score:
        return min(self.member_scores, key=lambda s: s.loss)


# ------------------------------------------------------------------ members
def load_members(run_dirs: list[str | os.PathLike[str]]) -> list[Member]:
    if len(run_dirs) < 2:
        raise EnsembleError(f"expected two or more run folders; received {len(run_dirs)}")
    members = []
    for i, path in enumerate(run_dirs):
        info = runs.load_run(path)
        doc = _snapshot(Path(path))
        members.append(Member(f"member_{i + 1}", Path(path), runs.load_run_model(path), doc,
                              info.settings))
    check_compatible(members)
    return members


def _snapshot(run_dir: Path) -> Document:
    path = run_dir / "project.json"
    try:
        return from_records(json.loads(path.read_text(encoding="utf-8")), str(path))
    except (OSError, ValueError) as exc:
        found = "none" if isinstance(exc, FileNotFoundError) else f"a file that cannot be " \
                                                                    f"read ({first_line(exc)})"
        raise EnsembleError(f"expected the run's project snapshot {path}; received "
                            f"{found}") from None


def signature(model: Any) -> tuple[list[tuple[str, tuple[Any, ...]]], list[tuple[str, ...]]]:
    """(inputs, outputs) of a model as (name, per-sample shape) pairs."""
    inputs = [(t.name, tuple(t.shape[1:])) for t in model.inputs]
    outputs = [(name, tuple(t.shape[1:]))
               for name, t in zip(model.output_names, model.outputs, strict=True)]
    return inputs, outputs


def check_compatible(members: list[Member]) -> None:
    """Every member takes the first one's inputs and gives its outputs (names, shapes)."""
    first = members[0]
    want_in, want_out = signature(first.model)
    for member in members[1:]:
        got_in, got_out = signature(member.model)
        for what, want, got in (("inputs", want_in, got_in), ("outputs", want_out, got_out)):
            if want != got:
                raise EnsembleError(
                    f"{member.run_dir}: expected the {what} of {first.run_dir} "
                    f"({_fmt(want)}); received {_fmt(got)}")


def _fmt(pairs: list[tuple[str, tuple[Any, ...]]]) -> str:
    return ", ".join(f"{name} {tuple(shape)}" for name, shape in pairs)


# ------------------------------------------------------------------ data
def validation_data(member: Member, settings: TrainingSettings | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The validation inputs and targets of the member's run (or of ``settings``)."""
    settings = settings or member.settings
    data = load_training_data(member.doc, member.model, settings)
    if data.val_dataset is not None:
        return _dataset_arrays(data)
    if not data.val_x:
        raise EnsembleError("the ensemble is weighted and compared on validation data: "
                            "expected validation_split > 0 or a validation source in the run's "
                            "settings; received none")
    return data.val_x, data.val_y


def _dataset_arrays(data: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    xs, ys = [], []
    for x, y in data.val_dataset:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    return {data.inputs[0]: np.concatenate(xs)}, {data.outputs[0]: np.concatenate(ys)}


def predict(model: Any, x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [t.name for t in model.inputs]
    feed = x[names[0]] if len(names) == 1 else {n: x[n] for n in names}
    out = model.predict(feed, verbose=0)
    out = out if isinstance(out, list | tuple) else [out]
    return {name: np.asarray(o, dtype="float32")
            for name, o in zip(model.output_names, out, strict=True)}


# ------------------------------------------------------------------ scoring
def output_losses(doc: Document) -> dict[str, tuple[str, float]]:
    return {o.name: (o.loss or FALLBACK_LOSS, float(o.loss_weight))
            for o in doc.graph.outputs()}


def total_loss(y: dict[str, np.ndarray], pred: dict[str, np.ndarray],
               losses: dict[str, tuple[str, float]]) -> float:
    """The compiled model's loss: each output's mean loss times its loss weight."""
    import keras  # lazy: Keras only when an ensemble is scored, never at start-up

    total = 0.0
    for name, (loss, weight) in losses.items():
        values = keras.losses.get(loss)(y[name], pred[name])
        total += weight * float(np.mean(keras.ops.convert_to_numpy(values)))
    return total


def score(name: str, y: dict[str, np.ndarray], pred: dict[str, np.ndarray],
          losses: dict[str, tuple[str, float]]) -> Score:
    metrics: dict[str, float] = {}
    for out, (loss, _) in losses.items():
        key = "accuracy" if len(losses) == 1 else f"{out}_accuracy"
        value = accuracy(y[out], pred[out], loss)
        if value is not None:
            metrics[key] = value
    return Score(name, total_loss(y, pred, losses), metrics)


def accuracy(y: np.ndarray, pred: np.ndarray, loss: str) -> float | None:
    """Classification accuracy for class-id, one-hot and 0/1 targets; None otherwise."""
    kind = target_kind(loss)
    if kind == "sparse":
        return float(np.mean(np.argmax(pred, -1) == y.reshape(pred.shape[:-1])))
    if kind == "onehot":
        return float(np.mean(np.argmax(pred, -1) == np.argmax(y, -1)))
    if kind == "binary":
        return float(np.mean((pred > 0.5) == (y > 0.5)))
    return None


def combine(predictions: list[dict[str, np.ndarray]], weights: list[float] | np.ndarray
            ) -> dict[str, np.ndarray]:
    """Sum of weight x prediction in float32, in member order (as the exported model's
    Rescaling and Add layers compute it)."""
    out = {}
    for name in predictions[0]:
        total = predictions[0][name] * np.float32(weights[0])
        for p, w in zip(predictions[1:], weights[1:], strict=True):
            total = total + p[name] * np.float32(w)
        out[name] = total
    return out


def normalized(z: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 (uniform when every entry is 0)."""
    a = np.abs(np.asarray(z, dtype="float64"))
    s = a.sum()
    return a / s if s > 0 else np.full(len(a), 1.0 / len(a))


def optimize_weights(predictions: list[dict[str, np.ndarray]], y: dict[str, np.ndarray],
                     losses: dict[str, tuple[str, float]]) -> np.ndarray:
    """Nelder-Mead on the validation loss, from the mean and from every member alone."""
    from scipy.optimize import minimize  # lazy: SciPy only when weights are fitted

    n = len(predictions)

    def objective(z: np.ndarray) -> float:
        return total_loss(y, combine(predictions, normalized(z)), losses)

    starts = [np.ones(n)] + [np.eye(n)[i] for i in range(n)]
    best_z, best_value = starts[0], objective(starts[0])
    for z0 in starts:
        result = minimize(objective, z0, method="Nelder-Mead",
                          options={"xatol": 1e-4, "fatol": 1e-7, "maxiter": 150 * n})
        if result.fun < best_value:
            best_z, best_value = result.x, float(result.fun)
    return normalized(best_z)


# ------------------------------------------------------------------ the ensemble
def build_ensemble(run_dirs: list[str | os.PathLike[str]], method: str = "weighted",
                   settings: TrainingSettings | None = None) -> Ensemble:
    """Load, evaluate and combine the runs; weights are fitted for ``weighted``."""
    if method not in METHODS:
        raise EnsembleError(f"expected a method among {', '.join(METHODS)}; received {method!r}")
    members = load_members(run_dirs)
    x, y = validation_data(members[0], settings)
    losses = output_losses(members[0].doc)
    preds = [predict(m.model, x) for m in members]
    scores = [score(m.name, y, p, losses) for m, p in zip(members, preds, strict=True)]
    weights = optimize_weights(preds, y, losses) if method == "weighted" \
        else np.full(len(members), 1.0 / len(members))
    combined = combine(preds, weights)
    inputs = [t.name for t in members[0].model.inputs]
    return Ensemble(members, method, [float(w) for w in weights], scores,
                    score("ensemble", y, combined, losses), inputs,
                    list(members[0].model.output_names), losses, combined)


def ensemble_model(ensemble: Ensemble) -> Any:
    """One Keras model: nested members, a Rescaling per member and output, Add per output."""
    import keras  # lazy: Keras only when an ensemble is built, never at start-up

    first = ensemble.members[0].model
    inputs = [keras.Input(shape=tuple(t.shape[1:]), dtype=t.dtype, name=t.name)
              for t in first.inputs]
    feed: Any = inputs[0] if len(inputs) == 1 else inputs
    outs: list[list[Any]] = []
    for member in ensemble.members:
        nested = keras.Model(member.model.inputs, member.model.outputs, name=member.name)
        result = nested(feed)
        outs.append(list(result) if isinstance(result, list | tuple) else [result])
    heads = [_weighted_sum(ensemble, j, name, [o[j] for o in outs])
             for j, name in enumerate(ensemble.outputs)]
    model = keras.Model(feed, heads[0] if len(heads) == 1 else heads, name="ensemble")
    model.compile(loss={n: loss for n, (loss, _) in ensemble.losses.items()},
                  loss_weights={n: w for n, (_, w) in ensemble.losses.items()})
    return model


def _weighted_sum(ensemble: Ensemble, j: int, name: str, tensors: list[Any]) -> Any:
    from keras import layers  # lazy: Keras only when an ensemble is built

    scaled = [layers.Rescaling(scale=w, name=f"{name}_weight_{i + 1}")(t)
              for i, (w, t) in enumerate(zip(ensemble.weights, tensors, strict=True))]
    return layers.Add(name=name)(scaled)


def export_ensemble(ensemble: Ensemble, path: str | os.PathLike[str],
                    code: str | os.PathLike[str] | None = None,
                    project: str | os.PathLike[str] | None = None) -> Any:
    """Save the ensemble as a ``.keras`` file and, when asked, as generated code and as a
    LayerForge project (with its weights beside it). Returns the Keras model."""
    target = Path(path)
    if target.suffix != ".keras":
        raise EnsembleError(f"expected an output file ending in .keras; received '{target}'")
    model = ensemble_model(ensemble)
    # saved unbuilt, the optimizer's state would not match on load (Keras warns)
    model.optimizer.build(model.trainable_variables)
    model.save(target)
    if code is not None or project is not None:
        doc = ensemble_document(model, ensemble)
        if code is not None:
            Path(code).write_text(generate(doc).source, encoding="utf-8")
        if project is not None:
            save(doc, project)
    return model


def ensemble_document(model: Any, ensemble: Ensemble) -> Document:
    """The ensemble as a LayerForge document (members as blocks, trained weights kept)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = import_model(model, keep_weights=True)
    for node in doc.graph.outputs():
        loss = ensemble.losses.get(node.name)
        if loss is not None:
            node.loss, node.loss_weight = loss
    doc.meta.title = "Ensemble"
    doc.meta.description = (f"{ensemble.method} ensemble of "
                            + ", ".join(str(m.run_dir) for m in ensemble.members) + ".")
    return doc
