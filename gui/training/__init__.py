"""Training from the canvas: a background worker, the settings and data editors, live plots."""
