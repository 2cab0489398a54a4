"""Import Keras/TensorFlow in a background thread, so the window never waits for them.

Importing TensorFlow takes seconds and holds the GIL in long stretches; the longest
is loading its shared libraries. The loader loads those first with the GIL released
(:func:`preload_tensorflow_binaries`) and shortens the interpreter's switch interval
while it imports, so the UI thread gets the GIL back more often (bench/bench_gui.py
measures the stalls with and without). It also
builds the layer catalog when its cache is missing, and warms Keras' shape
inference so the first live shapes on the UI thread are fast.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from typing import Any

from PySide6.QtCore import QObject, Signal

# Short enough that a waiting UI thread gets the GIL within about a millisecond
# (bench/bench_gui.py compares it with Python's default 5 ms through this variable).
IMPORT_SWITCH_INTERVAL_S = float(os.environ.get("LAYERFORGE_IMPORT_SWITCH_INTERVAL", "0.0005"))


def describe_device(tf: Any) -> str:
    """'GPU: <name>' for the first visible GPU, else 'CPU'."""
    try:
        gpus = tf.config.list_physical_devices("GPU")
    except Exception:  # a broken CUDA set-up must not stop the app: it runs on the CPU
        return "CPU"
    if not gpus:
        return "CPU"
    try:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name")
    except Exception:
        name = None
    return f"GPU: {name or gpus[0].name}"


def preload_tensorflow_binaries() -> bool:
    """dlopen TensorFlow's first extension (and its 1 GB of shared libraries) with the GIL
    released, so the import that follows finds them loaded instead of holding the GIL for
    the ~0.3-1 s the loading takes. ctypes releases the GIL around foreign calls, but not
    in its own ``CDLL`` loader, hence libc's ``dlopen`` called as a function. Best effort:
    anything unusual (another OS, another TensorFlow layout) skips it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        import importlib.util
        from pathlib import Path

        spec = importlib.util.find_spec("tensorflow")  # locates, does not import
        if spec is None or spec.origin is None:
            return False
        platform_dir = Path(spec.origin).parent / "python" / "platform"
        found = sorted(platform_dir.glob("_pywrap_cpu_feature_guard*.so"))
        if not found:
            return False
        libc = ctypes.CDLL(None)
        libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
        libc.dlopen.restype = ctypes.c_void_p
        # The same flags the import system uses, so the import reuses this handle.
        return bool(libc.dlopen(str(found[0]).encode(), sys.getdlopenflags()))
    except (OSError, AttributeError, ImportError, ValueError):
        return False


def load_keras() -> dict[str, Any]:
    """Import Keras and TensorFlow, build the catalog if needed; returns what the status shows."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    previous = sys.getswitchinterval()
    sys.setswitchinterval(IMPORT_SWITCH_INTERVAL_S)
    # The import makes millions of objects: the cyclic collector would walk all of them
    # several times on the way, holding the GIL for 100-300 ms each time (a UI stall).
    collecting = gc.isenabled()
    if os.environ.get("LAYERFORGE_IMPORT_GC", "0") != "1":  # bench_gui.py compares both
        gc.disable()
    try:
        if os.environ.get("LAYERFORGE_PRELOAD_TF", "1") != "0":
            preload_tensorflow_binaries()
        import keras
        import tensorflow as tf

        from layerforge.core.catalog.catalog import get_catalog

        catalog = get_catalog()
        keras.layers.Dense(1).compute_output_shape((None, 2))  # first-use initialisation
        return {"keras": keras.__version__, "tensorflow": tf.__version__,
                "device": describe_device(tf), "layers": len(catalog)}
    finally:
        # What the import made lives as long as the app: never walk it again, so later
        # collections only look at what the editing makes (a few ms instead of 300).
        gc.freeze()
        if collecting and not gc.isenabled():
            gc.enable()
        sys.setswitchinterval(previous)


class KerasLoader(QObject):
    """Runs :func:`load_keras` once in a daemon thread; ``loaded(info)`` or ``failed(message)``.

    A daemon Python thread rather than a QThread: a QThread still importing TensorFlow
    when the user quits would abort the process ("destroyed while thread is still
    running"), and an import cannot be interrupted. Signals reach the UI thread queued.
    """

    loaded = Signal(dict)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = threading.Thread(target=self._run, name="keras-loader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout_s: float | None = None) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            info = load_keras()
        except Exception as exc:  # shown in the status bar; the editor still works without shapes
            self.failed.emit(f"{type(exc).__name__}: {exc}")
            return
        self.loaded.emit(info)
