"""Pretrained (ImageNet) weights of a keras.applications layer: the file Keras reads for them,
where the Keras cache keeps it, and loading it (or a weights file the user picked) into the
model, which is built with ``weights=None`` first.

The live pass never downloads (it runs on the UI thread): with ``weights='imagenet'`` the file
is read from the Keras cache (``$KERAS_HOME/models``, by default ``~/.keras/models``), under
the name keras.applications downloads it to; without it, the message names the file, the
folder and, room permitting, where to get it. The exported code (which the Keras check and
training run) fetches the same file through ``keras.utils.get_file``, which reads the cache
and downloads only when the file is not there.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GOOGLE = "https://storage.googleapis.com/"
KERAS_APPS = GOOGLE + "tensorflow/keras-applications/"
# Square input sizes with their own ImageNet files (MobileNet, MobileNetV2); others read 224's.
MOBILENET_ROWS = (128, 160, 192, 224)
MOBILENET_V2_ROWS = (96, 128, 160, 192, 224)
# The input size keras.applications' ImageNet classifiers take (224 for the others).
CLASSIFIER_SIZES = {"InceptionV3": 299, "InceptionResNetV2": 299, "Xception": 299,
                    "NASNetLarge": 331, "EfficientNetB1": 240, "EfficientNetB2": 260,
                    "EfficientNetB3": 300, "EfficientNetB4": 380, "EfficientNetB5": 456,
                    "EfficientNetB6": 528, "EfficientNetB7": 600, "EfficientNetV2B1": 240,
                    "EfficientNetV2B2": 260, "EfficientNetV2B3": 300, "EfficientNetV2S": 384,
                    "EfficientNetV2M": 480, "EfficientNetV2L": 480}
# The live pass shows at most 400 characters of a message; of Keras' own, ours keep 160.
MESSAGE_LIMIT = 400
KERAS_REASON = 160


class PretrainedWeightsError(ValueError):
    """Weights asked for cannot be loaded: the file is missing or does not fit the model."""


@dataclass(frozen=True)
class WeightsFile:
    """A file of keras.applications' ImageNet weights: its name in the cache, its origin."""

    name: str
    url: str


def _tf_kernels(folder: str, stem: str, include_top: bool) -> WeightsFile:
    name = f"{stem}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
    return WeightsFile(name, f"{KERAS_APPS}{folder}/{name}")


def _plain(base: str, stem: str, include_top: bool, no_top: str = "_notop") -> WeightsFile:
    name = f"{stem}{'' if include_top else no_top}.h5"
    return WeightsFile(name, base + name)


def _nasnet(size: str, include_top: bool) -> WeightsFile:
    suffix = "" if include_top else "_no_top"
    return WeightsFile(f"nasnet_{size}{suffix}.h5",
                       f"{KERAS_APPS}nasnet/NASNet-{size}{suffix.replace('_', '-')}.h5")


def _mobilenet(rows: int, include_top: bool) -> WeightsFile:
    rows = rows if rows in MOBILENET_ROWS else 224
    name = f"mobilenet_1_0_{rows}_tf{'' if include_top else '_no_top'}.h5"
    return WeightsFile(name, f"{KERAS_APPS}mobilenet/{name}")


def _mobilenet_v2(rows: int, include_top: bool) -> WeightsFile:
    rows = rows if rows in MOBILENET_V2_ROWS else 224
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}" \
           f"{'' if include_top else '_no_top'}.h5"
    return WeightsFile(name, f"{KERAS_APPS}mobilenet_v2/{name}")


def imagenet_file(application: str, include_top: bool, rows: int | None = None) -> \
        WeightsFile | None:
    """The file keras.applications reads ImageNet weights of ``application`` from (``rows``:
    the input's height, which picks MobileNet's file), or None for one not known here."""
    lower = application.lower()
    if application.startswith(("ResNet", "VGG", "DenseNet")):
        folder = "resnet" if lower.startswith("resnet") else lower.rstrip("0123456789") \
            if lower.startswith("densenet") else lower
        return _tf_kernels(folder, lower, include_top)
    if application in ("InceptionV3", "InceptionResNetV2", "Xception"):
        stem = {"inceptionv3": "inception_v3", "inceptionresnetv2": "inception_resnet_v2"}.get(
            lower, lower)
        return _tf_kernels(stem, stem, include_top)
    if application.startswith("EfficientNetV2"):
        stem = "efficientnetv2-" + lower.removeprefix("efficientnetv2")
        return _plain(KERAS_APPS + "efficientnet_v2/", stem, include_top)
    if application.startswith("EfficientNetB"):
        return _plain(GOOGLE + "keras-applications/", lower, include_top)
    if application.startswith("ConvNeXt"):
        return _plain(KERAS_APPS + "convnext/", "convnext_" + lower.removeprefix("convnext"),
                      include_top)
    if application.startswith("NASNet"):
        return _nasnet(lower.removeprefix("nasnet"), include_top)
    if application == "MobileNet":
        return _mobilenet(rows or 224, include_top)
    if application == "MobileNetV2":
        return _mobilenet_v2(rows or 224, include_top)
    return None


