"""Run folders: names beside the project, listing, reading back, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from layerforge.core.catalog.catalog import Catalog
from layerforge.core.codegen.loader import build_model
from layerforge.core.document.document import Document
from layerforge.core.document.records import to_records
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import TrainingSettings, settings_to_records
from layerforge.core.training.runs import (
    CHECKPOINT,
    RunError,
    best_model_document,
    finish_run,
    list_runs,
    load_run,
    load_run_model,
    new_run_dir,
    runs_folder,
    start_run,
    write_history,
    write_status,
)


def test_runs_live_beside_the_project():
    assert runs_folder("/p/models/mnist.json") == Path("/p/models/mnist.runs")
    assert runs_folder("imdb-conv1d") == Path("imdb-conv1d.runs")


def test_new_run_folders_never_collide(tmp_path):
    made = [new_run_dir(tmp_path / "m.runs") for _ in range(3)]
    assert len(set(made)) == 3 and all(p.is_dir() for p in made)
    stamps = {p.name.rsplit("-", 1)[0] for p in made}
    assert len(stamps) <= 2  # same second: only the counter differs


def fake_run(folder: Path, name: str, status: str, losses: list[float]) -> Path:
    run = folder / name
    run.mkdir(parents=True)
    write_status(run, {"status": "running", "started": "2026-01-01T00:00:00"})
    write_history(run, {"epoch": list(range(1, len(losses) + 1)), "loss": losses})
    (run / "settings.json").write_text(
        json.dumps(settings_to_records(TrainingSettings(epochs=len(losses)))))
    finish_run(run, status, message="boom" if status == "failed" else "", device="CPU")
    return run


def test_list_and_load_runs(tmp_path):
    fake_run(tmp_path, "20260101-000000-10", "completed", [0.5, 0.25])
    fake_run(tmp_path, "20260101-000000-2", "failed", [0.9])
    (tmp_path / "not-a-run").mkdir()
    runs = list_runs(tmp_path)
    assert [r.name for r in runs] == ["20260101-000000-2", "20260101-000000-10"]
    failed, done = runs
    assert failed.status == "failed" and failed.message == "boom" and failed.epochs == 1
    assert done.history == {"epoch": [1, 2], "loss": [0.5, 0.25]}
    assert done.settings.epochs == 2 and done.device == "CPU" and done.started
    csv = (tmp_path / "20260101-000000-10" / "history.csv").read_text().splitlines()
    assert csv == ["epoch,loss", "1,0.5", "2,0.25"]
    assert list_runs(tmp_path / "missing") == []


def test_reading_errors_name_the_folder(tmp_path):
    with pytest.raises(RunError, match="expected a run folder"):
        load_run(tmp_path)
    run = fake_run(tmp_path, "r-1", "failed", [1.0])
    with pytest.raises(RunError, match=r"expected a checkpoint .*best\.keras"):
        load_run_model(run)
    (run / "history.json").write_text("{cut")
    with pytest.raises(RunError, match=r"history\.json: expected a JSON file"):
        load_run(run)


# ------------------------------------------------------------------ the best model
def checkpointed_run(folder: Path, doc: Document) -> tuple[Path, list[np.ndarray]]:
    """A finished run of ``doc`` whose best.keras holds weights other than a fresh model's."""
    model = build_model(doc)
    model.set_weights([np.full(w.shape, 0.5, w.dtype) for w in model.get_weights()])
    run = folder / "20260101-000000-1"
    start_run(run, doc, doc.training)
    model.save(run / CHECKPOINT)
    finish_run(run, "completed")
    return run, model.get_weights()


def weights_in_order(doc: Document) -> list[np.ndarray]:
    return [w for layer in doc.graph.layers for w in doc.weights.get(layer, [])]


def test_the_best_model_is_the_snapshot_with_the_checkpoint_weights(tmp_path, catalog: Catalog):
    doc = load_template("sequential-mlp", catalog)
    doc.graph.outputs()[0].loss = "mae"  # kept by the snapshot, not by a .keras file
    run, trained = checkpointed_run(tmp_path, doc)
    best, warnings = best_model_document(load_run(run), catalog)
    assert warnings == [] and to_records(best) == to_records(doc)
    assert all(np.array_equal(a, b) for a, b in zip(weights_in_order(best), trained, strict=True))
    assert len(weights_in_order(best)) == len(trained) > 0

    (run / "project.json").unlink()  # without its snapshot the checkpoint is imported
    imported, _ = best_model_document(load_run(run), catalog)
    names = {la.name for la in imported.graph.layers.values()}
    assert {la.name for la in doc.graph.layers.values()} <= names
    assert sum(a.size for a in weights_in_order(imported)) == sum(a.size for a in trained)

    (run / CHECKPOINT).unlink()
    with pytest.raises(RunError, match=r"expected a checkpoint .*best\.keras.*completed"):
        best_model_document(load_run(run), catalog)
