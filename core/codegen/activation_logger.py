"""The activation logger callback: every layer call's activations for one sample, per epoch.

Training imports it; the code writer copies its source into exported modules by
reading this file (:func:`~.helper_source.helper_source`), never importing it, so
exporting code does not load Keras.
"""

from __future__ import annotations

import os

import keras
import numpy as np


class ActivationLogger(keras.callbacks.Callback):
    """Every layer call's activations for one sample, saved per epoch as .npz (book 7.2).

    Keys are layer names; a shared layer's later calls add ``@2``, ``@3`` (a shared LSTM
    of a siamese model records both branches), several outputs add ``:0``, ``:1``.
    """

    def __init__(self, x, folder, every=1, sample_index=0):  # type: ignore[no-untyped-def]
        super().__init__()
        self.x, self.folder, self.every, self.index = x, folder, every, sample_index
        self.probe = None
        self.names = []

    def sample(self):  # type: ignore[no-untyped-def]
        i = self.index
        if isinstance(self.x, dict):
            return {k: v[i:i + 1] for k, v in self.x.items()}
        if isinstance(self.x, list | tuple):
            return [v[i:i + 1] for v in self.x]
        return self.x[i:i + 1]

    def record(self, outputs, name, out):  # type: ignore[no-untyped-def]
        tensors = out if isinstance(out, list | tuple) else [out]
        for i, tensor in enumerate(tensors):
            self.names.append(name if len(tensors) == 1 else f"{name}:{i}")
            outputs.append(tensor)

    def on_train_begin(self, logs=None):  # type: ignore[no-untyped-def]
        outputs, calls = [], {}
        inputs = self.model.inputs
        if isinstance(self.model, keras.Sequential):  # one call per layer
            for layer in self.model.layers:
                self.record(outputs, layer.name, layer.output)
        else:
            def call(layer, *args, **kwargs):  # type: ignore[no-untyped-def]
                out = layer(*args, **kwargs)
                calls[layer.name] = calls.get(layer.name, 0) + 1
                count = calls[layer.name]
                self.record(outputs, layer.name if count == 1 else f"{layer.name}@{count}", out)
                return out

            # the same layers (same weights) called again, every call's output kept
            traced = keras.models.clone_model(self.model, clone_function=lambda layer: layer,
                                              call_function=call)
            inputs = traced.inputs
        self.probe = keras.Model(inputs[0] if len(inputs) == 1 else inputs, outputs)

    def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
        if (epoch + 1) % self.every:
            return
        values = self.probe(self.sample(), training=False)
        values = values if isinstance(values, list | tuple) else [values]
        os.makedirs(self.folder, exist_ok=True)
        arrays = {n: keras.ops.convert_to_numpy(v)
                  for n, v in zip(self.names, values, strict=True)}
        np.savez(os.path.join(self.folder, f"epoch_{epoch + 1:03d}.npz"), **arrays)
