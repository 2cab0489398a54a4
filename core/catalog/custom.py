"""Layers from Python files: the user's custom modules and LayerForge's own classes for the
layers keras.applications defines (``application_layers.py``).

A custom module is code: it is imported only once the user trusts it (``schema.trust``,
by the file's SHA-256). Importing it lists its layer classes as catalog entries (category
"Custom"), their parameters read from the constructor and ``get_config``; the entries are
kept in the project, so a project whose module is not trusted still opens and shows them
(nothing from the module runs). The catalog a document reads is the cached base catalog
plus its modules' entries (:func:`with_custom`).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from ..schema.errors import LayerForgeError
from ..schema.records import PortSpec
from ..schema.trust import module_may_run, refuse_untrusted_module
from .catalog import Catalog, LayerEntry, _entry_for, _probe
from .params import ParamSpec, registry_choices

CUSTOM_CATEGORY = "Custom"
# The ``source`` of LayerForge's own classes (application_layers.py; trusted, always offered).
SHIPPED_SOURCE = "layerforge"
SHIPPED_PATH = Path(__file__).with_name("application_layers.py")
_SHIPPED_DOC = "A layer keras.applications defines for its own {}, as LayerForge writes it. "
_ONE = {"inputs": [[None, 8]], "dtype": "float32"}
SHIPPED_ENTRIES = (
    LayerEntry("LayerScale", "Applications' layers",
               _SHIPPED_DOC.format("ConvNeXt models") + "Multiplies its input by a learned "
               "per-channel scale (projection_dim: the input's channels).",
               (ParamSpec("init_values", "float", 1e-6, True),
                ParamSpec("projection_dim", "int", 8, True)), PortSpec("single"), _ONE, {},
               "layer_scale"),
    LayerEntry("StochasticDepth", "Applications' layers",
               _SHIPPED_DOC.format("ConvNeXt models") + "Drops the residual branch of a batch "
               "at random while training.", (ParamSpec("drop_path_rate", "float", 0.1, True),),
               PortSpec("single"), _ONE, {}, "stochastic_depth"),
    LayerEntry("CustomScaleLayer", "Applications' layers",
               _SHIPPED_DOC.format("InceptionResNetV2") + "Adds a scaled residual to its "
               "first input: inputs[0] + inputs[1] * scale.",
               (ParamSpec("scale", "float", 0.17, True),), PortSpec("list", 2, 2),
               {"inputs": [[None, 8], [None, 8]], "dtype": "float32"}, {},
               "custom_scale_layer"),
)
# How many tensors a custom layer's list input is tried with when one tensor does not fit.
LIST_SIZES = (2, 3, 4)


class CustomModuleError(LayerForgeError):
    """A custom layer module that cannot be used (it fails to import, has no layer classes,
    or a class's config does not round-trip)."""


@dataclass(frozen=True)
class CustomModule:
    """A trusted Python file of the user's and the layer classes it defines."""

    path: str  # absolute
    entries: tuple[LayerEntry, ...]

    @property
    def name(self) -> str:
        return Path(self.path).stem


class ProjectCatalog(Catalog):
    """The catalog a document reads: the base catalog (Keras' layers, cached), LayerForge's
    classes for keras.applications' own layers, and the classes of the document's custom
    modules. ``sources``: the file (or ``SHIPPED_SOURCE``) of each class not in Keras."""

    def __init__(self, base: Catalog, modules: tuple[CustomModule, ...] = ()) -> None:
        self.base = base.base if isinstance(base, ProjectCatalog) else base
        self.modules = modules
        own = [e for e in SHIPPED_ENTRIES if e.class_name not in self.base]
        custom = [e for module in modules for e in module.entries]
        super().__init__([*self.base, *own, *custom], self.base.keras_version,
                         self.base.excluded)
        # Any other attribute of the base catalog (registries, nested...) reads the same here.
        self.__dict__.update({k: v for k, v in self.base.__dict__.items() if k != "entries"})
        self.sources = {e.class_name: SHIPPED_SOURCE for e in own}
        self.sources.update({e.class_name: m.path for m in modules for e in m.entries})
        _MODULE_OF.update({e.class_name: m.path for m in modules for e in m.entries})

    def source_of(self, class_name: str) -> str | None:
        """The file a class comes from (``SHIPPED_SOURCE`` for LayerForge's), or None for a
        Keras layer."""
        return self.sources.get(class_name)


# The module file of each custom class any document of this process has used: what a layer
# record alone (a class name) runs when it is built.
_MODULE_OF: dict[str, str] = {}


def module_of(class_name: str) -> str | None:
    return _MODULE_OF.get(class_name)


def source_of(catalog: Catalog, class_name: str) -> str | None:
    return catalog.source_of(class_name) if isinstance(catalog, ProjectCatalog) else None


def custom_sources(catalog: Catalog, class_names: set[str]) -> dict[str, str]:
    """The user's module file of each of these classes that comes from one."""
    found = {name: source_of(catalog, name) for name in class_names}
    return {name: src for name, src in found.items() if src and src != SHIPPED_SOURCE}


# ------------------------------------------------------------------ loading
def load_module(path: str | Path) -> ModuleType:
    """Import a trusted module from its file (once per content: a changed file is imported
    again). It is registered under its file's stem, as ``from stem import Class`` in the
    exported code finds it."""
    target = Path(path).resolve()
    if not target.is_file():
        raise CustomModuleError(f"{target}: expected a custom layer module (.py file); there "
                                "is no such file")
    refuse_untrusted_module(str(target))
    name = target.stem
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(target):
        # Imported already (by LayerForge for this content, or by the user's own code).
        if getattr(loaded, "__layerforge_mtime__", _mtime(target)) == _mtime(target):
            return loaded
    elif loaded is not None:
        raise CustomModuleError(f"{target}: expected a module name of its own; received "
                                f"'{name}', the name of a module already imported "
                                f"({getattr(loaded, '__file__', None) or 'built in'}): rename "
                                "the file")
    if not name.isidentifier():
        raise CustomModuleError(f"{target}: expected a Python file whose name is a module name "
                                f"(letters, digits, _); received '{target.name}'")
    spec = importlib.util.spec_from_file_location(name, target)
    if spec is None or spec.loader is None:
        raise CustomModuleError(f"{target}: expected a Python (.py) file; received "
                                f"'{target.name}'")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code may fail in any way (SyntaxError included)
        sys.modules.pop(name, None)
        raise CustomModuleError(f"{target}: the custom layer module failed to import "
                                f"({type(exc).__name__}: {str(exc)[:300]})") from None
    module.__dict__["__layerforge_mtime__"] = _mtime(target)
    return module


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def layer_classes(module: ModuleType, keras: Any) -> list[type]:
    """The Keras layer classes the module itself defines (not the ones it imports)."""
    return [obj for _, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, keras.layers.Layer) and obj.__module__ == module.__name__]


