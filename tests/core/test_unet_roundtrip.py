"""A U-Net in the style of keras.io's image segmentation example (Conv2DTranspose up the
decoder, skip connections concatenated from the encoder) round-trips through
``layerforge import`` -> ``export --format py`` -> ``build_model()``: same parameters, same
config per layer, identical outputs with copied weights."""

from __future__ import annotations

from pathlib import Path

import pytest
from roundtrip_support import assert_cli_round_trip

keras = pytest.importorskip("keras")
layers = keras.layers


def small_unet(size: int = 32, classes: int = 3) -> keras.Model:
    inputs = keras.Input(shape=(size, size, 3), name="image")
    x = inputs
    skips = []
    for filters in (8, 16):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.BatchNormalization()(x)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    for filters, skip in zip((16, 8), reversed(skips), strict=True):
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same")(x)
        x = layers.Concatenate()([x, skip])
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    outputs = layers.Conv2D(classes, 1, activation="softmax", name="mask")(x)
    return keras.Model(inputs, outputs, name="unet")


def test_a_unet_with_transposed_convolutions_and_skips_round_trips(tmp_path: Path) -> None:
    model = small_unet()
    assert_cli_round_trip(model, tmp_path)
    assert any(isinstance(layer, layers.Conv2DTranspose) for layer in model.layers)
    assert sum(isinstance(layer, layers.Concatenate) for layer in model.layers) == 2