def cache_folders() -> list[Path]:
    """Where the Keras cache keeps downloaded weights: ``$KERAS_HOME/models`` (by default
    ``~/.keras/models``), then the temporary folder Keras falls back to when that is not
    writable."""
    home = Path(os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))))
    return [home / "models", Path(tempfile.gettempdir()) / ".keras" / "models"]


def cached_file(known: WeightsFile) -> Path | None:
    return next((folder / known.name for folder in cache_folders()
                 if (folder / known.name).is_file()), None)


def weights_to_load(application: str, params: dict[str, Any],
                    input_shape: tuple[Any, ...] | None) -> Path | None:
    """The weights file a layer with ``params`` loads (the file the user picked, or the cached
    ImageNet file), None for random weights; raises PretrainedWeightsError when it is not
    there, naming the file and where to place it."""
    picked = params.get("weights_file")
    if picked:
        path = Path(str(picked)).expanduser()
        if not path.is_file():
            raise PretrainedWeightsError(
                f"{application}: expected a weights file at {path}; there is no such file. "
                "Choose another one, or clear weights_file")
        return path
    if params.get("weights", "imagenet") != "imagenet":  # Keras' default
        return None
    rows = input_shape[1] if input_shape and len(input_shape) > 1 else None
    refusal = classifier_refusal(application, params, input_shape)
    if refusal is not None:
        raise PretrainedWeightsError(f"{application}: {refusal}")
    known = imagenet_file(application, bool(params.get("include_top", True)), rows)
    if known is None:
        raise PretrainedWeightsError(
            f"{application}: LayerForge does not know which file holds its ImageNet weights; "
            "choose a weights file (weights_file) saved from this architecture")
    found = cached_file(known)
    if found is None:
        raise PretrainedWeightsError(missing_message(application, known))
    return found


def classifier_refusal(application: str, params: dict[str, Any],
                       input_shape: tuple[Any, ...] | None) -> str | None:
    """What keras.applications refuses for ImageNet weights with the classifier top (another
    class count, another input size), in its words; None when it accepts them."""
    if not params.get("include_top", True):
        return None
    classes = params.get("classes", 1000)
    if classes != 1000:
        return ("If using `weights='imagenet'` with `include_top=True`, `classes` should be "
                f"1000.  Received classes={classes}")
    image = tuple(input_shape[1:]) if input_shape else None
    if image is None or len(image) != 3:
        return None
    size = CLASSIFIER_SIZES.get(application, 224)
    own = MOBILENET_ROWS if application == "MobileNet" else \
        MOBILENET_V2_ROWS if application == "MobileNetV2" else ()
    if image[0] == image[1] and image[0] in own:
        size = image[0]
    if image == (size, size, image[2]) and image[2] == 3:
        return None
    return ("When setting `include_top=True` and loading `imagenet` weights, `input_shape` "
            f"should be {(size, size, 3)}.  Received: input_shape={image}")


def weights_files_state(params: dict[str, Any]) -> list[Any] | None:
    """What changes when the weights files a layer reads change (a file placed in the cache,
    a picked file rewritten): their folders' or file's modification times."""
    picked = params.get("weights_file")
    paths = [Path(str(picked)).expanduser()] if picked else \
        cache_folders() if params.get("weights", "imagenet") == "imagenet" else []
    return [[str(p), _modified(p)] for p in paths] or None


def _modified(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def missing_message(application: str, known: WeightsFile) -> str:
    """Which file is missing and where it goes; its origin too when the message has room."""
    text = (f"{application}: expected its ImageNet weights file {known.name} in "
            f"{cache_folders()[0]}; it is not there. Place the file there, or choose a "
            "weights file (weights_file)")
    origin = f"; Keras downloads it from {known.url}"
    return text + origin if len(text + origin) <= MESSAGE_LIMIT else text


def load_weights(model: Any, path: Path, application: str) -> None:
    """Load ``path`` into ``model``; a file of another architecture gives one message."""
    try:
        model.load_weights(str(path))
    except Exception as exc:  # Keras refuses mismatched files with many exception types
        reason = " ".join(str(exc).split())[:KERAS_REASON] or type(exc).__name__
        raise PretrainedWeightsError(
            f"{application}: the weights file {path.name} does not fit this architecture "
            f"({reason}); expected weights saved from {application} with the same "
            "include_top and classes") from None


def make_application(keras: Any, application: str, kwargs: dict[str, Any],
                     input_shape: tuple[Any, ...] | None) -> Any:
    """keras.applications.<application> made with ``kwargs`` (the layer's parameters) on
    ``input_shape``, with the weights its parameters ask for."""
    path = weights_to_load(application, kwargs, input_shape)
    arguments = {k: v for k, v in kwargs.items() if k not in ("weights", "weights_file")}
    if input_shape is not None:
        arguments["input_shape"] = tuple(input_shape[1:])
    model = getattr(keras.applications, application)(weights=None, **arguments)
    if path is not None:
        load_weights(model, path, application)
    return model
