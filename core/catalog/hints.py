"""The hints about layers that introspecting Keras cannot give: the file to open to add a
layer option.

Starting values for required arguments, the choices a string argument offers in the
inspector (padding modes, interpolations...), the layers left out and why, which
layers take several tensors, and the symbolic inputs a layer is probed with. After an
edit here, delete the catalog cache (``catalog.cache_path()``) or bump ``CATALOG_SCHEMA``.
The names of activations, initializers, regularizers and constraints are not listed here:
the catalog reads them from the installed Keras (``params.registry_choices``).
"""

from __future__ import annotations

from typing import Any

from ..schema.records import PortSpec

# Public keras.layers classes left out of the catalog: they run on another backend than
# this app's TensorFlow (tests/core/test_catalog.py names them).
EXCLUDED = {
    "JaxLayer": "wraps a JAX function: another backend than this app's TensorFlow",
    "FlaxLayer": "wraps a Flax module: another backend than this app's TensorFlow",
    "TorchModuleWrapper": "wraps a PyTorch module: another backend than this app's TensorFlow",
}

# Public keras.layers classes that are no layer of their own to place: the input node makes
# the InputLayer; the base classes have no call of their own (a custom module's layers
# subclass Layer; Bidirectional, TimeDistributed and SpectralNormalization subclass Wrapper).
COVERED = {
    "Layer": "the base class of layers, with no call of its own: add your layer classes "
             "from a custom module",
    "InputLayer": "made by an input node (keras.Input)",
    "Wrapper": "the base class of wrappers, with no call of its own: use Bidirectional, "
               "TimeDistributed or SpectralNormalization",
}

# keras.layers classes whose entry the catalog makes itself rather than by probing: a Lambda
# keeps the user's expression text (``catalog._lambda_entry``); a TFSMLayer needs a
# SavedModel to build (``saved_models.saved_model_entry``).
OWN_ENTRIES = frozenset({"Lambda", "TFSMLayer"})

# Starting values for constructor arguments that have no default in Keras.
SUGGESTED = {
    "units": 32, "filters": 32, "kernel_size": 3, "rate": 0.5, "stddev": 0.1,
    "input_dim": 1000, "output_dim": 64, "num_heads": 2, "key_dim": 16,
    "output_size": 4, "pool_size": 2, "axes": -1, "equation": "ab,bc->ac",
    "output_shape": 16, "dims": [2, 1], "n": 3, "scale": 1.0 / 255,
    "target_shape": [-1, 1], "height": 8, "width": 8, "factor": 0.2,
    "height_factor": 0.2, "width_factor": 0.2, "num_bins": 16, "head_dim": 8,
    "num_query_heads": 4, "num_key_value_heads": 2, "max_number": 10,
}

STRING_CHOICES = {
    "padding": ["valid", "same"],
    "data_format": ["channels_last", "channels_first"],
    "interpolation": ["nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area"],
    "fill_mode": ["reflect", "wrap", "constant", "nearest"],
    "output_mode": ["int", "one_hot", "multi_hot", "count", "tf_idf"],
    "merge_mode": ["concat", "sum", "mul", "ave"],
    "score_mode": ["dot", "concat"],
}

# The choices of a string argument of one class, where they differ from ``STRING_CHOICES``.
CLASS_CHOICES: dict[tuple[str, str], list[str | None]] = {
    ("HashedCrossing", "output_mode"): ["int", "one_hot"],
    ("STFTSpectrogram", "mode"): ["log", "magnitude", "psd", "real", "imag", "angle", "stft"],
    ("STFTSpectrogram", "scaling"): ["density", "spectrum", None],
}

# Shape-like arguments that take an int or a tuple with one entry per spatial axis.
SPATIAL_TUPLES = {"kernel_size", "strides", "pool_size", "dilation_rate", "size", "output_size"}

# Starting values for particular classes whose generic starting values do not build.
CLASS_INITIAL = {
    "RandomPosterization": {"factor": 4},
    "CategoryEncoding": {"num_tokens": 16},
    "Discretization": {"num_bins": 4},
    "GroupNormalization": {"groups": 4},
    # A bounded vocabulary keeps the saved project readable (see training/adapt.py), and its
    # ids (padding and OOV included) stay below the suggested Embedding input_dim.
    "TextVectorization": {"max_tokens": 1000},
}

PORT_HINTS = {
    "MultiHeadAttention": PortSpec("named", 2, 3, ("query", "value", "key"), ("query", "value")),
    "GroupedQueryAttention": PortSpec("named", 2, 3, ("query", "value", "key"), ("query", "value")),
    "Attention": PortSpec("list", 2, 3),
    "AdditiveAttention": PortSpec("list", 2, 3),
    "Subtract": PortSpec("list", 2, 2),
    "Dot": PortSpec("list", 2, 2),
    # Keras computes its output shape for exactly two features (its call takes more, but
    # a symbolic call of three is refused).
    "HashedCrossing": PortSpec("list", 2, 2),
}

# Call arguments that take a list of tensors whose length Keras' signature cannot tell
# (a recurrent layer's initial_state is asked of the layer): one port per tensor.
ARGUMENT_TENSORS: dict[tuple[str, str], int] = {
    ("Attention", "mask"): 2,  # [query_mask, value_mask]
    ("AdditiveAttention", "mask"): 2,
}

CATEGORIES = {
    "core": "Core", "convolutional": "Convolution", "pooling": "Pooling", "rnn": "Recurrent",
    "normalization": "Normalization", "regularization": "Regularization",
    "attention": "Attention", "reshaping": "Reshaping", "merging": "Merging",
    "activations": "Activation", "preprocessing": "Preprocessing",
}

APPLICATIONS = ["Xception", "VGG16", "ResNet50", "InceptionV3", "MobileNetV2", "DenseNet121",
                "EfficientNetB0", "NASNetMobile"]

# Layers with a vocabulary (adapted on the data bound to their input, saved as their
# ``vocabulary`` parameter), and the one symbolic input each is probed with: they take
# strings (or integer ids) one sample a row, as a text folder gives them.
VOCABULARY_LAYERS: dict[str, dict[str, Any]] = {
    "TextVectorization": {"inputs": [[None]], "dtype": "string"},
    "StringLookup": {"inputs": [[None]], "dtype": "string"},
    "IntegerLookup": {"inputs": [[None]], "dtype": "int64"},
}

# Symbolic inputs tried, in order, when probing a layer; the first that builds is its example.
PROBE_INPUTS: list[Any] = [
    [[None, 8]], [[None, 10, 8]], [[None, 16, 16, 3]], [[None, 8, 8, 8, 2]],
    [[None, 4, 16, 16, 3]], [[None, 4, 16, 3]], [[None, 4, 8, 8, 8, 2]], [[None, 64]],
]

# The one symbolic input a particular class is probed with, when the generic ones cannot fit.
CLASS_PROBE_INPUTS: dict[str, dict[str, Any]] = {
    # Two scalar features a row (integer ids here; strings work too).
    "HashedCrossing": {"inputs": [[None, 1], [None, 1]], "dtype": "int32"},
    # Audio: (batch, time, 1 channel).
    "STFTSpectrogram": {"inputs": [[None, 1024, 1]], "dtype": "float32"},
}
