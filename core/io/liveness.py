"""Whether the process that wrote something still runs: a recovery file is named after the
pid of its window's process, and a study trial records the pid of the process training it."""

from __future__ import annotations

import os


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
