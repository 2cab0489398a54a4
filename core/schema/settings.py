"""Training settings saved in the project: fit arguments, callbacks and data bindings.

The optimizer and learning rate live in ``Document.compile`` (they are compile
arguments); everything ``fit`` needs lives here. Records are plain JSON; reading
them checks every field and names what was expected and what was received.
Callback parameters are checked against the Keras callback's own constructor
signature (Keras is imported only when a project has callbacks).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import dataclass, field
from typing import Any

from .data_sources import DATA_KINDS, DATA_SOURCES
from .errors import EditError, ProjectFileError
from .reading import TYPE_NAMES, RecordReader, is_kind, kind_name, show

CALLBACK_KINDS = ("EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "TensorBoard",
                  "CSVLogger", "TerminateOnNaN", "ActivationLogger")
# Paths a callback writes are set by the run folder, so a run never writes outside it.
RUN_FOLDER_PARAMS = {"ModelCheckpoint": "filepath", "TensorBoard": "log_dir",
                     "CSVLogger": "filename"}
ACTIVATION_LOGGER_PARAMS = {"every": 1, "sample_index": 0}

FEEDS = ("dict", "list")
FINE_TUNE_FIELDS = ("layer", "top", "epochs", "learning_rate")


class SettingsError(ProjectFileError):
    """Training settings that cannot be used; the message names the field."""


@dataclass
class CompileSettings:
    optimizer: str = "rmsprop"
    learning_rate: float | None = None


@dataclass
class CallbackSpec:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSource:
    """Where one named input or output gets its arrays (``kind`` names an entry of
    ``data_sources.DATA_SOURCES``)."""

    kind: str = "synthetic"
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class FineTune:
    """The second phase of a two-phase plan. Phase 1 trains ``TrainingSettings.epochs``
    epochs with ``layer`` (a block call or a keras.applications layer of the main graph, by
    name) frozen; phase 2 unfreezes the top ``top`` layers of it and trains ``epochs`` more
    at ``learning_rate`` (after recompiling, as Keras requires for a change of trainable).
    Inside ``layer`` the plan decides what trains; layers frozen elsewhere stay frozen."""

    layer: str
    top: int = 1
    epochs: int = 1
    learning_rate: float = 1e-5


@dataclass
class TrainingSettings:
    batch_size: int = 32
    epochs: int = 10
    # Fraction of the training data held out when ``validation_data`` binds no separate
    # validation source: the last samples after a seeded shuffle (``shuffle_split``), or
    # the last samples as they come (as Keras' validation_split does) without it.
    validation_split: float = 0.2
    shuffle: bool = True
    seed: int | None = None
    shuffle_split: bool = True
    # The split's shuffle seed; None: ``seed``, else one drawn per run and kept in the run's
    # settings.json, so the run's split can be repeated.
    split_seed: int | None = None
    allow_nan: bool = False  # train on data holding NaN or Inf (else refused before fitting)
    mixed_precision: bool = False  # mixed_float16, applied only when a GPU is present
    feed: str = "dict"  # arrays passed to fit as a dict of names or as lists in graph order
    callbacks: list[CallbackSpec] = field(default_factory=list)
    data: dict[str, DataSource] = field(default_factory=dict)
    validation_data: dict[str, DataSource] = field(default_factory=dict)
    fine_tune: FineTune | None = None  # a second phase: see FineTune
    health: bool = True  # per-layer training health each epoch (training.health)

    def source_of(self, name: str) -> DataSource:
        """The binding of an input or output name; synthetic when unbound."""
        return self.data.get(name) or DataSource()

    def callback(self, kind: str) -> CallbackSpec | None:
        return next((c for c in self.callbacks if c.kind == kind), None)


# ------------------------------------------------------------------ writing
# Fields written only when they differ from the default: files from before them stay the same.
OPTIONAL_FIELDS = {"shuffle_split": True, "split_seed": None, "allow_nan": False,
                   "fine_tune": None, "health": True}


def settings_to_records(s: TrainingSettings) -> dict[str, Any]:
    optional = {key: getattr(s, key) for key, default in OPTIONAL_FIELDS.items()
                if getattr(s, key) != default}
    if s.fine_tune is not None:
        optional["fine_tune"] = dataclasses.asdict(s.fine_tune)
    return {
        "batch_size": s.batch_size, "epochs": s.epochs, "validation_split": s.validation_split,
        "shuffle": s.shuffle, "seed": s.seed, **optional,
        "mixed_precision": s.mixed_precision, "feed": s.feed,
        "callbacks": [{"kind": c.kind, "params": dict(c.params)} for c in s.callbacks],
        "data": _bindings_records(s.data),
        "validation_data": _bindings_records(s.validation_data),
    }


def _bindings_records(bindings: dict[str, DataSource]) -> dict[str, Any]:
    return {name: {"kind": src.kind, "params": dict(src.params)} for name, src in bindings.items()}


# ------------------------------------------------------------------ reading
def settings_from_records(data: Any, source: str = "<project>") -> TrainingSettings:
    """Parse and check ``training`` records; raises SettingsError naming the field."""
    r = _Reader(source)
    if data is None:
        return TrainingSettings()
    r.expect(isinstance(data, dict), "training", "an object", data)
    d = TrainingSettings()
    s = TrainingSettings(
        batch_size=r.positive_int(data, "batch_size", d.batch_size),
        epochs=r.positive_int(data, "epochs", d.epochs),
        validation_split=r.fraction(data, "validation_split", d.validation_split),
        shuffle=r.typed(data, "shuffle", bool, d.shuffle),
        seed=r.typed(data, "seed", (int, type(None)), d.seed),
        shuffle_split=r.typed(data, "shuffle_split", bool, d.shuffle_split),
        split_seed=r.typed(data, "split_seed", (int, type(None)), d.split_seed),
        allow_nan=r.typed(data, "allow_nan", bool, d.allow_nan),
        mixed_precision=r.typed(data, "mixed_precision", bool, d.mixed_precision),
        feed=r.choice(data, "feed", FEEDS, d.feed),
        callbacks=[r.callback(raw, f"training.callbacks[{i}]")
                   for i, raw in enumerate(r.typed(data, "callbacks", list, []))],
        data=r.bindings(r.typed(data, "data", dict, {}), "training.data"),
        validation_data=r.bindings(r.typed(data, "validation_data", dict, {}),
                                   "training.validation_data"),
        fine_tune=r.fine_tune(data.get("fine_tune")),
        health=r.typed(data, "health", bool, d.health),
    )
    check_callbacks(s.callbacks, source)
    return s


class _Reader(RecordReader):
    error = SettingsError

    def typed(self, data: dict[str, Any], key: str, kind: type | tuple[type, ...],
              default: Any, where: str = "training") -> Any:
        value = data.get(key, default)
        self.expect(is_kind(value, kind), f"{where}.{key}", kind_name(kind), value)
        return value

    def positive_int(self, data: dict[str, Any], key: str, default: int) -> int:
        value = self.typed(data, key, int, default)
        self.expect(value > 0, f"training.{key}", "a positive integer", value)
        return int(value)

    def fraction(self, data: dict[str, Any], key: str, default: float) -> float:
        value = self.typed(data, key, (int, float), default)
        self.expect(0 <= value < 1, f"training.{key}", "a number from 0 up to (not incl.) 1",
                    value)
        return float(value)

    def choice(self, data: dict[str, Any], key: str, choices: tuple[str, ...],
               default: str) -> str:
        value = data.get(key, default)
        self.expect(value in choices, f"training.{key}", " or ".join(map(repr, choices)), value)
        return str(value)

    def fine_tune(self, raw: Any) -> FineTune | None:
        if raw is None:
            return None
        where = "training.fine_tune"
        self.expect(isinstance(raw, dict), where,
                    "an object {layer, top, epochs, learning_rate}", raw)
        unknown = sorted(set(raw) - set(FINE_TUNE_FIELDS))
        self.expect(not unknown, where, "the fields " + ", ".join(FINE_TUNE_FIELDS),
                    unknown[0] if unknown else None)
        layer = raw.get("layer")
        self.expect(isinstance(layer, str) and bool(layer.strip()), f"{where}.layer",
                    "the name of a block call or keras.applications layer", layer)
        d = FineTune(layer)
        counts = [self.typed(raw, key, int, getattr(d, key), where) for key in ("top", "epochs")]
        for key, value in zip(("top", "epochs"), counts, strict=True):
            self.expect(value > 0, f"{where}.{key}", "a positive integer", value)
        rate = self.typed(raw, "learning_rate", (int, float), d.learning_rate, where)
        self.expect(math.isfinite(rate) and rate > 0, f"{where}.learning_rate",
                    "a positive learning rate such as 1e-05", rate)
        return FineTune(layer, counts[0], counts[1], float(rate))

    def callback(self, raw: Any, where: str) -> CallbackSpec:
        self.expect(isinstance(raw, dict), where, "an object {kind, params}", raw)
        kind = raw.get("kind")
        self.expect(kind in CALLBACK_KINDS, f"{where}.kind", "one of " + ", ".join(CALLBACK_KINDS),
                    kind)
        return CallbackSpec(kind, dict(self.typed(raw, "params", dict, {}, where)))

    def bindings(self, raw: dict[str, Any], where: str) -> dict[str, DataSource]:
        return {str(name): self.source_spec(spec, f"{where}.{name}") for name, spec in raw.items()}

    def source_spec(self, raw: Any, where: str) -> DataSource:
        self.expect(isinstance(raw, dict), where, "an object {kind, params}", raw)
        kind = raw.get("kind")
        self.expect(kind in DATA_KINDS, f"{where}.kind", "one of " + ", ".join(DATA_KINDS), kind)
        params = self.typed(raw, "params", dict, {}, where)
        for key, kinds in DATA_SOURCES[kind].required.items():
            self.typed(params, key, kinds, None, f"{where}.params")
        return DataSource(kind, dict(params))


def split_seed(s: TrainingSettings) -> int | None:
    """The seed of the shuffle before the validation split."""
    return s.split_seed if s.split_seed is not None else s.seed


def checkpoint_file(params: dict[str, Any]) -> str:
    """The checkpoint's file name in the run folder: Keras requires ``.weights.h5`` when
    ModelCheckpoint saves weights only, ``.keras`` otherwise."""
    return "best.weights.h5" if params.get("save_weights_only") else "best.keras"


def monitored_params(spec: CallbackSpec, has_validation: bool) -> dict[str, Any]:
    """The spec's parameters; callbacks that watch ``val_loss`` by default watch ``loss``
    when there is no validation data (Keras would only warn and do nothing)."""
    params = dict(spec.params)
    if spec.kind in ("EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau") \
            and "monitor" not in params:
        params["monitor"] = "val_loss" if has_validation else "loss"
    return params


# ------------------------------------------------------------ callback checks
def check_callbacks(callbacks: list[CallbackSpec], source: str = "<project>") -> None:
    for i, spec in enumerate(callbacks):
        problem = callback_param_error(spec)
        if problem:
            raise SettingsError(f"{source}: at training.callbacks[{i}] ({spec.kind}): {problem}")


def callback_parameters(kind: str) -> dict[str, Any]:
    """Parameter names of a callback kind with their defaults (``inspect.Parameter.empty``
    when required), read from the Keras callback's constructor."""
    if kind == "ActivationLogger":
        return dict(ACTIVATION_LOGGER_PARAMS)
    if kind not in CALLBACK_KINDS:
        raise SettingsError(f"expected a callback among {', '.join(CALLBACK_KINDS)}; "
                            f"received {kind!r}")
    import keras

    signature = inspect.signature(getattr(keras.callbacks, kind).__init__)
    return {name: p.default for name, p in signature.parameters.items()
            if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def callback_param_error(spec: CallbackSpec) -> str | None:
    """Why ``spec.params`` do not fit the callback's signature, or None."""
    known = callback_parameters(spec.kind)
    owned = RUN_FOLDER_PARAMS.get(spec.kind)
    for name, value in spec.params.items():
        if name == owned:
            return f"'{name}' is set by the run folder; remove it (received {show(value)})"
        if name not in known:
            choices = ", ".join(n for n in known if n != owned)
            return f"expected a parameter among {choices}; received '{name}'"
        problem = _value_error(name, known[name], value)
        if problem:
            return problem
    return None


def _value_error(name: str, default: Any, value: Any) -> str | None:
    """Values must have the type of the Keras default (numbers interchangeable; a None
    default accepts any JSON value)."""
    if default is None or default is inspect.Parameter.empty:
        return None
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int | float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        return None
    if ok:
        return None
    return f"'{name}' expects {TYPE_NAMES.get(type(default), type(default).__name__)} " \
           f"(default {show(default)}); received {show(value)}"


def check_compile_settings(settings: CompileSettings) -> None:
    """The shape of the settings; whether Keras resolves the optimizer's name is checked
    where the catalog's registries are known (``editing.settings_commands``)."""
    optimizer, rate = settings.optimizer, settings.learning_rate
    if not isinstance(optimizer, str) or not optimizer.strip():
        raise EditError(f"expected an optimizer name such as 'adam' or 'rmsprop'; "
                        f"received {optimizer!r}")
    if rate is None:
        return
    if isinstance(rate, bool) or not isinstance(rate, int | float) \
            or not math.isfinite(rate) or rate <= 0:
        raise EditError(f"expected a positive learning rate such as 0.001 (or none for the "
                        f"optimizer's default); received {rate!r}")