def custom_class(source: str, class_name: str) -> type:
    """The class behind a custom or shipped entry (a custom module runs only if trusted)."""
    if source == SHIPPED_SOURCE:
        from . import application_layers  # lazy: it defines Keras layer classes

        return application_layers.CLASSES[class_name]
    module = load_module(source)
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls):
        raise CustomModuleError(f"{source}: expected the module to define the layer "
                                f"class '{class_name}'; it does not (any more)")
    return cls


# ------------------------------------------------------------ introspection
def read_module(path: str | Path, taken: Catalog | None = None) -> CustomModule:
    """Import a trusted module and make a catalog entry of each of its layer classes.
    ``taken``: a catalog whose class names a custom class may not reuse."""
    import keras  # lazy: introspecting layer classes needs Keras

    target = Path(path).resolve()
    module = load_module(target)
    try:
        return CustomModule(str(target), module_entries(keras, module, target, taken))
    except CustomModuleError:
        if sys.modules.get(module.__name__) is module:
            del sys.modules[module.__name__]  # a refused module is not left importable
        raise


def module_entries(keras: Any, module: ModuleType, target: Path,
                   taken: Catalog | None) -> tuple[LayerEntry, ...]:
    classes = layer_classes(module, keras)
    if not classes:
        raise CustomModuleError(f"{target}: expected at least one subclass of "
                                "keras.layers.Layer defined in the module; it defines none")
    entries = []
    for cls in classes:
        if taken is not None and cls.__name__ in taken and \
                source_of(taken, cls.__name__) != str(target):
            raise CustomModuleError(f"{target}: class '{cls.__name__}' has the name of a layer "
                                    "LayerForge already offers; rename the class")
        entries.append(class_entry(keras, cls, str(target), CUSTOM_CATEGORY))
    return tuple(entries)


