"""LayerForge: build Keras models visually."""

__version__ = "0.1.0"
