"""The dtype of an imported layer: what its saved config names, and what its class picks
itself (the rebuilt layer is made without a dtype, so only other choices are worth a warning)."""

from __future__ import annotations

import copy
from typing import Any


def own_dtype(class_name: str, config: dict[str, Any]) -> str | None:
    """The dtype a keras.layers class picks itself for this config (HashedCrossing and the
    lookups compute in int64): the rebuilt layer, made without a dtype, picks it again."""
    import keras  # lazy: only for a layer saved with another dtype than float32

    cls = getattr(keras.layers, class_name, None)
    if cls is None:
        return None
    try:
        layer = cls.from_config(copy.deepcopy({k: v for k, v in config.items() if k != "dtype"}))
    except Exception:  # a config Keras refuses here is reported where the layer is built
        return None
    return dtype_name(layer.dtype_policy.name)


def dtype_name(dtype: Any) -> str | None:
    if isinstance(dtype, dict):
        config = dtype.get("config", {})
        return str(config.get("name")) if isinstance(config, dict) else None
    return None if dtype is None else str(dtype)
