"""Keras loads in the background without stalling the window: the cyclic collector is
paused while TensorFlow imports and what the import made is frozen afterwards (each
collection during the import walked the whole heap with the GIL held: 170-200 ms stalls,
bench/bench_gui.py)."""

from __future__ import annotations

import gc
from typing import Any


def test_after_loading_the_collector_runs_and_the_import_is_frozen(keras_loaded: Any) -> None:
    assert keras_loaded["keras"]
    assert gc.isenabled(), "the collector must run again once Keras is loaded"
    assert gc.get_freeze_count() > 100_000, "the imported modules should never be walked again"

