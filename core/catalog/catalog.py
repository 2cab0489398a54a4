"""The layer catalog, derived from Keras itself.

Every public ``keras.layers`` class is introspected once (constructor
signature, defaults, docstring), probed by building it on a small symbolic
input, and written to a JSON cache keyed by the Keras version, so later starts
read the catalog without importing TensorFlow. The tables below are the few
hints introspection cannot know: starting values for required arguments,
choices for string arguments, and which layers take several tensors.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from ..schema.errors import UnknownLayerError
from ..schema.records import ONE_INPUT, PortSpec

CATALOG_SCHEMA = 7
APPLICATION_PREFIX = "applications."

# Classes that are not layers a user places in a functional graph.
EXCLUDED = {
    "Layer": "abstract base class",
    "InputLayer": "use an input node",
    "Wrapper": "abstract base class",
    "RNN": "needs a cell object",
    "StackedRNNCells": "needs cell objects",
    "TFSMLayer": "loads a SavedModel from disk",
    "JaxLayer": "wraps a JAX function",
    "FlaxLayer": "wraps a Flax module",
    "TorchModuleWrapper": "wraps a PyTorch module",
    "Pipeline": "holds other layers",
    "TextVectorization": "works on strings, needs adapt()",
    "StringLookup": "works on strings, needs a vocabulary",
    "Bidirectional": "wraps another layer (not yet supported)",
    "TimeDistributed": "wraps another layer (not yet supported)",
    "SpectralNormalization": "wraps another layer (not yet supported)",
}

# Starting values for constructor arguments that have no default in Keras.
SUGGESTED = {
    "units": 32, "filters": 32, "kernel_size": 3, "rate": 0.5, "stddev": 0.1,
    "input_dim": 1000, "output_dim": 64, "num_heads": 2, "key_dim": 16,
    "output_size": 4, "pool_size": 2, "axes": -1, "equation": "ab,bc->ac",
    "output_shape": 16, "dims": [2, 1], "n": 3, "scale": 1.0 / 255,
    "target_shape": [-1, 1], "height": 8, "width": 8, "factor": 0.2,
    "height_factor": 0.2, "width_factor": 0.2, "num_bins": 16, "head_dim": 8,
    "num_query_heads": 4, "num_key_value_heads": 2, "max_number": 10,
}

STRING_CHOICES = {
    "padding": ["valid", "same"],
    "data_format": ["channels_last", "channels_first"],
    "interpolation": ["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"],
    "fill_mode": ["reflect", "wrap", "constant", "nearest"],
    "output_mode": ["int", "one_hot", "multi_hot", "count", "tf_idf"],
    "merge_mode": ["concat", "sum", "mul", "ave"],
    "score_mode": ["dot", "concat"],
}

# Shape-like arguments that take an int or a tuple with one entry per spatial axis.
SPATIAL_TUPLES = {"kernel_size", "strides", "pool_size", "dilation_rate", "size", "output_size"}

# Starting values for particular classes whose generic starting values do not build.
CLASS_INITIAL = {
    "RandomPosterization": {"factor": 4},
    "CategoryEncoding": {"num_tokens": 16},
    "Discretization": {"num_bins": 4},
    "GroupNormalization": {"groups": 4},
}

PORT_HINTS = {
    "MultiHeadAttention": PortSpec("named", 2, 3, ("query", "value", "key"), ("query", "value")),
    "GroupedQueryAttention": PortSpec("named", 2, 3, ("query", "value", "key"), ("query", "value")),
    "Attention": PortSpec("list", 2, 3),
    "AdditiveAttention": PortSpec("list", 2, 3),
    "Subtract": PortSpec("list", 2, 2),
    "Dot": PortSpec("list", 2, 2),
}

CATEGORIES = {
    "core": "Core", "convolutional": "Convolution", "pooling": "Pooling", "rnn": "Recurrent",
    "normalization": "Normalization", "regularization": "Regularization",
    "attention": "Attention", "reshaping": "Reshaping", "merging": "Merging",
    "activations": "Activation", "preprocessing": "Preprocessing",
}

APPLICATIONS = ["Xception", "VGG16", "ResNet50", "InceptionV3", "MobileNetV2", "DenseNet121",
                "EfficientNetB0", "NASNetMobile"]

# Symbolic inputs tried, in order, when probing a layer; the first that builds is its example.
PROBE_INPUTS: list[Any] = [
    [[None, 8]], [[None, 10, 8]], [[None, 16, 16, 3]], [[None, 8, 8, 8, 2]],
    [[None, 4, 16, 16, 3]], [[None, 4, 16, 3]], [[None, 4, 8, 8, 8, 2]], [[None, 64]],
]


@dataclass(frozen=True)
class ParamSpec:
    """One constructor argument: its kind drives the inspector widget and value checks."""

    name: str
    kind: str
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] = ()
    arity: int | None = None

    def value_error(self, value: Any) -> str | None:
        """Why ``value`` does not fit this parameter, or None."""
        if value is None and (self.default is None or (not self.required and self.kind == "any")):
            return None
        check = _KIND_CHECKS.get(self.kind, _check_any)
        problem = check(self, value)
        if problem is None:
            return None
        return f"'{self.name}' expected {problem}; received {value!r} ({type(value).__name__})"

    def to_keras(self, value: Any) -> Any:
        """The value as Keras' constructor wants it (JSON lists become tuples)."""
        if self.kind in ("tuple", "int_or_tuple") and isinstance(value, list):
            return tuple(value)
        return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(spec: ParamSpec, value: Any) -> str | None:
    return None if _is_int(value) else "an integer"


