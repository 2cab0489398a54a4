"""The window fixtures (``isolated``, ``keras_loaded``, ``window``) for every GUI test,
the journeys under ``tests/gui/journeys`` included."""

from window_support import isolated, keras_loaded, window  # noqa: F401
