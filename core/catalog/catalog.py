"""The layer catalog, derived from Keras itself.

Every public ``keras.layers`` class is introspected once (constructor
signature, defaults, docstring), probed by building it on a small symbolic
input, and written to a JSON cache keyed by the Keras version, so later starts
read the catalog without importing TensorFlow. The few hints introspection cannot
know (starting values, choices for string arguments, which layers take several
tensors) are the tables of ``hints.py``; a parameter and its value checks are
``params.py``.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from ..schema.errors import UnknownLayerError
from ..schema.records import ONE_INPUT, PortSpec
from .call_ports import with_call_ports
from .entry import APPLICATION_PREFIX, LayerEntry
from .hints import (
    APPLICATIONS,
    CATEGORIES,
    CLASS_CHOICES,
    CLASS_INITIAL,
    COVERED,
    EXCLUDED,
    OWN_ENTRIES,
    PORT_HINTS,
    SPATIAL_TUPLES,
    STRING_CHOICES,
    SUGGESTED,
)
from .nested import use_entries
from .params import REGISTRY_MODULES, ParamSpec, registry_choices
from .probe import probe_layer as _probe
from .registries import setting_registries
from .saved_models import saved_model_entry
from .wrappers import holds_layers, nesting_entries

CATALOG_SCHEMA = 27


class Catalog:
    """Lookup of layer entries by class name."""

    def __init__(self, entries: Iterable[LayerEntry], keras_version: str,
                 excluded: dict[str, str] | None = None,
                 registries: dict[str, dict[str, str]] | None = None,
                 nested: Iterable[LayerEntry] = ()) -> None:
        self.entries = {entry.class_name: entry for entry in entries}
        self.keras_version = keras_version
        self.excluded = dict(excluded or {})
        self.registries = dict(registries or {})  # losses, metrics, optimizers by name
        # Entries chosen only inside another layer (recurrent cells), never on the canvas.
        self.nested = {entry.class_name: entry for entry in nested}
        use_entries(self.entries, self.nested)

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
            "registries": self.registries,
            "entries": [asdict(e) for e in self.entries.values()],
            "nested": [asdict(e) for e in self.nested.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Catalog:
        entries, nested = ([LayerEntry.from_json(raw) for raw in data[key]]
                           for key in ("entries", "nested"))
        return cls(entries, data["keras_version"], data.get("excluded"), data["registries"],
                   nested=nested)


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
    import keras  # lazy: only a missing or stale cache pays for the TensorFlow import

    excluded = {**COVERED, **EXCLUDED}  # each with the reason shown when a file names it
    named = registry_choices(keras)
    entries: list[LayerEntry] = []
    held = []
    for name, cls in _public_layer_classes(keras):
        if name in excluded or name in OWN_ENTRIES:
            continue
        if holds_layers(name):  # made once every layer they may hold is known
            held.append(cls)
            continue
        entry = _probed(keras, cls, _entry_for(cls, named), excluded)
        entries += [entry] if entry is not None else []
    wrappers, nested = nesting_entries(keras, held, entries, lambda cls: _entry_for(cls, named),
                                       lambda cls, e: _probed(keras, cls, e, excluded))
    entries += wrappers
    entries += [_application_entry(keras, name) for name in APPLICATIONS
                if hasattr(keras.applications, name)]
    entries += [_lambda_entry(), saved_model_entry()]
    return Catalog(entries, keras.__version__, excluded, setting_registries(keras),
                   nested=nested)


def _probed(keras: Any, cls: type, entry: LayerEntry, excluded: dict[str, str]
            ) -> LayerEntry | None:
    """``entry`` with the example input it builds on, or None (and why, in ``excluded``)."""
    probe = _probe(keras, cls, entry)
    if probe.example is None:
        excluded[cls.__name__] = f"does not build with its defaults: {probe.problem}"
        return None
    return replace(entry, example=probe.example, default_name=probe.keras_name,
                   ports=with_call_ports(cls, entry.ports, probe.layer))


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


def _entry_for(cls: type, named: dict[str, tuple[str, ...]]) -> LayerEntry:
    """``named``: the names Keras resolves for each registry kind (activations...)."""
    params = tuple(_param_spec(cls, p, named) for p in _init_parameters(cls))
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


def _param_spec(cls: type, param: inspect.Parameter,
                named_choices: dict[str, tuple[str, ...]]) -> ParamSpec:
    required = param.default is inspect.Parameter.empty
    default = SUGGESTED.get(param.name) if required else param.default
    default = _jsonable(default) if isinstance(default, tuple) else default
    name = param.name
    rank = _spatial_rank(cls.__name__)
    named = _named_kind(name, named_choices)
    if named is not None:
        kind, choices = named
        if isinstance(default, str) and default not in choices:
            choices = (*choices, default)
        return ParamSpec(name, kind, _jsonable(default), required, choices)
    own = CLASS_CHOICES.get((cls.__name__, name))
    if own is not None:
        return ParamSpec(name, "choice", default, required, tuple(own))
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


def _named_kind(name: str, named_choices: dict[str, tuple[str, ...]]
                ) -> tuple[str, tuple[Any, ...]] | None:
    """The registry kind of a parameter, by its name, and its choices (None first)."""
    for kind in REGISTRY_MODULES:
        if name == kind or name.endswith("_" + kind):
            return kind, (None, *named_choices[kind])
    return None


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


def _application_entry(keras: Any, name: str) -> LayerEntry:
    fn = getattr(keras.applications, name)
    params = (
        ParamSpec("include_top", "bool", False),
        ParamSpec("weights", "choice", None, False, (None, "imagenet")),
        ParamSpec("pooling", "choice", None, False, (None, "avg", "max")),
        ParamSpec("classes", "int", 1000),
        # A weights file the user picked (Keras' weights=<path>); see pretrained.py.
        ParamSpec("weights_file", "str", None),
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