def _check_float(spec: ParamSpec, value: Any) -> str | None:
    ok = (_is_int(value) or isinstance(value, float))
    return None if ok else "a number"


def _check_bool(spec: ParamSpec, value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _check_str(spec: ParamSpec, value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def _check_choice(spec: ParamSpec, value: Any) -> str | None:
    if value in spec.choices:
        return None
    return "one of " + ", ".join(repr(c) for c in spec.choices)


def _check_named(spec: ParamSpec, value: Any) -> str | None:
    if value is None or isinstance(value, dict) or value in spec.choices:
        return None
    return "one of " + ", ".join(repr(c) for c in spec.choices if c is not None)


def _check_tuple(spec: ParamSpec, value: Any) -> str | None:
    if not isinstance(value, list | tuple) or not all(_is_int(v) or v is None for v in value):
        return "a list of integers"
    if spec.arity is not None and len(value) != spec.arity:
        return f"{spec.arity} integers"
    return None


def _check_int_or_tuple(spec: ParamSpec, value: Any) -> str | None:
    if _is_int(value):
        return None
    if _check_tuple(spec, value) is None or _is_side_pairs(spec, value):
        return None
    return f"an integer or {spec.arity or 'a list of'} integers"


def _is_side_pairs(spec: ParamSpec, value: Any) -> bool:
    """ZeroPadding/Cropping also take one (before, after) pair per axis: [[0, 1], [0, 1]]."""
    return spec.name in ("padding", "cropping") and isinstance(value, list | tuple) and \
        (spec.arity is None or len(value) == spec.arity) and \
        all(isinstance(v, list | tuple) and len(v) == 2 and all(_is_int(i) for i in v)
            for v in value)


def _check_expression(spec: ParamSpec, value: Any) -> str | None:
    from .keras_objects import lambda_source  # the bridge imports this module

    if not isinstance(value, str):
        return "a Python expression in x (text)"
    try:
        lambda_source(value)
    except ValueError as exc:
        return str(exc)
    return None


def _check_any(spec: ParamSpec, value: Any) -> str | None:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return "a JSON value"
    return None


_KIND_CHECKS = {
    "int": _check_int, "float": _check_float, "bool": _check_bool, "str": _check_str,
    "choice": _check_choice, "activation": _check_named, "initializer": _check_named,
    "regularizer": _check_named, "constraint": _check_named, "tuple": _check_tuple,
    "int_or_tuple": _check_int_or_tuple, "any": _check_any, "expression": _check_expression,
}


@dataclass(frozen=True)
class LayerEntry:
    class_name: str
    category: str
    doc: str
    params: tuple[ParamSpec, ...]
    ports: PortSpec = ONE_INPUT
    example: dict[str, Any] = field(default_factory=dict)
    initial: dict[str, Any] = field(default_factory=dict)
    default_name: str = ""

    def param(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        known = ", ".join(p.name for p in self.params)
        raise KeyError(f"{self.class_name} has no parameter '{name}'; it has {known}")

    def has_param(self, name: str) -> bool:
        return any(spec.name == name for spec in self.params)

    def initial_params(self) -> dict[str, Any]:
        """Parameters a new layer starts with: a value for each required argument."""
        values = {p.name: p.default for p in self.params if p.required}
        values.update(self.initial)
        return values

    def key_params(self) -> list[str]:
        """Names worth showing on a node: required arguments, then activation/padding."""
        keys = [p.name for p in self.params if p.required]
        return keys + [n for n in ("activation", "strides", "padding")
                       if self.has_param(n) and n not in keys]

    @property
    def is_application(self) -> bool:
        return self.class_name.startswith(APPLICATION_PREFIX)


class Catalog:
    """Lookup of layer entries by class name."""

    def __init__(self, entries: Iterable[LayerEntry], keras_version: str,
                 excluded: dict[str, str] | None = None) -> None:
        self.entries = {entry.class_name: entry for entry in entries}
        self.keras_version = keras_version
        self.excluded = dict(excluded or {})

    def __contains__(self, class_name: object) -> bool:
        return class_name in self.entries

    def __iter__(self) -> Iterator[LayerEntry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, class_name: str) -> LayerEntry:
        try:
            return self.entries[class_name]
        except KeyError:
            why = self.excluded.get(class_name)
            hint = f" ({why})" if why else ""
            raise UnknownLayerError(
                f"expected a Keras layer class from the catalog; received '{class_name}'{hint}"
            ) from None

    def categories(self) -> dict[str, list[LayerEntry]]:
        grouped: dict[str, list[LayerEntry]] = {}
        for entry in sorted(self.entries.values(), key=lambda e: e.class_name):
            grouped.setdefault(entry.category, []).append(entry)
        return grouped

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": CATALOG_SCHEMA,
            "keras_version": self.keras_version,
            "excluded": self.excluded,
            "entries": [asdict(e) for e in self.entries.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Catalog:
        entries = []
        for raw in data["entries"]:
            params = tuple(
                ParamSpec(**{**p, "choices": tuple(p["choices"])}) for p in raw["params"]
            )
            ports = PortSpec(**{**raw["ports"], "names": tuple(raw["ports"]["names"]),
                                "required": tuple(raw["ports"]["required"])})
            entries.append(LayerEntry(raw["class_name"], raw["category"], raw["doc"], params,
                                      ports, raw["example"], raw["initial"],
                                      raw["default_name"]))
        return cls(entries, data["keras_version"], data.get("excluded"))


# ------------------------------------------------------------------ loading
_CATALOG: Catalog | None = None


def installed_keras_version() -> str:
    try:
        return metadata.version("keras")
    except metadata.PackageNotFoundError:
        return "unknown"


def cache_dir() -> Path:
    override = os.environ.get("LAYERFORGE_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "layerforge"


def cache_path() -> Path:
    return cache_dir() / f"catalog-keras-{installed_keras_version()}-v{CATALOG_SCHEMA}.json"


def get_catalog(refresh: bool = False) -> Catalog:
    """The catalog: from memory, else the disk cache, else built from Keras (and cached)."""
    global _CATALOG
    if _CATALOG is not None and not refresh:
        return _CATALOG
    path = cache_path()
    if path.exists() and not refresh:
        try:
            _CATALOG = Catalog.from_json(json.loads(path.read_text()))
            return _CATALOG
        except (ValueError, KeyError, TypeError):
            pass  # a stale or damaged cache is rebuilt below
    _CATALOG = build_catalog()
    _write_cache(path, _CATALOG)
    return _CATALOG


def _write_cache(path: Path, catalog: Catalog) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(catalog.to_json()))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs a rebuild next time


# ------------------------------------------------------------ introspection
def build_catalog() -> Catalog:
    import keras

    excluded = dict(EXCLUDED)
    entries = []
    for name, cls in _public_layer_classes(keras):
        if name in excluded:
            continue
        if name.endswith("Cell"):
            excluded[name] = "a recurrent cell; use the layer that wraps it"
            continue
        entry = _entry_for(cls)
        probe = _probe(keras, cls, entry)
        if probe.example is None:
            excluded[name] = f"does not build with its defaults: {probe.problem}"
            continue
        entries.append(replace(entry, example=probe.example, default_name=probe.keras_name))
    entries += [_application_entry(keras, name) for name in APPLICATIONS
                if hasattr(keras.applications, name)]
    entries.append(_lambda_entry())
    return Catalog(entries, keras.__version__, excluded)


def _public_layer_classes(keras: Any) -> list[tuple[str, type]]:
    found = []
    for name in sorted(dir(keras.layers)):
        obj = getattr(keras.layers, name)
        # Aliases such as Convolution2D share the class of Conv2D: keep the canonical name.
        if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer) and obj.__name__ == name:
            found.append((name, obj))
    return found


def _category(cls: type) -> str:
    parts = cls.__module__.split(".")
    for part in parts:
        if part in CATEGORIES:
            return CATEGORIES[part]
    return "Core"


def _first_line(doc: str | None) -> str:
    text = (doc or "").strip()
    return text.split("\n\n")[0].replace("\n", " ").strip() if text else ""


def _entry_for(cls: type) -> LayerEntry:
    params = tuple(_param_spec(cls, p) for p in _init_parameters(cls))
    ports = PORT_HINTS.get(cls.__name__)
    if ports is None:
        ports = PortSpec("list", 2, None) if _category(cls) == "Merging" else ONE_INPUT
    initial = CLASS_INITIAL.get(cls.__name__, {})
    return LayerEntry(cls.__name__, _category(cls), _first_line(cls.__doc__), params, ports,
                      initial=initial)


def _init_parameters(cls: type) -> list[inspect.Parameter]:
    skip = {"self", "name", "dtype", "kwargs", "args", "seed"}
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    sig = inspect.signature(cls.__init__)
    return [p for p in sig.parameters.values() if p.kind in kinds and p.name not in skip]


def _spatial_rank(class_name: str) -> int | None:
    match = re.search(r"([123])D", class_name)
    return int(match.group(1)) if match else None


def _param_spec(cls: type, param: inspect.Parameter) -> ParamSpec:
    required = param.default is inspect.Parameter.empty
    default = SUGGESTED.get(param.name) if required else param.default
    default = _jsonable(default) if isinstance(default, tuple) else default
    name = param.name
    rank = _spatial_rank(cls.__name__)
    named = _named_kind(name)
    if named is not None:
        kind, choices = named
        if isinstance(default, str) and default not in choices:
            choices = (*choices, default)
        return ParamSpec(name, kind, _jsonable(default), required, choices)
    if name in STRING_CHOICES and (default is None or isinstance(default, str)):
        choices = ([None] if default is None else []) + list(STRING_CHOICES[name])
        if name == "padding" and cls.__name__ in ("Conv1D", "SeparableConv1D", "DepthwiseConv1D"):
            choices.append("causal")
        if default not in choices:
            choices.append(default)
        return ParamSpec(name, "choice", default, required, tuple(choices))
    if name in SPATIAL_TUPLES and rank is not None and (
        default is None or isinstance(default, int | list)
    ):
        return ParamSpec(name, "int_or_tuple", default, required, (), rank)
    if name in ("padding", "cropping") and isinstance(default, list) and \
            all(isinstance(v, int) for v in default):
        # ZeroPadding/Cropping take one int for every side, or one entry per axis
        return ParamSpec(name, "int_or_tuple", default, required, (), len(default))
    return ParamSpec(name, _kind_of(default), _jsonable(default), required)


def _named_kind(name: str) -> tuple[str, tuple[Any, ...]] | None:
    if name == "activation" or name.endswith("_activation"):
        return "activation", (None, *_ACTIVATIONS)
    for suffix in ("initializer", "regularizer", "constraint"):
        if name.endswith(suffix):
            return suffix, (None, *_NAMED_CHOICES[suffix])
    return None


_ACTIVATIONS = ("linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "swish",
                "mish", "sigmoid", "hard_sigmoid", "tanh", "softmax", "log_softmax", "softplus",
                "softsign", "exponential")
_NAMED_CHOICES = {
    "initializer": ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                    "lecun_uniform", "lecun_normal", "orthogonal", "random_normal",
                    "random_uniform", "truncated_normal", "zeros", "ones"),
    "regularizer": ("l1", "l2", "l1_l2", "orthogonal_regularizer"),
    "constraint": ("max_norm", "min_max_norm", "non_neg", "unit_norm"),
}


def _kind_of(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "str"
    if isinstance(default, list) and all(isinstance(v, int) for v in default):
        return "tuple"
    return "any"


def _jsonable(value: Any) -> Any:
    """The value as JSON gives it back (nested tuples become lists), or None."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class _Probe:
    example: dict[str, Any] | None
    keras_name: str = ""
    problem: str = ""


def _probe(keras: Any, cls: type, entry: LayerEntry) -> _Probe:
    """Build the layer with its initial params on the first symbolic input that works."""
    kwargs = {k: entry.param(k).to_keras(v) for k, v in entry.initial_params().items()}
    problem = "no input shape fits"
    for candidate in _probe_candidates(entry):
        try:
            layer = cls(**kwargs)
            args = _symbolic_args(keras, entry, candidate)
            if entry.ports.kind == "named":
                layer(**args)
            else:
                layer(args if entry.ports.kind == "list" else args[0])
            # Keras' own default name, without the counter it adds to repeats
            return _Probe(candidate, re.sub(r"_\d+$", "", layer.name))
        except Exception as exc:  # any failure just means: try the next shape
            problem = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    return _Probe(None, problem=problem)


def _probe_candidates(entry: LayerEntry) -> list[dict[str, Any]]:
    if entry.ports.kind == "named":
        return [{"inputs": {"query": [None, 4, 8], "value": [None, 5, 8]}, "dtype": "float32"}]
    if entry.ports.kind == "list":
        return [{"inputs": [s[0]] * entry.ports.min, "dtype": "float32"} for s in PROBE_INPUTS]
    dtypes = ["int32", "float32"] if "Embedding" in entry.class_name else ["float32", "int32"]
    return [{"inputs": s, "dtype": d} for d in dtypes for s in PROBE_INPUTS]


def _symbolic_args(keras: Any, entry: LayerEntry, example: dict[str, Any]) -> Any:
    dtype = example["dtype"]
    inputs = example["inputs"]
    if isinstance(inputs, dict):
        return {k: keras.KerasTensor(tuple(v), dtype=dtype) for k, v in inputs.items()}
    return [keras.KerasTensor(tuple(s), dtype=dtype) for s in inputs]


def _application_entry(keras: Any, name: str) -> LayerEntry:
    fn = getattr(keras.applications, name)
    params = (
        ParamSpec("include_top", "bool", False),
        ParamSpec("weights", "choice", None, False, (None, "imagenet")),
        ParamSpec("pooling", "choice", None, False, (None, "avg", "max")),
        ParamSpec("classes", "int", 1000),
    )
    example = {"inputs": [[None, 96, 96, 3]] if name != "NASNetMobile" else [[None, 224, 224, 3]],
               "dtype": "float32"}
    doc = f"keras.applications.{name} used as a layer (a pretrained architecture). " + \
        _first_line(fn.__doc__)
    # Keras' own defaults (a classifier top, ImageNet weights) do not fit a layer in a graph.
    initial = {"include_top": False, "weights": None}
    return LayerEntry(APPLICATION_PREFIX + name, "Applications", doc.strip(), params, ONE_INPUT,
                      example, initial, name.lower())


def _lambda_entry() -> LayerEntry:
    """Lambda layers made in the app keep the user's expression text (Keras would keep only
    bytecode); building one runs that text, which is why project files mark them."""
    doc = ("Applies a Python expression to its input tensor x, e.g. `x * 2` or "
           "`ops.relu(x) + 1` (`keras` and `ops` are available). Runs code when built.")
    params = (ParamSpec("expression", "expression", "x", True),)
    example = {"inputs": [[None, 8]], "dtype": "float32"}
    return LayerEntry("Lambda", "Core", doc, params, ONE_INPUT, example, {}, "lambda")
