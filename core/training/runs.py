"""Run folders: every training run kept beside the project.

``<project stem>.runs/<timestamp>-<n>/`` holds ``settings.json`` (training
settings), ``project.json`` (the graph snapshot, a project file that opens as
is), ``status.json``, ``history.json`` + ``history.csv`` (per epoch, written as
epochs end), ``best.keras``, ``tensorboard/`` and ``activations/epoch_NNN.npz``.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..catalog.catalog import Catalog
from ..codegen.loader import build_and_compile
from ..document.document import Document
from ..document.records import to_records
from ..io.keras_import.files import import_file
from ..io.project import load
from ..io.weights import capture_weights
from ..schema.errors import LayerForgeError
from ..schema.settings import (
    TrainingSettings,
    checkpoint_file,
    settings_from_records,
    settings_to_records,
)

RUNS_SUFFIX = ".runs"
CHECKPOINT = checkpoint_file({})
WEIGHTS_CHECKPOINT = checkpoint_file({"save_weights_only": True})
TENSORBOARD = "tensorboard"
ACTIVATIONS = "activations"


class RunError(LayerForgeError):
    """A run folder that cannot be read."""


@dataclass
class RunInfo:
    path: Path
    status: str  # running, completed, stopped, failed
    message: str = ""
    traceback: str = ""
    started: str = ""
    finished: str = ""
    device: str = ""
    history: dict[str, list[float]] = field(default_factory=dict)
    settings: TrainingSettings = field(default_factory=TrainingSettings)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def epochs(self) -> int:
        return len(self.history.get("epoch", []))

    @property
    def checkpoint(self) -> Path | None:
        return checkpoint_in(self.path)


def checkpoint_in(run_dir: Path) -> Path | None:
    """The run's checkpoint: ``best.keras``, or ``best.weights.h5`` for weights only."""
    for name in (CHECKPOINT, WEIGHTS_CHECKPOINT):
        if (run_dir / name).exists():
            return run_dir / name
    return None


@dataclass
class RunResult:
    """How a run ended (``training.fit.train``'s result); defined here, without Keras, so
    that a parent process can read a training child's result."""

    status: str  # completed, stopped, failed
    run_dir: Path
    history: dict[str, list[float]] = field(default_factory=dict)
    message: str = ""
    traceback: str = ""
    device: str = ""
    warnings: list[str] = field(default_factory=list)
    unrecorded: str = ""  # why status.json could not be written, when it could not

    @property
    def status_file(self) -> Path | None:
        """status.json when it records how the run ended."""
        return None if self.unrecorded else self.run_dir / "status.json"

    @property
    def ok(self) -> bool:
        return self.status in ("completed", "stopped")

    @property
    def epochs(self) -> int:
        return len(self.history.get("epoch", []))

    @property
    def checkpoint(self) -> Path | None:
        return checkpoint_in(self.run_dir)


def runs_folder(project: str | os.PathLike[str]) -> Path:
    """``model.json`` -> ``model.runs`` beside it (a template name: in the current folder)."""
    path = Path(project)
    return path.with_name(path.stem + RUNS_SUFFIX)


def new_run_dir(folder: str | os.PathLike[str]) -> Path:
    """A fresh ``<timestamp>-<n>`` folder; ``n`` counts up so parallel runs never collide.
    Raises RunError naming the folder when it cannot be created."""
    base = Path(folder)
    try:
        return _fresh_run_dir(base)
    except OSError as exc:
        raise RunError(f"expected a writable folder for the runs; cannot create a run folder "
                       f"in {base} ({exc.strerror or exc})") from None


def _fresh_run_dir(base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = 1
    while True:
        candidate = base / f"{stamp}-{n}"
        try:
            candidate.mkdir()
        except FileExistsError:
            n += 1
            continue
        return candidate


# ------------------------------------------------------------------ writing
def start_run(run_dir: Path, doc: Document, settings: TrainingSettings) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_json(run_dir / "settings.json", settings_to_records(settings))
    _write_json(run_dir / "project.json", to_records(doc))
    write_status(run_dir, {"status": "running", "started": _now()})


def write_status(run_dir: Path, fields: dict[str, Any]) -> None:
    path = run_dir / "status.json"
    current = _read_json(path) if path.exists() else {}
    _write_json(path, {**current, **fields})


def finish_run(run_dir: Path, status: str, message: str = "", traceback: str = "",
               **extra: Any) -> None:
    write_status(run_dir, {"status": status, "message": message, "traceback": traceback,
                           "finished": _now(), **extra})


def record_finish(run_dir: Path, status: str, message: str = "", traceback: str = "",
                  **extra: Any) -> str:
    """``finish_run`` that never raises: "" once status.json says how the run ended, else
    why it could not be written. A folder whose entries cannot be replaced (made read-only
    mid-run) still gets an existing status.json rewritten in place."""
    fields = {"status": status, "message": message, "traceback": traceback,
              "finished": _now(), **extra}
    path = run_dir / "status.json"
    try:
        write_status(run_dir, fields)
        return ""
    except (OSError, RunError) as exc:
        problem = f"{path} could not be written ({_reason(exc)})"
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
        with open(path, "r+", encoding="utf-8") as handle:  # in place: no new directory entry
            handle.write(json.dumps({**current, **fields}, indent=1, default=_jsonable) + "\n")
            handle.truncate()
        return ""
    except (OSError, ValueError):
        return problem


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def write_history(run_dir: Path, history: dict[str, list[float]]) -> None:
    _write_json(run_dir / "history.json", history)
    keys = list(history)
    rows = zip(*(history[k] for k in keys), strict=True)
    tmp = run_dir / "history.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(keys)
        writer.writerows(rows)
    os.replace(tmp, run_dir / "history.csv")


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_jsonable) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


