"""Facts about plain values shared by several core modules."""

from __future__ import annotations

import json
from typing import Any


def is_jsonable(value: Any) -> bool:
    """Whether ``value`` can be written to a project file as it is (JSON)."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
