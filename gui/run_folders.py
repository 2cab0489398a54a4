"""Where the window keeps training runs and studies: beside a saved project, else in the
app's data folder (a project never saved has no folder of its own)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from layerforge.core.training.runs import runs_folder


def unsaved_runs_folder(title: str) -> Path:
    """Where runs of a project never saved are kept: the app's data folder."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    base = os.environ.get("LAYERFORGE_UNSAVED_RUNS_DIR") or base or str(Path.home())
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", title).strip("-") or "untitled"
    return Path(base) / "unsaved-runs" / f"{stem}.runs"


def runs_folder_for(project_path: Path | None, title: str) -> Path:
    """Runs sit beside a saved project (``model.runs``), else in the app's data folder."""
    if project_path is not None:
        return runs_folder(project_path)
    return unsaved_runs_folder(title)