# ------------------------------------------------------------------ reading
def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: expected a JSON file written by a LayerForge run; "
                       f"cannot read it ({exc})") from None


def load_run(path: str | os.PathLike[str]) -> RunInfo:
    run_dir = Path(path)
    if not (run_dir / "status.json").exists():
        raise RunError(f"expected a run folder (with status.json); received {run_dir}")
    status = _read_json(run_dir / "status.json")
    history = _read_json(run_dir / "history.json") if (run_dir / "history.json").exists() \
        else {}
    settings_path = run_dir / "settings.json"
    settings = settings_from_records(_read_json(settings_path), str(settings_path)) \
        if settings_path.exists() else TrainingSettings()
    return RunInfo(run_dir, status.get("status", "unknown"), status.get("message", ""),
                   status.get("traceback", ""), status.get("started", ""),
                   status.get("finished", ""), status.get("device", ""), history, settings)


def list_runs(folder: str | os.PathLike[str]) -> list[RunInfo]:
    """The runs in a ``.runs`` folder, oldest first; unreadable folders are skipped."""
    base = Path(folder)
    if not base.is_dir():
        return []
    runs = []
    for run_dir in sorted(base.iterdir(), key=_run_order):
        if (run_dir / "status.json").exists():
            try:
                runs.append(load_run(run_dir))
            except LayerForgeError:
                continue
    return runs


def _run_order(path: Path) -> tuple[str, int]:
    stamp, _, n = path.name.rpartition("-")
    return (stamp, int(n)) if n.isdigit() else (path.name, 0)


def load_run_model(path: str | os.PathLike[str]) -> Any:
    """The run's best checkpoint as a compiled ``keras.Model`` (a weights-only checkpoint is
    loaded into the model its snapshot builds)."""
    checkpoint = checkpoint_in(Path(path))
    if checkpoint is None:
        raise RunError(f"expected a checkpoint {Path(path) / CHECKPOINT}; the run saved none "
                       "(it failed or stopped before any weights were kept)")
    if checkpoint.name == WEIGHTS_CHECKPOINT:
        return _snapshot_model(checkpoint)
    import keras  # lazy: Keras takes seconds to import

    return keras.models.load_model(checkpoint)


def _snapshot_model(weights: Path) -> Any:
    """The run's snapshot built and compiled, with the weights-only checkpoint loaded."""
    model = build_and_compile(load(weights.parent / "project.json"))
    model.load_weights(weights)
    return model


def best_model_document(run: RunInfo, catalog: Catalog) -> tuple[Document, list[str]]:
    """The run's best checkpoint as a document with its weights, and the import's warnings.

    The run's snapshot is the graph that produced the checkpoint, so it is preferred: it
    keeps losses, compile and training settings, positions and output names, which a
    ``.keras`` file does not carry. Without a snapshot that matches the checkpoint's
    weights, the checkpoint goes through the importer.
    """
    checkpoint = run.checkpoint
    if checkpoint is None:
        raise RunError(f"expected a checkpoint {run.path / CHECKPOINT}; run {run.name} saved "
                       f"none (its status: {run.status})")
    snapshot = run.path / "project.json"
    if checkpoint.name == WEIGHTS_CHECKPOINT:
        doc = load(snapshot, catalog)
        doc.weights = capture_weights(_snapshot_model(checkpoint), doc)
        return doc, []
    if snapshot.exists():
        import keras  # lazy: Keras takes seconds to import

        doc = load(snapshot, catalog)
        model = keras.saving.load_model(checkpoint, compile=False)
        doc.weights = capture_weights(model, doc)
        if sum(a.size for arrays in doc.weights.values() for a in arrays) == \
                model.count_params():
            return doc, []
    result = import_file(checkpoint, keep_weights=True, catalog=catalog)
    return result.doc, [str(w) for w in result.warnings]


def load_activations(path: str | os.PathLike[str], epoch: int) -> dict[str, Any]:
    """Layer name -> activations of the logged sample after ``epoch`` (1-based)."""
    import numpy as np

    file = Path(path) / ACTIVATIONS / f"epoch_{epoch:03d}.npz"
    if not file.exists():
        raise RunError(f"expected activations {file}; the run logged none for epoch {epoch}")
    with np.load(file) as archive:
        return {key: archive[key] for key in archive.files}
