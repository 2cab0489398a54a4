"""``layerforge train``: the same training as the app, headless, with a text progress bar.

Imports TensorFlow only when training starts (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..codegen.data_plan import is_synthetic
from ..document.document import Document
from ..editing.settings_commands import fine_tune_error
from ..schema.errors import LayerForgeError
from ..schema.settings import DataSource, FineTune, TrainingSettings, settings_from_records
from ..training.data import DataError, preview
from ..training.health import flags_line
from ..training.runs import new_run_dir, runs_folder
from .trust import add_trust_argument, open_trusted

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
INPUT_KEYS = ("x", "x_train", "inputs", "features")
OUTPUT_KEYS = ("y", "y_train", "labels", "targets")


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train a project (same run folder as the app)",
        description="Train a project or template and keep the run in <project>.runs/.")
    p.add_argument("project", metavar="FILE_OR_TEMPLATE")
    p.add_argument("--data", nargs="+", metavar="synthetic|PATH",
                   help="synthetic (default for unbound tensors); a .npz (keys named after the "
                        "inputs/outputs, or x/y); .npy files (inputs then outputs); a .csv "
                        "(output-named or last columns are targets); an image or text folder "
                        "of class sub-folders; sklearn:NAME or keras:NAME")
    p.add_argument("--epochs", type=int, help="number of epochs")
    p.add_argument("--batch-size", type=int, help="samples per batch")
    p.add_argument("--samples", type=int, help="number of synthetic samples")
    p.add_argument("--validation-split", type=float, help="fraction held out for validation")
    p.add_argument("--seed", type=int, help="random seed (data, weights, shuffling)")
    p.add_argument("--run-dir", metavar="DIR",
                   help="the run folder to write (default: a new one in <project>.runs/)")
    p.add_argument("--allow-nan", action="store_true",
                   help="train on data holding NaN or Inf (refused by default)")
    p.add_argument("--no-health", action="store_true",
                   help="skip the per-layer training health checks (dead ReLUs, vanishing "
                        "gradients, NaN) run at each epoch end")
    p.add_argument("--fine-tune", metavar="LAYER",
                   help="a two-phase plan: train --epochs with LAYER (a block call or "
                        "keras.applications layer) frozen, then unfreeze its top layers and "
                        "continue at a lower learning rate")
    p.add_argument("--fine-tune-top", type=int, metavar="K",
                   help="phase 2: how many of LAYER's top layers to unfreeze (default 1; "
                        "BatchNormalization layers stay frozen)")
    p.add_argument("--fine-tune-epochs", type=int, metavar="M",
                   help="phase 2: epochs after the first --epochs (default 1)")
    p.add_argument("--fine-tune-lr", type=float, metavar="RATE",
                   help="phase 2: the learning rate (default 1e-05)")
    p.add_argument("--no-fine-tune", action="store_true",
                   help="train in one phase, ignoring the project's two-phase plan")
    p.add_argument("--json", action="store_true",
                   help="print the final history as JSON, the only output on stdout")
    add_trust_argument(p)
    return p


def run_train(args: argparse.Namespace) -> int:
    """Train; exit 0 for a completed or stopped run, 1 for a failed one, 130 after Ctrl-C.

    The first Ctrl-C stops the run after the current batch (its best weights kept); a
    second one interrupts at once. Whatever Keras prints while loading data goes to
    stderr, so stdout holds only the JSON.
    """
    doc = open_trusted(args, required_by="train")
    settings = settings_for(doc, args)
    run_dir = Path(args.run_dir) if args.run_dir else new_run_dir(runs_folder(args.project))
    from ..training.fit import train  # lazy: imports Keras; the refusals above stay fast

    stop = threading.Event()
    with _stop_on_ctrl_c(stop), contextlib.redirect_stdout(sys.stderr):
        result = train(doc, settings, run_dir=run_dir, reporter=ProgressBar(sys.stderr),
                       stop_event=stop)
    if args.json:
        print(json.dumps({"status": result.status, "run_dir": str(result.run_dir),
                          "device": result.device, "message": result.message,
                          "history": result.history}, indent=1))
    if not result.ok:
        where = f"details in {result.status_file}" if result.status_file else result.unrecorded
        print(f"layerforge: training failed: {result.message} ({where})", file=sys.stderr)
        return 1
    return 130 if stop.is_set() else 0


@contextlib.contextmanager
def _stop_on_ctrl_c(stop: threading.Event) -> Iterator[None]:
    """SIGINT sets ``stop`` once, then interrupts as usual (outside the main thread,
    where no handler can be set, Ctrl-C interrupts as usual)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum: int, frame: Any) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("\nstopping after this batch (Ctrl-C again to interrupt at once)",
              file=sys.stderr)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def settings_for(doc: Document, args: argparse.Namespace) -> TrainingSettings:
    """The project's training settings with the command line's overrides."""
    base = getattr(doc, "training", None)
    s = copy.deepcopy(base) if isinstance(base, TrainingSettings) else TrainingSettings()
    for arg, attr in (("epochs", "epochs"), ("batch_size", "batch_size"), ("seed", "seed"),
                      ("validation_split", "validation_split")):
        if getattr(args, arg) is not None:
            setattr(s, attr, getattr(args, arg))
    if args.data:
        s.data = bindings_from_args(doc, args.data)
    if getattr(args, "allow_nan", False):
        s.allow_nan = True
    if getattr(args, "no_health", False):
        s.health = False
    if args.samples is not None:
        for t in [*_names(doc)[0], *_names(doc)[1]]:
            src = s.data.setdefault(t, DataSource())
            if is_synthetic(src):
                src.params["samples"] = args.samples
    s.fine_tune = fine_tune_for(doc, s.fine_tune, args)
    return s


