"""TFSMLayer: a layer that loads a SavedModel the user names (``model.export(path)`` writes
one) and calls one of its endpoints.

Its shapes come from a symbolic call of the loaded SavedModel. Loading one runs its
TensorFlow graph, which Keras' safe mode refuses too: like a Lambda's expression, the folder
a project names is loaded only once the user trusts the project (``schema.trust``, by the
folder's path). A folder that is missing or holds no SavedModel is a message on the node
naming the path; the node stays editable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..schema.errors import LayerForgeError
from ..schema.records import ONE_INPUT, Shape, format_shape, shape_fits
from ..schema.trust import refuse_untrusted_saved_model
from .entry import LayerEntry
from .params import ParamSpec

SAVED_MODEL_CLASS = "TFSMLayer"
SAVED_MODEL_FILE = "saved_model.pb"
_DOC = ("Loads a TensorFlow SavedModel (written by `model.export(path)`) from the folder "
        "`filepath` and calls its `call_endpoint` (\"serve\" for Keras exports). Loading runs "
        "the SavedModel's graph: a project that names one is loaded only once trusted.")


class SavedModelError(LayerForgeError):
    """The folder a TFSMLayer names holds no SavedModel."""


def saved_model_entry() -> LayerEntry:
    """The catalog entry: it cannot be probed (there is no SavedModel to load yet), so it
    has no example; the path starts empty, for the user to fill in."""
    params = (
        ParamSpec("filepath", "str", "", True),
        ParamSpec("call_endpoint", "str", "serve"),
        ParamSpec("call_training_endpoint", "any", None),
    )
    return LayerEntry(SAVED_MODEL_CLASS, "Core", _DOC, params, ONE_INPUT, {}, {}, "tfsm_layer")


def saved_model_path(params: dict[str, Any]) -> str:
    return str(params.get("filepath") or "")


def saved_model_state(params: dict[str, Any]) -> list[Any]:
    """What a cached answer about the layer depends on beside its parameters: whether the
    SavedModel is there and when it was written (exporting it later refreshes the node)."""
    graph_file = Path(saved_model_path(params)) / SAVED_MODEL_FILE
    try:
        return [graph_file.stat().st_mtime_ns]
    except OSError:
        return []


def saved_model_problem(path: str) -> str | None:
    """Why ``path`` is no SavedModel folder, or None."""
    if not path:
        return ("TFSMLayer expected 'filepath', the folder of a SavedModel (written by "
                "model.export(path)); received an empty path")
    folder = Path(path)
    if not folder.exists():
        return (f"TFSMLayer expected a SavedModel folder at '{path}' (written by "
                "model.export(path)); received a path that does not exist")
    if not (folder / SAVED_MODEL_FILE).is_file():
        what = "a folder without saved_model.pb" if folder.is_dir() else "a file"
        return (f"TFSMLayer expected a SavedModel folder at '{path}' (written by "
                f"model.export(path)); received {what}")
    return None


def make_saved_model_layer(keras: Any, kwargs: dict[str, Any],
                           input_shape: Shape | None = None) -> Any:
    """The Keras layer, once the folder is known to hold a SavedModel the user trusts;
    given the shape of its input, one its endpoint does not take is refused by name (Keras
    would say only that it could not infer the output)."""
    path = saved_model_path(kwargs)
    problem = saved_model_problem(path)
    if problem is not None:
        raise SavedModelError(problem)
    refuse_untrusted_saved_model(path)
    try:
        layer = keras.layers.TFSMLayer(**kwargs)
    except (ValueError, OSError) as exc:  # an endpoint it lacks, a damaged SavedModel
        raise SavedModelError(f"TFSMLayer could not load the SavedModel at '{path}': "
                              f"{str(exc).strip()[:300]}") from exc
    wanted = endpoint_input_shape(layer)
    if input_shape is not None and wanted is not None and not shape_fits(input_shape, wanted):
        raise SavedModelError(
            f"TFSMLayer expected an input of shape {format_shape(wanted)}, which the "
            f"SavedModel at '{path}' takes at '{layer.call_endpoint}'; received "
            f"{format_shape(input_shape)}")
    return layer


def endpoint_input_shape(layer: Any) -> Shape | None:
    """The shape the endpoint takes, when it takes one tensor of a known rank."""
    signature = getattr(layer.call_endpoint_fn, "input_signature", None)
    if not isinstance(signature, tuple | list) or len(signature) != 1:
        return None
    shape = getattr(signature[0], "shape", None)
    if shape is None or shape.rank is None:
        return None
    return tuple(shape.as_list())
