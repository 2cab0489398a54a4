"""Typed errors for illegal edits and bad files.

Every message says what was expected, what was received and, where it helps,
what to do about it.
"""

from __future__ import annotations


class LayerForgeError(Exception):
    """Base class of every error LayerForge raises on purpose."""


class EditError(LayerForgeError):
    """An edit of the graph document that would break it."""


class CycleError(EditError):
    """A connection that would make the graph cyclic."""


class ArityError(EditError):
    """A connection to a port that does not exist or is already taken."""


class UnknownLayerError(EditError):
    """A layer class that the catalog does not know."""


class UnknownIdError(EditError):
    """A node, edge, layer or block id that is not in the document."""


class ParameterError(EditError):
    """A parameter value of the wrong kind or out of range."""


class NameClashError(EditError):
    """A name already used by another layer, input or output."""


class ProjectFileError(LayerForgeError):
    """A project file that cannot be read; the document is left unchanged."""


class ModelImportError(LayerForgeError):
    """A Keras model (file or object) that cannot become a LayerForge document."""


class UnsafeLambdaError(ModelImportError):
    """A Lambda layer from a file: its function is Python bytecode, not source."""


class CustomLayerError(ModelImportError):
    """A layer class that is not a public Keras layer (a custom or third-party class)."""


class UnsupportedOperationError(ModelImportError):
    """A raw ``keras.ops`` call or a Keras feature that no public layer expresses."""


class WeightsError(LayerForgeError):
    """Stored weights that do not fit the model (shapes or layers differ)."""


def first_line(exc: BaseException, width: int = 300) -> str:
    """The first line of an error, for a message that quotes it (its class when it is blank)."""
    text = str(exc).strip()
    return text.splitlines()[0][:width] if text else type(exc).__name__
