"""Every keras.applications constructor of the installed Keras round-trips.

Built with ``weights=None`` (a small input where the architecture allows, to keep it fast),
saved as ``.keras``, opened with ``layerforge import``, exported with ``layerforge export
--format py``, and the exported ``build_model()`` must give the same parameter count, the same
``get_config()`` layer by layer and the same outputs once the weights are copied (see
``tests/roundtrip_support.py`` for what may differ and why). The list below is the test's own:
a constructor that a new Keras adds fails ``test_every_constructor_is_listed`` until it is
listed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from roundtrip_support import assert_cli_round_trip, assert_round_trip

from layerforge.core.io import project

keras = pytest.importorskip("keras")

SMALL = (32, 32, 3)
# The smallest input each constructor takes (Keras refuses less for these three).
INPUT_SHAPES: dict[str, tuple[int, int, int]] = {
    "InceptionV3": (75, 75, 3), "InceptionResNetV2": (75, 75, 3), "Xception": (71, 71, 3),
}
CONSTRUCTORS = [
    "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201",
    "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
    "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
    "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
    "EfficientNetV2L", "EfficientNetV2M", "EfficientNetV2S",
    "InceptionResNetV2", "InceptionV3",
    "MobileNet", "MobileNetV2", "MobileNetV3Large", "MobileNetV3Small",
    "NASNetLarge", "NASNetMobile",
    "ResNet101", "ResNet101V2", "ResNet152", "ResNet152V2", "ResNet50", "ResNet50V2",
    "VGG16", "VGG19", "Xception",
]
# Run by default: raw ops and hard_silu (MobileNetV3), a Constant initializer
# (EfficientNetV2: it crashed the importer), residual blocks (ResNet50), nested Sequential
# models (ConvNeXt's stem and downsampling blocks) and keras.applications' own LayerScale
# (ConvNeXtTiny).
FAST = {"MobileNetV3Small", "EfficientNetV2B0", "ResNet50", "ConvNeXtTiny"}


def cases() -> list[Any]:
    return [pytest.param(name, marks=[] if name in FAST else [pytest.mark.slow], id=name)
            for name in CONSTRUCTORS]


def application(name: str) -> Any:
    shape = INPUT_SHAPES.get(name, SMALL)
    return getattr(keras.applications, name)(weights=None, input_shape=shape)


def test_every_constructor_is_listed() -> None:
    installed = sorted(n for n in dir(keras.applications)
                       if n[:1].isupper() and callable(getattr(keras.applications, n)))
    assert installed == sorted(CONSTRUCTORS)


@pytest.mark.parametrize("name", cases())
def test_application_round_trips_through_the_cli(name: str, tmp_path: Path) -> None:
    """`layerforge import` -> `layerforge export --format py` -> build_model(): the same."""
    assert_cli_round_trip(application(name), tmp_path)


def test_imported_application_project_reads_back(tmp_path: Path) -> None:
    """The project an import writes opens again to the same document."""
    doc = assert_round_trip(application("MobileNetV3Small"), tmp_path)
    project.save(doc, tmp_path / "imported.json")
    assert project.dumps(project.load(tmp_path / "imported.json")) == project.dumps(doc)


def test_constant_initializer_imports(tmp_path: Path) -> None:
    """A Constant initializer (needs its value; EfficientNetV2's stem) is kept, not a crash."""
    inputs = keras.Input((4,), name="x")
    outputs = keras.layers.Dense(3, bias_initializer=keras.initializers.Constant(0.25),
                                 name="dense")(inputs)
    assert_round_trip(keras.Model(inputs, outputs), tmp_path)