PLAN_FLAGS = {"fine_tune_top": "top", "fine_tune_epochs": "epochs",
              "fine_tune_lr": "learning_rate"}


def fine_tune_for(doc: Document, plan: FineTune | None,
                  args: argparse.Namespace) -> FineTune | None:
    """The project's two-phase plan with the --fine-tune* overrides, checked against the
    document and as a project file checks it."""
    if getattr(args, "no_fine_tune", False):
        return None
    changes = {field: getattr(args, flag) for flag, field in PLAN_FLAGS.items()
               if getattr(args, flag, None) is not None}
    layer = getattr(args, "fine_tune", None) or (plan.layer if plan else None)
    if layer is None:
        if changes:
            raise LayerForgeError("expected --fine-tune LAYER with --fine-tune-top, "
                                  "--fine-tune-epochs or --fine-tune-lr (the project has no "
                                  "two-phase plan)")
        return None
    base = plan if plan is not None else FineTune(layer)
    records = {**dataclasses.asdict(base), "layer": layer, **changes}
    checked = settings_from_records({"fine_tune": records}, "command line").fine_tune
    problem = fine_tune_error(doc, checked)
    if problem:
        raise LayerForgeError(f"--fine-tune: {problem}")
    return checked


def _names(doc: Document) -> tuple[list[str], list[str]]:
    return [n.name for n in doc.graph.inputs()], [n.name for n in doc.graph.outputs()]


def bindings_from_args(doc: Document, values: list[str]) -> dict[str, DataSource]:
    """Data sources for every input and output from ``--data`` values."""

    inputs, outputs = _names(doc)
    if values == ["synthetic"]:
        return {}
    first = values[0]
    if first.startswith(("sklearn:", "keras:")):
        return _dataset_bindings(first, inputs, outputs)
    missing = [v for v in values if not Path(v).exists()]
    if missing:
        raise DataError(f"expected --data files or folders that exist; received "
                        f"{', '.join(map(repr, missing))} (not found)")
    path = Path(first)
    if len(values) > 1 or path.suffix == ".npy":
        return _npy_bindings(values, inputs, outputs)
    if path.suffix == ".npz":
        return _npz_bindings(path, inputs, outputs)
    if path.suffix == ".csv":
        return _csv_bindings(path, inputs, outputs)
    if path.is_dir():
        kind = "image_dir" if any(f.suffix.lower() in IMAGE_SUFFIXES
                                  for f in path.rglob("*")) else "text_dir"
        return {inputs[0]: DataSource(kind, {"path": str(path)})}
    raise DataError(f"expected --data synthetic, a .npz/.npy/.csv file, a folder, sklearn:NAME "
                    f"or keras:NAME; received {first!r}")


def _dataset_bindings(value: str, inputs: list[str], outputs: list[str]
                      ) -> dict[str, DataSource]:
    prefix, name = value.split(":", 1)
    kind = "sklearn" if prefix == "sklearn" else "keras_dataset"
    _one_each(value, inputs, outputs)
    return {inputs[0]: DataSource(kind, {"name": name, "part": "x"}),
            outputs[0]: DataSource(kind, {"name": name, "part": "y"})}


def _one_each(what: str, inputs: list[str], outputs: list[str]) -> None:

    if len(inputs) != 1 or len(outputs) != 1:
        raise DataError(f"{what} gives one array of inputs and one of targets: expected a model "
                        f"with one input and one output; received inputs {inputs} and outputs "
                        f"{outputs}")


def _npy_bindings(values: list[str], inputs: list[str], outputs: list[str]
                  ) -> dict[str, DataSource]:

    names = inputs + outputs
    if len(values) != len(names):
        raise DataError(f"expected one .npy file per input and output ({', '.join(names)}), in "
                        f"that order; received {len(values)} files")
    return {name: DataSource("npy", {"path": v}) for name, v in zip(names, values, strict=True)}


