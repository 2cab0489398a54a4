"""Small facts about processes and values shared by several core modules."""

from __future__ import annotations

import json
import os
from typing import Any


def process_alive(pid: int, unknown: bool = True) -> bool:
    """Whether a process of this machine still runs (a recovery file or a trial may be its).

    Where there is no cheap check (not POSIX) the answer is ``unknown``: callers pick the
    safe side (a study waits for the trial; the app offers the recovery file anyway).
    """
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return unknown
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
