"""Writing a file all at once: a temp file beside it, flushed to disk, renamed over it.

A crash at any moment leaves the old file or the new one, never a part of either. What a crash
can leave behind is the temp file, ``.<name>.<random>.tmp``; the next save of a project
sweeps those (``weights_file.sweep``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_SUFFIX = ".tmp"


def write_atomically(target: Path, content: bytes | Callable[[BinaryIO], object],
                     mode: int) -> None:
    """Replace ``target`` with ``content`` (bytes, or a function writing to a binary handle).

    The file gets ``mode`` (not mkstemp's 0600); the folder is synced after the rename so a
    file written next (the project after its weights) cannot reach the disk before it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            if isinstance(content, bytes):
                handle.write(content)
            else:
                content(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def mode_for(target: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual umask-based mode."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # some file systems cannot open folders; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