def class_entry(keras: Any, cls: type, source: str, category: str) -> LayerEntry:
    """The entry of one layer class: parameters from its constructor, its config checked to
    round-trip, its inputs (one tensor, or a list) and an example found by probing."""
    entry = replace(_entry_for(cls, registry_choices(keras)), category=category)
    check_round_trip(keras, cls, entry, source)
    probe = _probe(keras, cls, entry)
    for size in LIST_SIZES:
        if probe.example is not None:
            break
        entry = replace(entry, ports=PortSpec("list", size, size))
        probe = _probe(keras, cls, entry)
    if probe.example is None:
        entry = replace(entry, ports=PortSpec("single"))
    default_name = probe.keras_name or _snake(cls.__name__)
    return replace(entry, example=probe.example or {}, default_name=default_name)


def check_round_trip(keras: Any, cls: type, entry: LayerEntry, source: str) -> None:
    """Refuse a class whose ``from_config(get_config())`` makes a different layer: a saved
    project or model would not come back as it was."""
    kwargs = {k: entry.param(k).to_keras(v) for k, v in entry.initial_params().items()}
    try:
        layer = cls(**kwargs)
        config = layer.get_config()
    except Exception:  # no layer from its defaults: nothing to compare until it has values
        return
    try:
        again = cls.from_config(config).get_config()
    except Exception as exc:  # the user's from_config may fail in any way
        raise CustomModuleError(
            f"{source}: class '{cls.__name__}': expected from_config(get_config()) to make the "
            f"layer again; it fails ({type(exc).__name__}: {str(exc)[:200]})") from None
    if _comparable(keras, again) != _comparable(keras, config):
        changed = sorted(k for k in set(config) | set(again) if config.get(k) != again.get(k))
        raise CustomModuleError(
            f"{source}: class '{cls.__name__}': expected from_config(get_config()) to give "
            f"the same config; received a layer whose {', '.join(changed)} differ(s): add "
            "every constructor argument to get_config")


def _comparable(keras: Any, config: dict[str, Any]) -> Any:
    """A config without its (counter-numbered) name, serialized for comparison."""
    rest = {k: v for k, v in config.items() if k != "name"}
    return keras.saving.serialize_keras_object(rest)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower()
                   for i, c in enumerate(name))


def class_may_run(class_name: str) -> bool:
    """False for a class from a custom module the user has not trusted."""
    path = module_of(class_name)
    return path is None or module_may_run(path)


# ------------------------------------------------------------ project records
def module_record(module: CustomModule, folder: Path | None = None) -> dict[str, Any]:
    """What a project file keeps of a module: its path (relative to the project's folder
    when it is inside it) and its classes' entries (shown while the module is not trusted)."""
    path = Path(module.path)
    if folder is not None and path.is_relative_to(folder.resolve()):
        path = path.relative_to(folder.resolve())  # elsewhere: kept absolute
    return {"path": path.as_posix(), "layers": [asdict(e) for e in module.entries]}


def module_from_record(raw: Any, folder: Path | None) -> CustomModule:
    """A module read back from a project file (ValueError saying what is wrong)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str) or \
            not isinstance(raw.get("layers"), list):
        raise ValueError('expected {"path": "<file>.py", "layers": [...]}')
    path = Path(raw["path"])
    if not path.is_absolute() and folder is not None:
        path = folder / path
    try:
        read = Catalog.from_json({"keras_version": "", "excluded": {}, "registries": {},
                                  "nested": [], "entries": raw["layers"]})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"expected the layer entries LayerForge wrote; received "
                         f"{type(exc).__name__}: {str(exc)[:80]}") from None
    entries = tuple(replace(e, category=CUSTOM_CATEGORY) for e in read)
    return CustomModule(str(path.resolve()), entries)
