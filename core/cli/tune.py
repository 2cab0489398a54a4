"""``layerforge tune``: a hyperparameter study, headless; several processes can share one.

Imports TensorFlow and Optuna only when the study runs (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from ..document.document import Document
from ..document.search_space import SETTINGS, Dimension, SearchSpaceError
from ..editing.space_edits import mark_dimension
from ..tuning.dashboard import Dashboard, check_installed, start_dashboard
from ..tuning.objectives import COSTS
from ..tuning.results import accuracy_key
from ..tuning.sampling import SAMPLERS
from ..tuning.study import run_study
from .train import settings_for
from .trust import add_trust_argument, open_trusted

SEARCH_HELP = ("a search dimension, added to the project's: NAME=int:LOW:HIGH[:STEP|:log], "
               "NAME=float:LOW:HIGH[:log] or NAME=choice:A,B,...; NAME is LAYER.PARAM "
               "(BLOCK/LAYER.PARAM inside a block) or one of " + ", ".join(SETTINGS))


def add_tune_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "tune", help="search hyperparameters (Optuna); processes can share one study",
        description="Run or join a study over the project's search space. Every trial is a run "
                    "folder in <project>.runs/study-<name>/. The study lives in --storage "
                    "(default <project>.optuna.db beside the project); run the same command "
                    "in several processes or on several machines to share the work, and "
                    "again after an interruption to resume.")
    p.add_argument("project", metavar="FILE_OR_TEMPLATE")
    p.add_argument("--n-trials", type=int, help="the study's number of finished trials "
                                                "(shared by every process; default 10)")
    p.add_argument("--timeout", type=float, metavar="S",
                   help="start no trial after S seconds")
    p.add_argument("--storage", metavar="URL", help="SQLAlchemy URL (sqlite:///x.db, "
                                                    "postgresql://user@host/db)")
    p.add_argument("--study", metavar="NAME", help="study name (default: the project's name)")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe",
                   help="tpe (default), random or nsga2; tpe and nsga2 also sample "
                        "multi-objective studies")
    p.add_argument("--pruner", choices=["median", "hyperband", "none"], default="median")
    p.add_argument("--metric", default="val_loss",
                   help="the logged value to optimise (default val_loss; accuracy-like "
                        "metrics are maximised)")
    p.add_argument("--objective", action="append", default=[], metavar="NAME",
                   help="what the study optimises: one logged metric (val_loss, "
                        f"val_accuracy...) and any of {', '.join(COSTS)} (the model's "
                        "parameter count, FLOPs per sample, measured ms per inference batch "
                        "of 32; minimised); repeat it for a multi-objective study, whose "
                        "Pareto front is printed (no pruning). Default: --metric alone")
    p.add_argument("--dashboard", action="store_true",
                   help="also start optuna-dashboard on the study's storage (a process of "
                        "its own that outlives the study; its URL and pid are printed: stop "
                        "it with kill PID)")
    p.add_argument("--search", action="append", default=[], metavar="NAME=SPEC",
                   help=SEARCH_HELP)
    p.add_argument("--data", nargs="+", metavar="synthetic|PATH",
                   help="as for `layerforge train` (e.g. sklearn:digits)")
    p.add_argument("--epochs", type=int, help="epochs per trial")
    p.add_argument("--batch-size", type=int, help="samples per batch")
    p.add_argument("--samples", type=int, help="number of synthetic samples")
    p.add_argument("--validation-split", type=float, help="fraction held out for validation")
    p.add_argument("--seed", type=int, help="random seed of the data, the weights and the "
                                            "sampler (seeded again for each trial from the "
                                            "seed and the trial's number, so processes "
                                            "sharing a seed sample distinct values)")
    p.add_argument("--json", action="store_true", help="print the study's trials as JSON")
    p.add_argument("--in-process", action="store_true",
                   help="train every trial in this process instead of a child process each: "
                        "no TensorFlow import per trial (seconds faster a trial for trials "
                        "of a second or two), but memory grows with every trial")
    add_trust_argument(p)
    return p


def run_tune(args: argparse.Namespace) -> int:
    """Run the study; exit 0 when it holds a completed trial, 1 otherwise."""
    doc = open_trusted(args, required_by="tune")
    for spec in args.search:
        doc.search_space.put(parse_search(doc, spec))  # validated by mark_dimension
    settings = settings_for(doc, args)
    if args.dashboard:
        check_installed()  # before any trial trains
    printer = TrialPrinter(sys.stderr, dashboard=args.dashboard)
    n_trials = args.n_trials if args.n_trials is not None or args.timeout else 10
    summary = run_study(doc, n_trials=n_trials, timeout=args.timeout, storage=args.storage,
                        study_name=args.study, sampler=args.sampler, pruner=args.pruner,
                        settings=settings, project=args.project, metric=args.metric,
                        seed=args.seed, objectives=args.objective or None, reporter=printer,
                        in_process=args.in_process)
    out = sys.stdout
    if args.json:
        record = summary_record(summary)
        if printer.dashboard is not None:
            record["dashboard"] = {"url": printer.dashboard.url, "pid": printer.dashboard.pid}
        out.write(json.dumps(record, indent=1) + "\n")
    else:
        print_result(summary, out)
        if printer.dashboard is not None:
            out.write(printer.dashboard.describe() + "\n")
    return 0 if summary.best is not None else 1


def parse_search(doc: Document, text: str) -> Dimension:
    """``dense.units=int:8:64:8`` -> a checked Dimension of the document."""
    name, sep, spec = text.partition("=")
    kind, _, rest = spec.partition(":")
    if not sep or kind not in ("int", "float", "choice") or not rest:
        raise SearchSpaceError(f"--search: expected NAME=int:LOW:HIGH[:STEP|:log], "
                               f"NAME=float:LOW:HIGH[:log] or NAME=choice:A,B; received {text!r}")
    target = _target(doc, name.strip())
    if kind == "choice":
        dim = Dimension(target[2], "choice", choices=tuple(_value(v) for v in rest.split(",")),
                        layer_id=target[1], graph_key=target[0])
    else:
        dim = _range(kind, rest, target, text)
    mark_dimension(doc, dim)  # raises with the reason when it does not fit
    return dim


def _target(doc: Document, name: str) -> tuple[str, str | None, str]:
    if name in SETTINGS:
        return ("main", None, name)
    path, dot, param = name.rpartition(".")
    block_name, slash, layer_name = path.rpartition("/")
    key = "main"
    if slash:
        block = doc.block_named(block_name)
        if block is None:
            raise SearchSpaceError(f"--search {name}: expected a block name; received "
                                   f"{block_name!r}")
        key = block.id
    graph = doc.graph_of(key)
    layer = next((la for la in graph.layers.values() if la.name == layer_name), None)
    if not dot or layer is None:
        known = ", ".join(la.name for la in graph.layers.values())
        raise SearchSpaceError(f"--search {name}: expected LAYER.PARAM with a layer among "
                               f"{known}, or a setting among {', '.join(SETTINGS)}; received "
                               f"{name!r}")
    return (key, layer.id, param)


def _range(kind: str, rest: str, target: tuple[str, str | None, str], text: str) -> Dimension:
    parts = rest.split(":")
    log = parts[-1] == "log"
    numbers = parts[:-1] if log else parts
    try:
        values = [float(v) for v in numbers]
    except ValueError:
        values = []
    if len(values) not in (2, 3):
        raise SearchSpaceError(f"--search: expected {kind}:LOW:HIGH[:STEP|:log] with numbers; "
                               f"received {text!r}")
    cast = int if kind == "int" and all(v.is_integer() for v in values) else float
    step = cast(values[2]) if len(values) == 3 else None
    return Dimension(target[2], kind, cast(values[0]), cast(values[1]), step, log,
                     layer_id=target[1], graph_key=target[0])


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


# ------------------------------------------------------------------ output
class TrialPrinter:
    """One line per trial, as trials end."""

    def __init__(self, stream: TextIO, dashboard: bool = False) -> None:
        self.stream = stream
        self.metric = "val_loss"
        self.objectives: list[str] = []
        self.start_dashboard = dashboard
        self.dashboard: Dashboard | None = None

    def on_study_begin(self, info: dict[str, Any]) -> None:
        self.metric = info["metric"]
        self.objectives = list(info.get("objectives", []))
        budget = info["n_trials"] if info["n_trials"] is not None else "unlimited"
        goal = f"{info['direction']} {self.metric}"
        if self.objectives:
            goal = ", ".join(f"{d} {n}" for d, n in zip(info["directions"], self.objectives,
                                                         strict=True))
        self.stream.write(f"study '{info['study_name']}' ({goal}, {budget} trials) in "
                          f"{info['storage']}; runs in {info['folder']}\n")
        if info.get("note"):
            self.stream.write(f"note: {info['note']}\n")
        if self.start_dashboard:  # the study exists now: the dashboard shows it at once
            self.dashboard = start_dashboard(info["storage"], Path(info["folder"]))
            self.stream.write(self.dashboard.describe() + "\n")
        self.stream.flush()

    def on_trial_begin(self, number: int, params: dict[str, Any]) -> None:
        self.stream.write(f"trial {number} started: {_params(params)}\n")
        self.stream.flush()

    def on_trial_end(self, trial: Any) -> None:
        value = "" if trial.value is None else f" {self.metric} {trial.value:.4g}"
        if self.objectives and trial.values:
            value = " " + _values(self.objectives, trial.values)
        took = "" if trial.duration is None else f" in {trial.duration:.1f}s"
        why = f" ({trial.message})" if trial.message else ""
        self.stream.write(f"trial {trial.number} {trial.state}{value}{took}{why}\n")
        self.stream.flush()


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


def _values(names: list[str], values: list[float]) -> str:
    return ", ".join(f"{n} {v:.6g}" for n, v in zip(names, values, strict=True))


def print_result(summary: Any, out: TextIO) -> None:
    best, defaults = summary.best, summary.defaults
    counts = {s: sum(t.state == s for t in summary.trials) for s in ("complete", "pruned",
                                                                      "fail")}
    out.write(f"study '{summary.study_name}': {counts['complete']} complete, "
              f"{counts['pruned']} pruned, {counts['fail']} failed\n")
    if best is None:
        out.write("no trial completed\n")
        return
    if summary.multi:
        print_front(summary, out)
        return
    out.write(f"best trial {best.number}: {summary.metric} {best.value:.4g}; "
              f"{_params(best.params)}\n")
    if defaults is not None:
        out.write(f"defaults (trial {defaults.number}): {summary.metric} "
                  f"{defaults.value:.4g}\n")
    key = accuracy_key(best.metrics)
    if key and defaults is not None and key in defaults.metrics:
        out.write(f"{key}: best {best.metrics[key]:.4f}, defaults {defaults.metrics[key]:.4f}\n")
    elif key:
        out.write(f"{key}: best {best.metrics[key]:.4f}\n")
    if best.run_dir:
        out.write(f"best run folder: {best.run_dir}\n")


def print_front(summary: Any, out: TextIO) -> None:
    """The Pareto front (Optuna's best_trials): one line per trial, its objectives' values
    and its parameters."""
    goal = ", ".join(f"{d} {n}" for d, n in zip(summary.directions, summary.objectives,
                                                 strict=True))
    front = summary.front
    out.write(f"Pareto front ({goal}): {len(front)} trial{'s' * (len(front) != 1)}\n")
    for trial in front:
        mark = " (defaults)" if trial.defaults else ""
        out.write(f"trial {trial.number}{mark}: {_values(summary.objectives, trial.values)}; "
                  f"{_params(trial.params)}\n")


def summary_record(summary: Any) -> dict[str, Any]:
    best, defaults = summary.best, summary.defaults
    record = {"study_name": summary.study_name, "storage": summary.storage,
              "metric": summary.metric, "direction": summary.direction,
              "stopped": summary.stopped,
              "best": asdict(best) if best else None,
              "defaults": asdict(defaults) if defaults else None,
              "trials": [asdict(t) for t in summary.trials]}
    if summary.multi:
        record.update(objectives=summary.objectives, directions=summary.directions,
                      front=summary.front_numbers)
    return record

