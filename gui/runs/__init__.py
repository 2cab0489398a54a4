"""Run history in the GUI: the runs panel, overlaid curves, activations and TensorBoard."""