def _npz_bindings(path: Path, inputs: list[str], outputs: list[str]) -> dict[str, DataSource]:

    with np.load(path, allow_pickle=False) as archive:
        keys = list(archive.files)
    found: dict[str, DataSource] = {}
    for names, fallbacks in ((inputs, INPUT_KEYS), (outputs, OUTPUT_KEYS)):
        for name in names:
            key = name if name in keys else next(
                (k for k in fallbacks if k in keys and len(names) == 1), None)
            if key is None:
                raise DataError(f"{path}: expected a key named '{name}'"
                                f"{' (or ' + '/'.join(fallbacks) + ')' if len(names) == 1 else ''}"
                                f"; received keys {', '.join(keys)}")
            found[name] = DataSource("npz", {"path": str(path), "key": key})
    return found


def _csv_bindings(path: Path, inputs: list[str], outputs: list[str]) -> dict[str, DataSource]:

    header, _ = preview(path, 0)
    named = [o for o in outputs if o in header]
    if named == outputs:
        targets = {o: [o] for o in outputs}
    else:
        _one_each(str(path), inputs, outputs)
        targets = {outputs[0]: [header[-1]]}
    used = {c for cols in targets.values() for c in cols}
    features = [c for c in header if c not in used]
    if len(inputs) != 1 or not features:
        raise DataError(f"{path}: expected the feature columns of one input; received inputs "
                        f"{inputs} and columns {header}")
    found = {inputs[0]: DataSource("csv", {"path": str(path), "columns": features})}
    found.update({o: DataSource("csv", {"path": str(path), "columns": cols})
                  for o, cols in targets.items()})
    return found


class ProgressBar:
    """A plain-text progress bar (epoch, step, loss and metrics, ETA, samples/s)."""

    WIDTH = 24

    def __init__(self, stream: TextIO, interval: float = 0.2) -> None:
        self.stream, self.interval = stream, interval
        self.steps: int | None = None
        self.epochs = 1
        self.batch_size = 1
        self.epoch_start = self.last_draw = 0.0
        self.epoch = 0
        self.first_step = self.last_step = 0
        self.flagged: dict[str, Any] | None = None  # the last health report with flags

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.steps, self.epochs = info.get("steps"), int(info["epochs"])
        self.batch_size = int(info["batch_size"])
        for warning in info.get("warnings", []):
            self.stream.write(f"warning: {warning}\n")
        self.stream.write(f"training on {info['device']}; run folder {info['run_dir']}\n")
        self._start_epoch(0, 0)

    def _start_epoch(self, epoch: int, step: int) -> None:
        self.epoch, self.first_step = epoch, step
        self.epoch_start = time.perf_counter()

    def on_batch_end(self, step: int, logs: dict[str, float]) -> None:
        self.last_step = step
        now = time.perf_counter()
        if now - self.last_draw < self.interval:
            return
        self.last_draw = now
        done = step - self.first_step
        elapsed = max(now - self.epoch_start, 1e-9)
        rate = done * self.batch_size / elapsed
        bar, eta = self._bar(done), ""
        if self.steps:
            eta = f" ETA {max(self.steps - done, 0) * elapsed / max(done, 1):.0f}s"
        self.stream.write(f"\repoch {self.epoch + 1}/{self.epochs} {bar} {_fmt_logs(logs)}"
                          f"{eta} {rate:.0f} samples/s")
        self.stream.flush()

    def _bar(self, done: int) -> str:
        if not self.steps:
            return f"{done}"
        filled = int(self.WIDTH * min(done / self.steps, 1))
        return f"{done}/{self.steps} [{'=' * filled}{'.' * (self.WIDTH - filled)}]"

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        took = time.perf_counter() - self.epoch_start
        self.stream.write(f"\repoch {epoch + 1}/{self.epochs} done in {took:.1f}s: "
                          f"{_fmt_logs(logs)}\n")
        self.stream.flush()
        self._start_epoch(epoch + 1, self.last_step)

    def on_health(self, report: dict[str, Any]) -> None:
        if report.get("flags"):
            self.flagged = report

    def on_train_end(self, result: Any) -> None:
        if self.last_draw and self.last_step > self.first_step:  # end the bar's open line
            self.stream.write("\n")
        if self.flagged is not None:  # before a failure's line too: it may say why
            self.stream.write(f"health: {flags_line(self.flagged)}\n")
        if result.status == "failed":  # the command's one line says why
            return
        self.stream.write(f"{result.status}: {result.epochs} epoch(s); run folder "
                          f"{result.run_dir}\n")
        if result.status == "completed" and result.message:  # what phase 2 unfroze
            self.stream.write(f"{result.message}\n")


def _fmt_logs(logs: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4g}" for k, v in logs.items() if isinstance(v, int | float))
