"""Models leaving LayerForge: SavedModel, TFLite and ONNX exports, each run back in its own
runtime and compared with Keras."""
