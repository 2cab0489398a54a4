"""A project and its weights are saved as one unit: killed saves, a pair that does not match,
the older sidecar, file modes and what the next save sweeps."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from layerforge.core.catalog.catalog import Catalog
from layerforge.core.document.document import Document
from layerforge.core.io import atomic
from layerforge.core.io.project import dumps, load, loads, save
from layerforge.core.io.templates import load_template
from layerforge.core.io.weights_file import remove_project
from layerforge.core.schema.errors import ProjectFileError

MEGABYTE_FLOATS = 256 * 1024


def weighted(catalog: Catalog, megabytes: int = 4) -> Document:
    """A template whose first layers hold ``megabytes`` of float32 weights in all."""
    doc = load_template("batchnorm-convnet", catalog)
    rng = np.random.default_rng(0)
    ids = list(doc.graph.layers)[:megabytes]
    doc.weights = {layer_id: [rng.standard_normal(MEGABYTE_FLOATS, dtype=np.float32),
                              np.zeros(3, np.float32)] for layer_id in ids}
    return doc


def mark(doc: Document, marker: int) -> None:
    """One value per save, in the project (meta) and in the weights (the first array)."""
    doc.meta.extra["marker"] = marker
    first = next(iter(doc.weights.values()))
    first[0] = first[0].copy()
    first[0][0] = marker


def markers(doc: Document) -> tuple[int, int]:
    return doc.meta.extra["marker"], int(next(iter(doc.weights.values()))[0][0])


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def weights_name(path: Path) -> str:
    return json.loads(path.read_text(encoding="utf-8"))["weights"]["file"]


# ------------------------------------------------------------------ crash test
def save_forever(doc: Document, path: Path, first: int) -> None:
    """The child: save with a new marker, again and again, until it is killed."""
    marker = first
    while True:
        marker += 1
        mark(doc, marker)
        save(doc, path)


@pytest.mark.parametrize("kills", [20, pytest.param(200, marks=pytest.mark.slow)])
def test_a_save_killed_at_any_moment_leaves_one_whole_pair(
        catalog: Catalog, tmp_path: Path, kills: int) -> None:
    path = tmp_path / "P.json"
    doc = weighted(catalog)
    mark(doc, 0)
    started = time.perf_counter()
    save(doc, path)
    one_save = time.perf_counter() - started
    rng = random.Random(20261201)
    fork = multiprocessing.get_context("fork")  # the child starts in ms, the document in hand
    saved, interrupted = 0, 0
    for kill in range(kills):
        first = (kill + 1) * 10_000  # exact in float32 (below 2**24)
        child = fork.Process(target=save_forever, args=(doc, path, first), daemon=True)
        child.start()
        time.sleep(rng.uniform(0.0, 4 * one_save))
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        assert child.exitcode == -signal.SIGKILL
        interrupted += names(tmp_path) != ["P.json", weights_name(path)]

        loaded = load(path, catalog)
        in_project, in_weights = markers(loaded)
        assert in_project == in_weights, f"kill {kill}: project and weights of different saves"
        previous = markers(doc)[0]  # on disk before this child started
        assert in_project == previous or first < in_project < first + 10_000
        saved += in_project != previous
        mark(doc, in_project)

        save(loaded, path)  # the next save sweeps what the killed one left
        assert names(tmp_path) == ["P.json", weights_name(path)], f"kill {kill}"
        assert markers(load(path, catalog)) == (in_project, in_project)
    elapsed = time.perf_counter() - started
    print(f"{kills} kills: {saved} after a finished save, {interrupted} mid-save, "
          f"0 mismatched pairs; one save {one_save * 1000:.0f} ms, {elapsed:.1f} s in all")
    assert saved > 0 and interrupted > 0, "the kills should land both between and in saves"


# ------------------------------------------------------------- the pair on disk
@pytest.fixture
def saved(catalog: Catalog, tmp_path: Path) -> tuple[Document, Path]:
    """A project with 1 MB of weights, saved once as model.json."""
    doc = weighted(catalog, megabytes=1)
    path = tmp_path / "model.json"
    save(doc, path)
    return doc, path


def test_weights_are_named_by_their_content_and_recorded_in_the_project(
        catalog: Catalog, saved: tuple[Document, Path], tmp_path: Path) -> None:
    doc, path = saved
    reference = json.loads(path.read_text(encoding="utf-8"))["weights"]
    assert reference["file"] == f"model.weights-{reference['sha256'][:16]}.npz"
    assert names(tmp_path) == ["model.json", reference["file"]]
    loaded = load(path, catalog)
    assert dumps(loaded) == dumps(doc)
    for layer_id, arrays in doc.weights.items():
        for a, b in zip(arrays, loaded.weights[layer_id], strict=True):
            np.testing.assert_array_equal(a, b)


def test_unchanged_weights_are_kept_and_changed_ones_replace_the_file(
        catalog: Catalog, saved: tuple[Document, Path], tmp_path: Path) -> None:
    doc, path = saved
    first = tmp_path / weights_name(path)
    inode = first.stat().st_ino
    doc.meta.title = "an edit of the graph only"
    save(doc, path)
    assert weights_name(path) == first.name and first.stat().st_ino == inode
    mark(doc, 7)
    save(doc, path)
    assert weights_name(path) != first.name and names(tmp_path) == ["model.json",
                                                                    weights_name(path)]
    doc.weights = {}
    save(doc, path)
    assert names(tmp_path) == ["model.json"]
    assert "weights" not in json.loads(path.read_text(encoding="utf-8"))


def test_a_weights_file_from_another_save_is_refused_naming_both_files(
        catalog: Catalog, saved: tuple[Document, Path], tmp_path: Path) -> None:
    doc, path = saved
    weights = tmp_path / weights_name(path)
    other = tmp_path / "other" / "model.json"
    other.parent.mkdir()
    mark(doc, 5)
    save(doc, other)
    os.replace(other.parent / weights_name(other), weights)
    with pytest.raises(ProjectFileError) as info:
        load(path, catalog)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and str(weights) in message
    assert "different saves" in message

    weights.unlink()
    with pytest.raises(ProjectFileError, match="missing") as info:
        load(path, catalog)
    assert str(path) in str(info.value) and str(weights) in str(info.value)


@pytest.mark.parametrize("reference", [
    "model.weights.npz", {"file": "../model.weights-0.npz", "sha256": "0" * 64},
    {"file": "model.weights.npz", "sha256": "abc"}, {"file": 3, "sha256": "0" * 64},
    {"file": "model.weights.npz"}])
def test_a_malformed_weights_reference_is_refused(catalog: Catalog, tmp_path: Path,
                                                 reference: Any) -> None:
    data = json.loads(dumps(load_template("sequential-mlp", catalog)))
    data["weights"] = reference
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProjectFileError, match=r'"weights(\.file|\.sha256)?" expected'):
        load(path, catalog)
    with pytest.raises(ProjectFileError, match=r'"weights(\.file|\.sha256)?" expected'):
        loads(json.dumps(data), catalog=catalog)


def test_an_older_project_with_its_sidecar_loads_and_moves_on_the_next_save(
        catalog: Catalog, tmp_path: Path) -> None:
    doc = weighted(catalog, megabytes=1)
    path = tmp_path / "old.json"
    path.write_text(dumps(doc), encoding="utf-8")
    np.savez(tmp_path / "old.weights.npz", **{f"{layer_id}/{i}": a for layer_id, arrays
                                              in doc.weights.items() for i, a in
                                              enumerate(arrays)})
    loaded = load(path, catalog)
    assert loaded.weights.keys() == doc.weights.keys()
    np.testing.assert_array_equal(next(iter(loaded.weights.values()))[0],
                                  next(iter(doc.weights.values()))[0])
    save(loaded, path)
    assert names(tmp_path) == ["old.json", weights_name(path)]
    assert load(path, catalog).weights.keys() == doc.weights.keys()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600])
def test_the_weights_file_takes_the_mode_of_the_project(catalog: Catalog, tmp_path: Path,
                                                        mode: int) -> None:
    path = tmp_path / "model.json"
    save(load_template("batchnorm-convnet", catalog), path)
    path.chmod(mode)
    save(weighted(catalog, megabytes=1), path)
    assert path.stat().st_mode & 0o777 == mode
    assert (tmp_path / weights_name(path)).stat().st_mode & 0o777 == mode


def test_new_files_get_the_usual_mode_not_0600(catalog: Catalog, tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        path = tmp_path / "model.json"
        save(weighted(catalog, megabytes=1), path)
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / weights_name(path)).stat().st_mode & 0o777 == 0o644


def test_the_next_save_sweeps_only_this_projects_leftovers(catalog: Catalog,
                                                            tmp_path: Path) -> None:
    leftovers = [".P.json.k2j4_x9a.tmp", ".P.weights-0123456789abcdef.npz.abc123.tmp",
                 ".P.weights.npz.q1w2e3r4.tmp", "P.weights-0123456789abcdef.npz",
                 "P.weights.npz"]
    others = ["P.weights-x.json", "P.weights-0123456789abcdef.npz.bak", ".Q.json.k2j4_x9a.tmp",
              "Q.weights-0123456789abcdef.npz", "PP.weights-0123456789abcdef.npz",
              ".P.json.tmp", "notes.txt"]
    for name in leftovers + others:
        (tmp_path / name).write_bytes(b"x")
    path = tmp_path / "P.json"
    save(weighted(catalog, megabytes=1), path)
    assert names(tmp_path) == sorted(["P.json", weights_name(path), *others])


def test_a_failed_weights_write_keeps_the_old_pair(catalog: Catalog, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    doc = weighted(catalog, megabytes=1)
    mark(doc, 1)
    path = tmp_path / "model.json"
    save(doc, path)
    before = names(tmp_path)
    mark(doc, 2)

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save(doc, path)
    assert names(tmp_path) == before
    assert markers(load(path, catalog)) == (1, 1)


def test_removing_a_project_removes_its_weights(catalog: Catalog, tmp_path: Path) -> None:
    """What the window does with an autosave once it is no longer needed."""
    (tmp_path / "keep.json").write_bytes(b"{}")
    path = tmp_path / "autosave-1.json"
    save(weighted(catalog, megabytes=1), path)
    remove_project(path)
    assert names(tmp_path) == ["keep.json"]


def test_an_existing_file_of_the_right_name_but_wrong_content_is_rewritten(
        catalog: Catalog, saved: tuple[Document, Path], tmp_path: Path) -> None:
    doc, path = saved
    weights = tmp_path / weights_name(path)
    weights.write_bytes(b"PK\x03\x04 damaged")
    save(doc, path)
    assert dumps(load(path, catalog)) == dumps(doc)
    assert atomic.mode_for(weights) == atomic.mode_for(path)
