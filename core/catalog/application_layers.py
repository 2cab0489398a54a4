"""The layers keras.applications defines for its own models, written with Keras' public API.

ConvNeXt (``LayerScale``, ``StochasticDepth``) and InceptionResNetV2 (``CustomScaleLayer``)
build their models from classes that keras.layers does not offer. These classes have the
same names, constructor arguments, ``get_config`` and weights as Keras' own, so a saved
model opens, exports and gives the same outputs. The catalog lists them (they are
LayerForge's own code, trusted like the templates), and an exported module that uses one
carries its class definition (each class below is copied verbatim into it: keep them
self-contained, using ``keras`` only).
"""

import keras


class LayerScale(keras.layers.Layer):
    """Multiplies its input by a learned per-channel scale (ConvNeXt's layer scale)."""

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values = init_values
        self.projection_dim = projection_dim

    def build(self, _):
        self.gamma = self.add_weight(
            shape=(self.projection_dim,),
            initializer=keras.initializers.Constant(self.init_values),
            trainable=True,
        )

    def call(self, x):
        return x * self.gamma

    def get_config(self):
        config = super().get_config()
        config.update({"init_values": self.init_values, "projection_dim": self.projection_dim})
        return config


class StochasticDepth(keras.layers.Layer):
    """Drops the residual branch of a sample at random while training (ConvNeXt)."""

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rate = drop_path_rate

    def call(self, x, training=None):
        if training:
            keep_prob = 1 - self.drop_path_rate
            shape = (keras.ops.shape(x)[0],) + (1,) * (len(keras.ops.shape(x)) - 1)
            random_tensor = keep_prob + keras.random.uniform(shape, 0, 1)
            random_tensor = keras.ops.floor(random_tensor)
            return (x / keep_prob) * random_tensor
        return x

    def get_config(self):
        config = super().get_config()
        config.update({"drop_path_rate": self.drop_path_rate})
        return config


class CustomScaleLayer(keras.layers.Layer):
    """Adds a scaled residual to its first input: ``inputs[0] + inputs[1] * scale``
    (InceptionResNetV2)."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale})
        return config

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale


# The classes the catalog offers, by name.
CLASSES = {cls.__name__: cls for cls in (LayerScale, StochasticDepth, CustomScaleLayer)}
