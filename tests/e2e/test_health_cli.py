"""`layerforge train` ends with the last epoch's training health flags; --no-health skips them."""

from __future__ import annotations

import argparse
from pathlib import Path

from layerforge.core.cli.train import add_train_parser, run_train
from layerforge.core.editing.commands import UndoStack
from layerforge.core.editing.graph_commands import SetParam
from layerforge.core.io import project
from layerforge.core.io.templates import load_template
from layerforge.core.training.health import HEALTH_FILE


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="layerforge")
    add_train_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["train", *argv])


def dead_layer_project(tmp_path: Path) -> Path:
    doc = load_template("sequential-mlp")
    dense_1 = next(layer.id for layer in doc.graph.layers.values() if layer.name == "dense_1")
    UndoStack(doc).push(SetParam(dense_1, "bias_initializer",
                                 {"class_name": "Constant", "config": {"value": -10.0}}))
    path = tmp_path / "dead.json"
    project.save(doc, path)
    return path


def test_train_prints_the_health_flags_at_the_end(tmp_path, capsys):
    path = dead_layer_project(tmp_path)
    args = ("--epochs", "1", "--batch-size", "8", "--samples", "20", "--seed", "1")
    assert run_train(parse(str(path), *args, "--run-dir", str(tmp_path / "run"))) == 0
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.startswith("health: epoch 1: "))
    assert "dense_1: 100 % of units output 0 on the whole sample batch (dead ReLU)" in line
    assert (tmp_path / "run" / HEALTH_FILE).exists()
    assert run_train(parse(str(path), *args, "--run-dir", str(tmp_path / "off"),
                           "--no-health")) == 0
    assert "health:" not in capsys.readouterr().err
    assert not (tmp_path / "off" / HEALTH_FILE).exists()
