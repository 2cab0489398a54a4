"""Settings every test shares: headless Qt, quiet TensorFlow, a project-local catalog cache."""

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Windows in tests run without their own Keras check process (a TensorFlow import each);
# tests/gui/test_keras_check.py shares one worker between the windows that need it.
os.environ.setdefault("LAYERFORGE_KERAS_CHECK", "0")
os.environ.setdefault("LAYERFORGE_CACHE_DIR",
                      str(Path(__file__).resolve().parent.parent / ".cache" / "layerforge"))
