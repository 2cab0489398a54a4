"""`layerforge train` as a user runs it, the exported training script, and two workers."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from layerforge.core.cli.train import add_train_parser, run_train

ROOT = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="layerforge")
    add_train_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["train", *argv])


def test_train_prints_progress_and_json_history(tmp_path, capsys):
    run = tmp_path / "run"
    code = run_train(parse("sequential-mlp", "--epochs", "2", "--batch-size", "8",
                           "--samples", "20", "--seed", "3", "--run-dir", str(run), "--json"))
    out, err = capsys.readouterr()
    assert code == 0, err
    printed = json.loads(out)
    assert printed["status"] == "completed" and printed["run_dir"] == str(run)
    assert printed["history"]["epoch"] == [1, 2] and len(printed["history"]["val_loss"]) == 2
    assert "epoch 1/2 done in" in err and "epoch 2/2 done in" in err
    assert json.loads((run / "history.json").read_text()) == printed["history"]
    assert (run / "best.keras").exists() and (run / "settings.json").exists()


def test_default_run_folder_is_beside_the_project(tmp_path, capsys):
    template = resources.files("layerforge.templates") / "sequential-mlp.json"
    project = tmp_path / "digits model.json"
    project.write_text(template.read_text(encoding="utf-8"), encoding="utf-8")
    assert run_train(parse(str(project), "--epochs", "1", "--samples", "8")) == 0
    runs = list((tmp_path / "digits model.runs").iterdir())
    assert len(runs) == 1 and runs[0].name.endswith("-1")
    assert json.loads((runs[0] / "status.json").read_text())["status"] == "completed"


def test_npz_data_by_conventional_keys(tmp_path, capsys):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.random.default_rng(0).random((24, 64)), y=np.arange(24) % 10)
    code = run_train(parse("sequential-mlp", "--data", str(path), "--epochs", "1",
                           "--run-dir", str(tmp_path / "run"), "--json"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["history"]["epoch"] == [1]


def test_bad_data_fails_with_exit_1_and_a_named_message(tmp_path, capsys):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((24, 10)), y=np.arange(24) % 10)
    code = run_train(parse("sequential-mlp", "--data", str(path), "--run-dir",
                           str(tmp_path / "run")))
    _, err = capsys.readouterr()
    assert code == 1
    assert "training failed" in err and "input 'features'" in err and "(64,)" in err
    assert json.loads((tmp_path / "run" / "status.json").read_text())["status"] == "failed"


def test_missing_npz_key_names_the_keys(tmp_path):
    from layerforge.core.training.data import DataError

    path = tmp_path / "d.npz"
    np.savez(path, images=np.zeros((4, 64)))
    with pytest.raises(DataError, match=r"expected a key named 'features'.*received keys images"):
        run_train(parse("sequential-mlp", "--data", str(path)))


@pytest.mark.slow
def test_every_template_trains_one_tiny_epoch(tmp_path, capsys):
    from layerforge.core.io.templates import template_names

    for name in template_names():
        if name == "dual-camera-xception":
            continue
        code = run_train(parse(name, "--epochs", "1", "--batch-size", "2", "--samples", "4",
                               "--run-dir", str(tmp_path / name), "--json"))
        out, err = capsys.readouterr()
        assert code == 0, (name, err)
        assert json.loads(out)["history"]["epoch"] == [1], name


# ------------------------------------------------------------------ exported code
def test_exported_module_trains_like_the_app(tmp_path):
    """The exported module, with the project's training settings, trains end to end offline:
    ``python model.py`` writes the run folder its ``main(run_dir="run")`` names."""
    from layerforge.core.codegen.model_code import generate
    from layerforge.core.io.templates import load_template
    from layerforge.core.schema.settings import CallbackSpec, DataSource, TrainingSettings

    doc = load_template("sequential-mlp")
    settings = TrainingSettings(batch_size=8, epochs=2, seed=4, callbacks=[
        CallbackSpec("ActivationLogger"), CallbackSpec("CSVLogger"),
        CallbackSpec("EarlyStopping", {"patience": 3})],
        data={"features": DataSource("synthetic", {"samples": 24})})
    doc.training = settings
    script = tmp_path / "model.py"
    script.write_text(generate(doc).source)
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    run = tmp_path / "run"
    assert (run / "best.keras").exists()
    assert sorted(p.name for p in (run / "activations").iterdir()) == ["epoch_001.npz",
                                                                     "epoch_002.npz"]
    assert len((run / "log.csv").read_text().splitlines()) == 3


def test_json_is_the_only_stdout_for_an_image_folder(tmp_path, capsys):
    from PIL import Image

    for c in range(10):
        (tmp_path / "imgs" / f"class_{c}").mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((64, 64, 3), 20 * c + i, np.uint8)).save(
                tmp_path / "imgs" / f"class_{c}" / f"{i}.png")
    code = run_train(parse("separable-convnet", "--data", str(tmp_path / "imgs"), "--epochs", "1",
                           "--batch-size", "10", "--seed", "1", "--run-dir",
                           str(tmp_path / "run"), "--json"))
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["history"]["epoch"] == [1]
    assert "Using 16 files for training." in err  # Keras prints it even with verbose=False


def test_model_checkpoint_options_hold_in_the_cli_and_the_exported_module(tmp_path, capsys):
    """save_weights_only writes best.weights.h5 in both; the exported module shuffles loaded
    data before its split as the app does."""
    from layerforge.core.codegen.model_code import generate
    from layerforge.core.io.project import save
    from layerforge.core.io.templates import load_template
    from layerforge.core.schema.settings import CallbackSpec, DataSource, TrainingSettings
    from layerforge.core.training.runs import load_run_model

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.random((24, 64)), y=np.eye(10)[np.arange(24) % 10])
    doc = load_template("sequential-mlp")
    doc.training = TrainingSettings(batch_size=8, epochs=2, seed=4, callbacks=[
        CallbackSpec("ModelCheckpoint", {"save_weights_only": True, "monitor": "loss",
                                         "mode": "min", "save_best_only": False})],
        data={name: DataSource("npz", {"path": str(tmp_path / "d.npz"), "key": key})
              for name, key in (("features", "x"), ("predictions", "y"))})
    save(doc, tmp_path / "p.json")
    assert run_train(parse(str(tmp_path / "p.json"), "--run-dir", str(tmp_path / "app"))) == 0
    assert (tmp_path / "app" / "best.weights.h5").exists()
    assert not (tmp_path / "app" / "best.keras").exists()
    assert load_run_model(tmp_path / "app").predict(np.zeros((1, 64)), verbose=0).shape == (1, 10)
    source = generate(doc).source
    assert "split_validation(x, y, 0.2, True, 4)" in source
    (tmp_path / "model.py").write_text(source)
    out = subprocess.run([sys.executable, "model.py"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "run" / "best.weights.h5").exists()


# ------------------------------------------------------------------ multi-worker
def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


WORKER = """
import json, sys
from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import DataSource, TrainingSettings
from layerforge.core.training.fit import train

settings = TrainingSettings(batch_size=8, epochs=1, seed=1, validation_split=0,
                            data={"features": DataSource("synthetic", {"samples": 32})})
r = train(load_template("sequential-mlp"), settings, run_dir=sys.argv[1])
print(json.dumps({"status": r.status, "device": r.device, "message": r.message,
                  "history": r.history}))
"""


@pytest.mark.slow
def test_two_workers_train_under_multi_worker_mirrored_strategy(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_CONFIG": json.dumps({"cluster": cluster,
                                        "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / f"worker{index}")], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    for result in results:
        assert result["status"] == "completed", result["message"]
        assert "MultiWorkerMirroredStrategy" in result["device"]
        assert result["history"]["epoch"] == [1]
    # both workers apply the same all-reduced updates: identical losses
    assert results[0]["history"]["loss"] == results[1]["history"]["loss"]
