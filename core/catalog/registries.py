"""The compile options Keras resolves by name through a registry: losses, metrics and
optimizers. The names are read from the installed Keras when the catalog is built
(:func:`setting_registries`) and kept in its cached JSON, so the window offers and checks
them without importing TensorFlow.

Each table maps every name ``keras.<module>.get`` resolves (the snake_case names, the
CamelCase class names and the short aliases such as 'mse' or 'bce') to the name of what it
resolves to; for optimizers that is the public class the generated code constructs.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from ..schema.records import OutputNode

# Registry kind -> the public Keras module whose ``get`` is the registry.
SETTING_REGISTRIES = {"loss": "losses", "metric": "metrics", "optimizer": "optimizers"}

# Names ``Model.compile`` resolves itself before asking the registry: it picks the binary,
# categorical or sparse variant from the output's targets and predictions.
COMPILE_ALIASES = {
    "metric": {"accuracy": "accuracy (chosen by the targets)",
               "acc": "accuracy (chosen by the targets)"},
    "loss": {"crossentropy": "crossentropy (chosen by the targets)",
             "ce": "crossentropy (chosen by the targets)"},
}

# What a registry name may resolve to but cannot compute: the abstract base classes.
_BASE_CLASSES = {"losses": "Loss", "metrics": "Metric", "optimizers": "Optimizer"}


def setting_registries(keras: ModuleType) -> dict[str, dict[str, str]]:
    """For each kind (loss, metric, optimizer), every name Keras resolves and what it
    resolves to, read from the installed Keras."""
    tables = {kind: resolved_names(getattr(keras, module))
              for kind, module in SETTING_REGISTRIES.items()}
    for kind, aliases in COMPILE_ALIASES.items():
        tables[kind].update(aliases)
    return tables


def resolved_names(module: ModuleType) -> dict[str, str]:
    """Name -> what ``module.get(name)`` builds (a class or function name), for every
    candidate name that ``get`` resolves to something usable."""
    base = getattr(module, _BASE_CLASSES.get(module.__name__.rsplit(".", 1)[-1], ""), None)
    found = {}
    for name in sorted(_candidate_names(module)):
        target = _resolve(module, name, base)
        if target is not None:
            found[name] = target
    return found


def _candidate_names(module: ModuleType) -> set[str]:
    """The module's public names, the snake_case and lower-case spellings of its classes,
    and the keys of the table ``get`` reads: Keras keeps short aliases ('mse', 'bce',
    'kld') only there, and no public API lists them. Each is tried with ``get``."""
    names: set[str] = set()
    for name, obj in inspect.getmembers(module):
        if name.startswith("_") or name in ("get", "serialize", "deserialize"):
            continue
        names.add(name)
        if inspect.isclass(obj):
            names.update((name.lower(), snake_case(name)))
    table = getattr(module.get, "__globals__", {}).get("ALL_OBJECTS_DICT", {})
    names.update(key for key in table if isinstance(key, str))
    return names


def _resolve(module: ModuleType, name: str, base: type | None) -> str | None:
    try:
        obj = module.get(name)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # public, but Keras does not build it from the name alone
    cls = obj if inspect.isclass(obj) else type(obj)
    if obj is None or (base is not None and cls is base):
        return None
    if inspect.isfunction(obj):
        return obj.__name__
    if getattr(module, cls.__name__, None) is not cls:
        return None  # the generated code names public classes only
    return cls.__name__


def snake_case(name: str) -> str:
    """'MeanSquaredError' -> 'mean_squared_error', 'AUC' -> 'auc' (Keras' own rule)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ------------------------------------------------------------------ checks
_WHAT = {"loss": "a loss", "metric": "a metric", "optimizer": "an optimizer"}


def offered_names(table: dict[str, str]) -> list[str]:
    """The names to offer in a list: the lower-case spellings, sorted (the CamelCase class
    names are accepted too, but would only double the list)."""
    return sorted(name for name in table if name == name.lower())


def registry_error(registries: dict[str, dict[str, str]], kind: str, name: Any) -> str | None:
    """Why ``name`` is not a ``kind`` (loss, metric, optimizer) Keras resolves, or None."""
    table = registries.get(kind, {})
    if isinstance(name, str) and name in table:
        return None
    offered = offered_names(table)
    close = difflib.get_close_matches(str(name), offered, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    module = SETTING_REGISTRIES.get(kind, kind)
    return (f"expected {_WHAT.get(kind, kind)} name that keras.{module} resolves, one of "
            f"{', '.join(offered)}; received {name!r}{hint}")


def outputs_name_error(registries: dict[str, dict[str, str]],
                       outputs: Iterable[OutputNode]) -> str | None:
    """Why a loss or metric name of the outputs is not one Keras resolves, or None."""
    for node in outputs:
        named = [("loss", node.loss)] if node.loss else []
        for kind, name in [*named, *(("metric", m) for m in node.metrics)]:
            problem = registry_error(registries, kind, name)
            if problem:
                return f"output '{node.name}': {kind}: {problem}"
    return None
